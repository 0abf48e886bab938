"""The table holding image metadata; its layout comes from ``image_core.schema``."""

from __future__ import annotations

from aws_cdk import Acknowledgment, RemovalPolicy, Validations
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from image_core import environment as env
from image_core import schema
from image_core.environment import AuthMode
from image_core.schema import TTL_ATTRIBUTE, ListingLayout


def listing_environment(layout: ListingLayout, auth_mode: AuthMode) -> dict[str, str]:
    """What every function that reads or writes the table must agree on: the shards of the
    indexes spanning users, and (from the auth mode) whether the all-users indexes are written.

    ``layout.all_users_indexes`` is not passed: the functions derive it from the auth mode.
    """
    return {
        env.LISTING_SHARDS: str(layout.shards),
        env.LISTING_READ_SHARDS: str(layout.read_shards),
        env.AUTH_MODE: auth_mode.value,
    }


class MetadataTable(Construct):
    """An on-demand table with one sparse GSI per ``schema.LIST_INDEXES`` entry and ``schema.DUPLICATES``.

    Exposes ``table``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        point_in_time_recovery: bool,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=_string(schema.PARTITION_KEY),
            sort_key=_string(schema.SORT_KEY),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=point_in_time_recovery
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=removal_policy,
            # A table kept on stack deletion is one worth protecting from deletion by hand too.
            deletion_protection=removal_policy == RemovalPolicy.RETAIN,
        )
        for index in schema.LIST_INDEXES:
            self.table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_string(index.partition_key),
                sort_key=_string(schema.LISTED_AT),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        # Only asked which images share a hash, so it projects their ids and nothing else.
        self.table.add_global_secondary_index(
            index_name=schema.DUPLICATES.name,
            partition_key=_string(schema.DUPLICATES.partition_key),
            sort_key=_string(schema.LISTED_AT),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(schema.DUPLICATES.projected),
        )
        if not point_in_time_recovery:
            Validations.of(self.table).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-DDB3",
                    reason="Point-in-time recovery is on in prod only; local and dev data is disposable.",
                )
            )


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)
