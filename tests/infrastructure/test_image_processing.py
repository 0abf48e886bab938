from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

import app as cdk_app
from image_core.schema import INCOMING_PREFIX, ORIGINALS_PREFIX, VARIANTS_PREFIX
from stacks.python_function_code import LAMBDA_SRC
from stacks.settings import LOCAL_FAULT_TAG, StageSettings, host_architecture, stage_settings

from .conftest import offline_app, synth_stack
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
FAILURES = "image_processing.failures.handler"
# handler -> the exact actions of its role (from UploadProcessor.process_upload / record_failure),
# beside sending to the dead-letter queue (both) and invoking the failure function (processing).
GRANTS = {
    HANDLER: {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
        "sqs:SendMessage",
        "lambda:InvokeFunction",
    },
    FAILURES: {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "s3:GetObject",
        "s3:DeleteObject",
        "s3:ListBucket",
        "sqs:SendMessage",
    },
}
# handler -> {S3 action: the key prefixes it may act on}. Processing alone reads the incoming
# prefix (the quarantine) and writes the originals (a copy: GetObject on the source, PutObject
# on the target); it reads no original, so it can serve nothing.
OBJECT_GRANTS = {
    HANDLER: {
        "s3:GetObject": [INCOMING_PREFIX],
        "s3:DeleteObject": [INCOMING_PREFIX, ORIGINALS_PREFIX, VARIANTS_PREFIX],
        "s3:PutObject": [ORIGINALS_PREFIX, VARIANTS_PREFIX],
    },
    FAILURES: {
        "s3:GetObject": [INCOMING_PREFIX],
        "s3:DeleteObject": [INCOMING_PREFIX, ORIGINALS_PREFIX, VARIANTS_PREFIX],
    },
}


def _objects_under(bucket_id: str, prefix: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, f"/{prefix}*"]]}


def _requirements(package: str) -> list[str]:
    lines = (LAMBDA_SRC / package / "requirements.txt").read_text().splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def test_given_the_local_stage_when_synthesized_then_processing_runs_python_3_13_on_the_host_arch(
    local_template: Template, local_settings: StageSettings
) -> None:
    _, function = function_by_handler(local_template, HANDLER)
    table_id, _ = only(local_template, "AWS::DynamoDB::Table")
    bucket_id, _ = only(local_template, "AWS::S3::Bucket")

    assert function["Properties"]["Runtime"] == "python3.13"
    assert function["Properties"]["Architectures"] == [host_architecture().name]
    assert function["Properties"]["MemorySize"] == local_settings.processing_function.memory_mb
    assert function["Properties"]["Timeout"] == local_settings.processing_function.timeout_seconds
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["TABLE_NAME"] == {"Ref": table_id}
    assert variables["BUCKET_NAME"] == {"Ref": bucket_id}
    assert variables["MAX_IMAGE_PIXELS"] == "50000000"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "image-service"


def test_given_the_local_stage_when_synthesized_then_processing_fails_on_purpose_for_the_fault_tag(
    local_template: Template,
) -> None:
    _, function = function_by_handler(local_template, HANDLER)

    assert function["Properties"]["Environment"]["Variables"]["PROCESSING_FAULT_TAG"] == LOCAL_FAULT_TAG


@pytest.mark.parametrize("template_fixture", ["dev_template", "prod_template"])
def test_given_dev_or_prod_when_synthesized_then_no_function_has_a_fault_setting(
    request: pytest.FixtureRequest, template_fixture: str
) -> None:
    template: Template = request.getfixturevalue(template_fixture)

    for function in resources(template, "AWS::Lambda::Function").values():
        assert "PROCESSING_FAULT_TAG" not in function["Properties"].get("Environment", {}).get(
            "Variables", {}
        )


def test_given_the_processing_asset_then_it_alone_carries_pillow_and_heif_decoding(
    local_template: Template,
) -> None:
    # Given the functions' code assets (bundling itself is covered by test_python_function_code,
    # and the integration tests open the deployed zip)
    processing_key = function_by_handler(local_template, HANDLER)[1]["Properties"]["Code"]["S3Key"]
    failures_key = function_by_handler(local_template, FAILURES)[1]["Properties"]["Code"]["S3Key"]
    api_key = function_by_handler(local_template, "image_api.get_image.handler")[1]["Properties"]["Code"][
        "S3Key"
    ]

    # Then both processing functions share one asset, apart from the API's
    assert processing_key == failures_key != api_key
    # And only the processing requirements pin an image library (no numpy or scipy anywhere)
    processing = _requirements("image_processing")
    assert "pillow==13.0.0" in processing
    assert "pi-heif==1.4.0" in processing
    assert not any(line.startswith(("pillow", "pi-heif")) for line in _requirements("image_api"))
    assert not any(line.startswith(("numpy", "scipy")) for line in processing)


@pytest.mark.parametrize("handler", sorted(GRANTS))
def test_given_each_processing_function_when_synthesized_then_its_role_grants_exactly_its_calls(
    local_template: Template, handler: str
) -> None:
    function_id, _ = function_by_handler(local_template, handler)

    assert actions(role_statements(local_template, function_id)) == GRANTS[handler]


@pytest.mark.parametrize("handler", sorted(OBJECT_GRANTS))
def test_given_each_processing_function_when_synthesized_then_object_access_is_limited_to_its_prefixes(
    local_template: Template, handler: str
) -> None:
    function_id, _ = function_by_handler(local_template, handler)
    bucket_id, _ = only(local_template, "AWS::S3::Bucket")

    reached: dict[str, list[str]] = {}
    for statement in role_statements(local_template, function_id):
        for action in as_list(statement["Action"]):
            if action.startswith("s3:") and action != "s3:ListBucket":
                reached.setdefault(action, []).extend(json.dumps(r) for r in as_list(statement["Resource"]))

    assert {action: sorted(found) for action, found in reached.items()} == {
        action: sorted(json.dumps(_objects_under(bucket_id, prefix)) for prefix in prefixes)
        for action, prefixes in OBJECT_GRANTS[handler].items()
    }


