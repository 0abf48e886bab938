"""Deleting a table's expired items through the DynamoDB API (no LocalStack imports)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def expired_keys(
    client: Any, table: str, attribute: str, key_names: list[str], now: int
) -> Iterator[dict[str, Any]]:
    """Keys of the table's items whose TTL attribute lies before ``now``."""
    paginator = client.get_paginator("scan")
    pages = paginator.paginate(
        TableName=table,
        FilterExpression="#ttl < :now",
        ExpressionAttributeNames={"#ttl": attribute},
        ExpressionAttributeValues={":now": {"N": str(now)}},
    )
    for page in pages:
        for item in page["Items"]:
            yield {name: item[name] for name in key_names}


def sweep_table(client: Any, table: str, now: int) -> int:
    """Delete the expired items of one table; returns how many were deleted."""
    ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") != "ENABLED":
        return 0
    attribute = ttl["AttributeName"]
    key_names = [key["AttributeName"] for key in client.describe_table(TableName=table)["Table"]["KeySchema"]]
    deleted = 0
    for key in list(expired_keys(client, table, attribute, key_names, now)):
        try:
            client.delete_item(
                TableName=table,
                Key=key,
                ConditionExpression="#ttl < :now",
                ExpressionAttributeNames={"#ttl": attribute},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
            deleted += 1
        except client.exceptions.ConditionalCheckFailedException:
            pass  # its TTL moved into the future since the scan
    return deleted
