"""DynamoDB served by moto.

LocalStack's own DynamoDB provider runs the DynamoDB Local jar, which cannot be downloaded
on machines without internet and is not open source. moto implements the DynamoDB API in
Python (tables, GSIs/LSIs, TTL settings, continuous backups, queries, conditions,
transactions, batches), and LocalStack already ships it. This provider declares the
DynamoDB API and implements none of it itself: ``MotoFallbackDispatcher`` routes every
operation to moto, exactly as LocalStack does for its other moto-backed services.
CloudFormation's ``AWS::DynamoDB::Table`` resource calls the same provider.

Selected with ``PROVIDER_OVERRIDE_DYNAMODB=moto``.
"""

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.plugins import Service, aws_provider


class MotoDynamoDBProvider(DynamodbApi):
    """Every DynamoDB operation falls through to moto."""


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto() -> Service:
    from localstack.services.moto import MotoFallbackDispatcher

    return Service.for_provider(MotoDynamoDBProvider(), dispatch_table_factory=MotoFallbackDispatcher)
