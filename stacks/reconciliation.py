"""The reconciliation function, and in AWS stages the schedule that runs it (report and repair)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from image_core import environment as env
from image_core.schema import INCOMING_PREFIX, ORIGINALS_PREFIX, VARIANTS_PREFIX
from stacks.python_function_code import python_code_asset
from stacks.service_function import FunctionOptions, ServiceFunction, nag_arn

INCOMING = f"{INCOMING_PREFIX}*"
ORIGINALS = f"{ORIGINALS_PREFIX}*"
VARIANTS = f"{VARIANTS_PREFIX}*"
# What the schedule asks for: report, and repair what is found.
SCHEDULED_EVENT = {"repair": True}


class Reconciliation(Construct):
    """Runs ``image_reconcile.handler.handler``: finds and repairs what failures leave behind.

    Exposes ``reconcile`` (``ServiceFunction``), ``function`` and ``schedule`` (None without one).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        bucket: s3.IBucket,
        function_options: FunctionOptions,
        min_age_seconds: int,
        every_hours: int | None,
        listing_environment: Mapping[str, str],
    ) -> None:
        """``listing_environment``: the table's layout (``metadata_table.listing_environment``)."""
        super().__init__(scope, construct_id)
        self.reconcile = ServiceFunction(
            self,
            "Reconcile",
            handler="image_reconcile.handler.handler",
            code=python_code_asset(package="image_reconcile", architecture=function_options.architecture),
            environment={
                env.TABLE_NAME: table.table_name,
                env.BUCKET_NAME: bucket.bucket_name,
                env.RECONCILE_MIN_AGE_SECONDS: str(min_age_seconds),
                **listing_environment,
            },
            options=function_options,
            description="Find and repair what failures leave behind: stuck deletes, lost originals, "
            "expired records, unreferenced objects",
        )
        self.function = self.reconcile.function
        # The next scheduled run is the retry; an invocation that fails is an alarm, not a loop.
        self.function.configure_async_invoke(retry_attempts=0)

        # image_reconcile.checks: Scan the table; GetItem an image's record; the transaction that
        # marks an image failed (UpdateItem, DeleteItem of its tag items); DeleteItem of a record.
        # HeadObject of originals (s3:GetObject); ListBucket of the three prefixes; DeleteObject(s)
        # under them. Nothing is read from an object, and nothing is written to the bucket.
        table.grant(
            self.function, "dynamodb:Scan", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"
        )
        objects = s3.BucketGrants.from_bucket(bucket)
        objects.actions_on_object_keys(self.function, ORIGINALS, "s3:GetObject", "s3:DeleteObject")
        objects.actions_on_object_keys(self.function, INCOMING, "s3:DeleteObject")
        objects.actions_on_object_keys(self.function, VARIANTS, "s3:DeleteObject")
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [INCOMING, ORIGINALS, VARIANTS]}},
            )
        )

        self.schedule: events.Rule | None = None
        if every_hours is not None:
            self.schedule = events.Rule(
                self,
                "Schedule",
                description="Reconcile the image service: report and repair",
                schedule=events.Schedule.rate(Duration.hours(every_hours)),
                targets=[
                    targets.LambdaFunction(
                        self.function,
                        event=events.RuleTargetInput.from_object(SCHEDULED_EVENT),
                        retry_attempts=0,
                    )
                ],
            )

        self.reconcile.acknowledge_wildcard_resource(
            f"{nag_arn(table)}/index/*",
            "Table.grant names the table's indexes with /index/*; reconciliation queries none.",
        )
        for prefix, what in ((INCOMING, "Uploads"), (ORIGINALS, "Originals"), (VARIANTS, "Variants")):
            self.reconcile.acknowledge_wildcard_resource(
                f"{nag_arn(bucket)}/{prefix}",
                f"{what} are keyed by image id; the grant is limited to their prefix.",
            )
