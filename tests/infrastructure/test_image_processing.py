from __future__ import annotations

from aws_cdk.assertions import Template

from image_core.schema import ORIGINALS_PREFIX
from stacks.settings import host_architecture

from .template_queries import (
    actions,
    as_list,
    function_by_handler,
    only,
    referenced_ids,
    resources,
    role_statements,
)

HANDLER = "image_processing.handler.handler"


def test_given_the_local_stage_when_synthesized_then_processing_runs_python_3_13_on_the_host_arch(
    local_template: Template,
) -> None:
    _, function = function_by_handler(local_template, HANDLER)
    table_id, _ = only(local_template, "AWS::DynamoDB::Table")
    bucket_id, _ = only(local_template, "AWS::S3::Bucket")

    assert function["Properties"]["Runtime"] == "python3.13"
    assert function["Properties"]["Architectures"] == [host_architecture().name]
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["TABLE_NAME"] == {"Ref": table_id}
    assert variables["BUCKET_NAME"] == {"Ref": bucket_id}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "image-service"


def test_given_the_processing_function_when_synthesized_then_its_role_grants_exactly_its_calls(
    local_template: Template,
) -> None:
    function_id, _ = function_by_handler(local_template, HANDLER)

    statements = role_statements(local_template, function_id)

    assert actions(statements) == {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "s3:GetObject",
        "s3:DeleteObject",
        "s3:ListBucket",
    }


def test_given_the_processing_function_when_synthesized_then_object_access_is_limited_to_the_originals_prefix(
    local_template: Template,
) -> None:
    function_id, _ = function_by_handler(local_template, HANDLER)
    bucket_id, _ = only(local_template, "AWS::S3::Bucket")

    resources_by_action = {
        action: statement["Resource"]
        for statement in role_statements(local_template, function_id)
        for action in as_list(statement["Action"])
        if action.startswith("s3:")
    }

    originals = {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, f"/{ORIGINALS_PREFIX}*"]]}
    assert resources_by_action == {
        "s3:GetObject": originals,
        "s3:DeleteObject": originals,
        # so that HeadObject of a deleted object answers 404, not 403
        "s3:ListBucket": {"Fn::GetAtt": [bucket_id, "Arn"]},
    }


def test_given_the_bucket_when_synthesized_then_objects_created_under_the_originals_prefix_invoke_processing(
    local_template: Template,
) -> None:
    function_id, _ = function_by_handler(local_template, HANDLER)
    bucket_id, _ = only(local_template, "AWS::S3::Bucket")
    _, notifications = only(local_template, "Custom::S3BucketNotifications")

    configuration = notifications["Properties"]["NotificationConfiguration"]

    assert notifications["Properties"]["BucketName"] == {"Ref": bucket_id}
    assert configuration == {
        "LambdaFunctionConfigurations": [
            {
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": ORIGINALS_PREFIX}]}},
                "LambdaFunctionArn": {"Fn::GetAtt": [function_id, "Arn"]},
            }
        ]
    }


def test_given_the_notification_when_synthesized_then_only_this_bucket_may_invoke_processing(
    local_template: Template,
) -> None:
    function_id, _ = function_by_handler(local_template, HANDLER)
    bucket_id, _ = only(local_template, "AWS::S3::Bucket")

    (permission,) = [
        p["Properties"]
        for p in resources(local_template, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "s3.amazonaws.com"
    ]

    assert function_id in set(referenced_ids(permission["FunctionName"]))
    assert bucket_id in set(referenced_ids(permission["SourceArn"]))
    assert permission["Action"] == "lambda:InvokeFunction"
