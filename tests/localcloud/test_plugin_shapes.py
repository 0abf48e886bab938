"""The local cloud's plugins: the logic that does not need a running LocalStack."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud_plugins.cloudformation_shapes import (
    as_cloudformation_strings,
    custom_resource_properties,
    fallback_physical_id,
    point_in_time_recovery,
)
from localcloud_plugins.gateway_response_shapes import static_headers, template_for
from localcloud_plugins.ttl_sweep import sweep_table


def test_custom_resource_properties_are_strings_as_cloudformation_sends_them() -> None:
    properties = {
        "ServiceToken": "arn:aws:lambda:us-east-1:000000000000:function:f",
        "Managed": True,
        "Retention": 7,
        "Nested": {"Flags": [False, 1.5, "x"]},
        "PhysicalResourceId": "from-an-earlier-answer",
    }

    sent = custom_resource_properties(properties)

    assert sent == {
        "ServiceToken": "arn:aws:lambda:us-east-1:000000000000:function:f",
        "Managed": "true",
        "Retention": "7",
        "Nested": {"Flags": ["false", "1.5", "x"]},
    }


def test_as_cloudformation_strings_leaves_strings_and_none_alone() -> None:
    assert as_cloudformation_strings("true") == "true"
    assert as_cloudformation_strings(None) is None


def test_fallback_physical_id_is_stable_per_stack_and_resource() -> None:
    first = fallback_physical_id("stack-a", "Notifications")

    assert first == fallback_physical_id("stack-a", "Notifications")
    assert first != fallback_physical_id("stack-b", "Notifications")
    assert first.startswith("Notifications-")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}, True),
        ({"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": "false"}}, False),
        ({}, None),
        # TableV2 (AWS::DynamoDB::GlobalTable): the replica in this region decides.
        (
            {
                "Replicas": [
                    {
                        "Region": "eu-west-1",
                        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": False},
                    },
                    {
                        "Region": "us-east-1",
                        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    },
                ]
            },
            True,
        ),
        ({"Replicas": [{"Region": "us-east-1"}]}, None),
    ],
)
def test_point_in_time_recovery_reads_the_template_setting(
    model: dict[str, Any], expected: bool | None
) -> None:
    assert point_in_time_recovery(model, "us-east-1") is expected


def test_static_headers_take_quoted_values_and_skip_mappings() -> None:
    parameters = {
        "gatewayresponse.header.Access-Control-Allow-Origin": "'*'",
        "gatewayresponse.header.X-Request": "method.request.header.X-Request",
        "gatewayresponse.querystring.x": "'ignored'",
    }

    assert static_headers(parameters) == {"Access-Control-Allow-Origin": "*"}
    assert static_headers(None) == {}


def test_template_for_prefers_json() -> None:
    assert template_for({"text/plain": "t", "application/json": "j"}) == ("application/json", "j")
    assert template_for({"text/plain": "t"}) == ("text/plain", "t")
    assert template_for({}) is None


@pytest.fixture
def ttl_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # In memory, not the local cloud these tests otherwise run beside (make sets its endpoint).
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def test_sweep_deletes_expired_items_only(ttl_table: Any) -> None:
    # Given a TTL table with an expired, a live and an item without the attribute
    ttl_table.update_time_to_live(
        TableName="t", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
    )
    now = int(time.time())
    items = {
        "expired": {"exp": {"N": str(now - 1)}},
        "live": {"exp": {"N": str(now + 60)}},
        "no-ttl": {},
    }
    for pk, extra in items.items():
        ttl_table.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": "x"}, **extra})

    # When the sweeper runs
    deleted = sweep_table(ttl_table, "t", now)

    # Then only the expired item is gone
    remaining = sorted(item["pk"]["S"] for item in ttl_table.scan(TableName="t")["Items"])
    assert deleted == 1
    assert remaining == ["live", "no-ttl"]


def test_sweep_leaves_tables_without_ttl_alone(ttl_table: Any) -> None:
    ttl_table.put_item(TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "x"}, "exp": {"N": "1"}})

    assert sweep_table(ttl_table, "t", int(time.time())) == 0
    assert ttl_table.scan(TableName="t")["Count"] == 1