@pytest.mark.parametrize("handler", sorted(GRANTS))
def test_given_each_processing_function_when_synthesized_then_it_may_list_the_bucket_itself_only(
    local_template: Template, handler: str
) -> None:
    # so that HeadObject of a deleted object answers 404, not 403, and variants can be listed
    function_id, _ = function_by_handler(local_template, handler)
    bucket_id, _ = only(local_template, "AWS::S3::Bucket")

    (listing,) = [s for s in role_statements(local_template, function_id) if s["Action"] == "s3:ListBucket"]

    assert listing["Resource"] == {"Fn::GetAtt": [bucket_id, "Arn"]}


@pytest.mark.parametrize("template_fixture", ["local_template", "dev_template", "prod_template"])
def test_given_any_stage_by_default_when_synthesized_then_no_function_reserves_concurrency(
    request: pytest.FixtureRequest, template_fixture: str
) -> None:
    # A new account's quota leaves nothing to reserve (Lambda keeps 10 unreserved)
    template: Template = request.getfixturevalue(template_fixture)

    for function in resources(template, "AWS::Lambda::Function").values():
        assert "ReservedConcurrentExecutions" not in function["Properties"]


def test_given_a_reserved_concurrency_when_synthesized_then_processing_alone_is_capped_at_it() -> None:
    settings = stage_settings(
        "prod", cors_origins=["https://images.example.com"], processing_reserved_concurrency=25
    )
    template = Template.from_stack(synth_stack(settings))
    processing_id, processing = function_by_handler(template, HANDLER)

    assert processing["Properties"]["ReservedConcurrentExecutions"] == 25
    assert [
        function_id
        for function_id, function in resources(template, "AWS::Lambda::Function").items()
        if "ReservedConcurrentExecutions" in function["Properties"]
    ] == [processing_id]


def test_given_the_app_context_with_a_reserved_concurrency_when_built_then_processing_reserves_it() -> None:
    app = offline_app(
        stage="prod", cors_origins="https://images.example.com", processing_reserved_concurrency="40"
    )

    _, processing = function_by_handler(Template.from_stack(cdk_app.build(app)), HANDLER)

    assert processing["Properties"]["ReservedConcurrentExecutions"] == 40


@pytest.mark.parametrize(("value", "problem"), [("0", "at least 1"), ("many", "whole number")])
def test_given_an_unusable_reserved_concurrency_when_the_app_is_built_then_it_fails(
    value: str, problem: str
) -> None:
    app = offline_app(stage="dev", processing_reserved_concurrency=value)

    with pytest.raises(ValueError, match=problem):
        cdk_app.build(app)


def test_given_the_processing_function_when_synthesized_then_failed_events_are_retried_then_sent_on(
    local_template: Template, local_settings: StageSettings
) -> None:
    processing_id, processing = function_by_handler(local_template, HANDLER)
    failures_id, _ = function_by_handler(local_template, FAILURES)
    queue_id, queue = only(local_template, "AWS::SQS::Queue")

    (config,) = [
        c["Properties"]
        for c in resources(local_template, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": processing_id}
    ]

    # Then a failing event is retried, then goes to the failure function...
    assert config["MaximumRetryAttempts"] == local_settings.processing_retry_attempts == 2
    assert config["MaximumEventAgeInSeconds"] == local_settings.processing_max_event_age_seconds
    assert config["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [failures_id, "Arn"]}}}
    # ...and to the dead-letter queue, which keeps it for two weeks
    assert processing["Properties"]["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["Properties"]["SqsManagedSseEnabled"] is True


def test_given_the_failure_function_when_synthesized_then_its_own_failures_land_in_the_same_queue(
    local_template: Template,
) -> None:
    failures_id, failures = function_by_handler(local_template, FAILURES)
    queue_id, _ = only(local_template, "AWS::SQS::Queue")

    (config,) = [
        c["Properties"]
        for c in resources(local_template, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": failures_id}
    ]

    assert failures["Properties"]["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    assert config["MaximumRetryAttempts"] == 2
    assert "DestinationConfig" not in config


def test_given_the_dead_letter_queue_when_synthesized_then_it_refuses_requests_without_tls(
    local_template: Template,
) -> None:
    queue_id, _ = only(local_template, "AWS::SQS::Queue")
    _, policy = only(local_template, "AWS::SQS::QueuePolicy")

    (denial,) = policy["Properties"]["PolicyDocument"]["Statement"]

    assert policy["Properties"]["Queues"] == [{"Ref": queue_id}]
    assert denial["Effect"] == "Deny"
    assert denial["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_given_the_bucket_when_synthesized_then_only_uploads_under_the_incoming_prefix_invoke_processing(
    local_template: Template,
) -> None:
    function_id, _ = function_by_handler(local_template, HANDLER)
    bucket_id, _ = only(local_template, "AWS::S3::Bucket")
    _, notifications = only(local_template, "Custom::S3BucketNotifications")

    configuration = notifications["Properties"]["NotificationConfiguration"]

    # Only uploads: the originals and variants processing writes notify nobody
    assert not any(prefix.startswith(INCOMING_PREFIX) for prefix in (ORIGINALS_PREFIX, VARIANTS_PREFIX))
    assert notifications["Properties"]["BucketName"] == {"Ref": bucket_id}
    assert configuration == {
        "LambdaFunctionConfigurations": [
            {
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": INCOMING_PREFIX}]}},
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
