from __future__ import annotations

import pytest
from aws_cdk import RemovalPolicy, Stack
from aws_cdk.assertions import Template

from image_core import schema
from image_core.schema import TTL_ATTRIBUTE
from stacks.metadata_table import MetadataTable

from .conftest import offline_app
from .template_queries import Resource, only


def _table(
    *, point_in_time_recovery: bool = False, removal_policy: RemovalPolicy = RemovalPolicy.DESTROY
) -> Resource:
    stack = Stack(offline_app(), "TableTest")
    MetadataTable(
        stack, "Metadata", point_in_time_recovery=point_in_time_recovery, removal_policy=removal_policy
    )
    _, table = only(Template.from_stack(stack), "AWS::DynamoDB::Table")
    return table


@pytest.fixture(scope="module")
def table() -> Resource:
    return _table()


def test_given_the_schema_when_the_table_is_built_then_its_keys_are_the_schema_keys(table: Resource) -> None:
    assert table["Properties"]["KeySchema"] == [
        {"AttributeName": schema.PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": schema.SORT_KEY, "KeyType": "RANGE"},
    ]


def test_given_the_schema_when_the_table_is_built_then_every_key_attribute_is_a_string(
    table: Resource,
) -> None:
    key_names = {schema.PARTITION_KEY, schema.SORT_KEY, schema.LISTED_AT, schema.DUPLICATES.partition_key} | {
        index.partition_key for index in schema.LIST_INDEXES
    }
    assert {d["AttributeName"]: d["AttributeType"] for d in table["Properties"]["AttributeDefinitions"]} == {
        name: "S" for name in key_names
    }


def test_given_the_schema_indexes_when_the_table_is_built_then_there_is_exactly_one_gsi_each(
    table: Resource,
) -> None:
    names = [gsi["IndexName"] for gsi in table["Properties"]["GlobalSecondaryIndexes"]]
    assert sorted(names) == sorted([*(index.name for index in schema.LIST_INDEXES), schema.DUPLICATES.name])


def test_given_the_duplicates_index_when_the_table_is_built_then_it_is_keyed_by_user_and_hash_with_ids(
    table: Resource,
) -> None:
    (gsi,) = [
        g for g in table["Properties"]["GlobalSecondaryIndexes"] if g["IndexName"] == schema.DUPLICATES.name
    ]
    assert gsi["KeySchema"] == [
        {"AttributeName": schema.DUPLICATES.partition_key, "KeyType": "HASH"},
        {"AttributeName": schema.LISTED_AT, "KeyType": "RANGE"},
    ]
    assert gsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["image_id"]}


@pytest.mark.parametrize("index", schema.LIST_INDEXES, ids=lambda index: index.name)
def test_given_a_list_index_when_the_table_is_built_then_its_gsi_has_the_index_keys_and_projects_all(
    table: Resource, index: schema.ListIndex
) -> None:
    (gsi,) = [g for g in table["Properties"]["GlobalSecondaryIndexes"] if g["IndexName"] == index.name]
    assert gsi["KeySchema"] == [
        {"AttributeName": index.partition_key, "KeyType": "HASH"},
        {"AttributeName": schema.LISTED_AT, "KeyType": "RANGE"},
    ]
    assert gsi["Projection"] == {"ProjectionType": "ALL"}


def test_given_any_stage_when_the_table_is_built_then_it_is_billed_per_request_and_has_a_ttl(
    table: Resource,
) -> None:
    assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def test_given_pitr_off_and_destroy_when_built_then_the_table_goes_with_the_stack(table: Resource) -> None:
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": False}
    assert table["DeletionPolicy"] == "Delete"
    assert table["Properties"]["DeletionProtectionEnabled"] is False


def test_given_pitr_on_and_retain_when_built_then_the_table_is_recoverable_and_kept() -> None:
    table = _table(point_in_time_recovery=True, removal_policy=RemovalPolicy.RETAIN)

    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["DeletionProtectionEnabled"] is True
