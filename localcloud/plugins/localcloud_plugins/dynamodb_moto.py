"""DynamoDB served by moto.

LocalStack's own DynamoDB provider runs the DynamoDB Local jar, which cannot be downloaded
on machines without internet and is not open source. moto implements the DynamoDB API in
Python (tables, GSIs/LSIs, TTL settings, continuous backups, queries, conditions,
transactions, batches), and LocalStack already ships it. This provider declares the
DynamoDB API and implements none of it itself: ``MotoFallbackDispatcher`` routes every
operation to moto, exactly as LocalStack does for its other moto-backed services.
CloudFormation's ``AWS::DynamoDB::Table`` resource calls the same provider. moto is not
thread-safe, so every operation runs alone (``serialized_dispatch``): as atomic as DynamoDB
makes each write and transaction.

Selected with ``PROVIDER_OVERRIDE_DYNAMODB=moto``.
"""

import uuid
from typing import Any

from localstack.aws.api import RequestContext, handler
from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.moto import call_moto
from localstack.services.plugins import Service, aws_provider

from .serialized_dispatch import serialized


class MotoDynamoDBProvider(DynamodbApi):
    """Every DynamoDB operation falls through to moto, with one gap filled.

    moto's table descriptions lack ``TableId``, which CloudFormation's
    ``AWS::DynamoDB::GlobalTable`` (CDK's ``TableV2``) reads; it is derived from the
    table's ARN, so it is stable for the table's lifetime as in DynamoDB.
    """

    @handler("CreateTable", expand=False)
    def create_table(self, context: RequestContext, request: Any) -> Any:
        response = call_moto(context)
        _add_table_id(response.get("TableDescription"))
        return response

    @handler("DescribeTable", expand=False)
    def describe_table(self, context: RequestContext, request: Any) -> Any:
        response = call_moto(context)
        _add_table_id(response.get("Table"))
        return response


def _add_table_id(description: dict[str, Any] | None) -> None:
    if description and "TableId" not in description and "TableArn" in description:
        description["TableId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, description["TableArn"]))


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto() -> Service:
    from localstack.services.moto import MotoFallbackDispatcher

    return Service.for_provider(
        MotoDynamoDBProvider(),
        dispatch_table_factory=lambda provider: serialized(MotoFallbackDispatcher(provider)),
    )
