from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import Stack, Validations
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

import app as cdk_app
from stacks.image_service_stack import ImageServiceStack

from .conftest import PROD_ORIGINS, offline_app
from .template_queries import function_by_handler, image_bucket, only, resources

OUTPUTS = {
    "ApiUrl",
    "ApiId",
    "ApiStageName",
    "BucketName",
    "TableName",
    "ProcessingFunctionName",
    "ReconcileFunctionName",
    "AlarmTopicArn",
    "DashboardName",
    "AuthMode",
    "TokenIssuer",
    "TokenAudience",
}
# What a client of a stage with the stack's own user pool needs to sign in, besides the above.
USER_POOL_OUTPUTS = {"UserPoolId", "UserPoolClientId", "Region"}
# The stages deployed to AWS serve the web gallery too.
GALLERY_OUTPUTS = {"GalleryUrl"}
HANDLERS = (
    "image_api.upload.handler",
    "image_api.list_images.handler",
    "image_api.get_image.handler",
    "image_api.download.handler",
    "image_api.delete_image.handler",
    "image_processing.handler.handler",
    "image_reconcile.handler.handler",
)


def _violations(stack: Stack) -> list[str]:
    report = AwsSolutionsChecks(verbose=True).validate_scope(stack)
    return [
        f"{violation.rule_name} at {[r.construct_path for r in violation.violating_resources]}"
        for violation in report.violations
    ]


def test_given_a_stage_when_synthesized_then_the_stack_is_named_after_it(
    local_stack: ImageServiceStack,
) -> None:
    assert local_stack.stack_name == "ImageService-local"


def test_given_the_stack_when_synthesized_then_it_outputs_exactly_the_designed_names(
    local_template: Template,
) -> None:
    assert set(local_template.to_json()["Outputs"]) == OUTPUTS


def test_given_the_stack_when_synthesized_then_the_outputs_point_at_its_resources(
    local_template: Template,
) -> None:
    outputs = local_template.to_json()["Outputs"]
    table_id, _ = only(local_template, "AWS::DynamoDB::Table")
    bucket_id, _ = only(local_template, "AWS::S3::Bucket")
    api_id, _ = only(local_template, "AWS::ApiGateway::RestApi")
    stage_id, _ = only(local_template, "AWS::ApiGateway::Stage")
    processing_id, _ = function_by_handler(local_template, "image_processing.handler.handler")

    assert outputs["TableName"]["Value"] == {"Ref": table_id}
    assert outputs["BucketName"]["Value"] == {"Ref": bucket_id}
    assert outputs["ApiId"]["Value"] == {"Ref": api_id}
    assert outputs["ApiStageName"]["Value"] == {"Ref": stage_id}
    assert outputs["ProcessingFunctionName"]["Value"] == {"Ref": processing_id}
    assert {"Ref": stage_id} in outputs["ApiUrl"]["Value"]["Fn::Join"][1]


@pytest.mark.parametrize("stack_fixture", ["local_stack", "dev_stack", "prod_stack"])
def test_given_each_stage_when_checked_with_cdk_nag_then_every_finding_is_resolved_or_acknowledged(
    request: pytest.FixtureRequest, stack_fixture: str
) -> None:
    stack: ImageServiceStack = request.getfixturevalue(stack_fixture)

    assert _violations(stack) == []


def test_given_an_unacknowledged_insecure_bucket_when_checked_then_cdk_nag_reports_it() -> None:
    # Guards the check above against passing because nothing was checked at all.
    stack = Stack(offline_app(), "Insecure")
    s3.Bucket(stack, "Plain")

    assert any(violation.startswith("AwsSolutions-S10") for violation in _violations(stack))


def test_given_the_stack_when_synthesized_then_every_acknowledgment_gives_a_reason(
    prod_stack: ImageServiceStack,
) -> None:
    acknowledged = {
        rule_id: reason
        for construct in prod_stack.node.find_all()
        for entry in construct.node.metadata
        if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule_id, reason in entry.data.items()
    }

    assert acknowledged
    assert all(len(reason) > 30 for reason in acknowledged.values()), acknowledged


def test_given_prod_when_synthesized_then_data_is_kept_and_recoverable(prod_template: Template) -> None:
    _, table = only(prod_template, "AWS::DynamoDB::Table")
    _, bucket = image_bucket(prod_template)

    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionPolicy"] == "Retain"
    assert bucket["DeletionPolicy"] == "Retain"
    assert resources(prod_template, "Custom::S3AutoDeleteObjects") == {}
    assert {
        group["DeletionPolicy"] for group in resources(prod_template, "AWS::Logs::LogGroup").values()
    } == {"Retain"}


def test_given_local_when_synthesized_then_everything_goes_with_the_stack(local_template: Template) -> None:
    _, table = only(local_template, "AWS::DynamoDB::Table")
    _, bucket = only(local_template, "AWS::S3::Bucket")

    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": False}
    assert table["DeletionPolicy"] == "Delete"
    assert bucket["DeletionPolicy"] == "Delete"
    (auto_delete,) = resources(local_template, "Custom::S3AutoDeleteObjects").values()
    assert auto_delete["Properties"]["BucketName"] == {"Ref": image_bucket(local_template)[0]}
    assert {
        group["DeletionPolicy"] for group in resources(local_template, "AWS::Logs::LogGroup").values()
    } == {"Delete"}


@pytest.mark.parametrize("template_fixture", ["dev_template", "prod_template"])
@pytest.mark.parametrize("handler", HANDLERS)
def test_given_dev_or_prod_when_synthesized_then_every_function_runs_on_arm64(
    request: pytest.FixtureRequest, template_fixture: str, handler: str
) -> None:
    template: Template = request.getfixturevalue(template_fixture)

    _, function = function_by_handler(template, handler)

    assert function["Properties"]["Architectures"] == ["arm64"]


@pytest.mark.parametrize("template_fixture", ["dev_template", "prod_template"])
def test_given_dev_or_prod_when_synthesized_then_presigned_urls_use_the_default_s3_endpoint(
    request: pytest.FixtureRequest, template_fixture: str
) -> None:
    template: Template = request.getfixturevalue(template_fixture)

    _, function = function_by_handler(template, "image_api.upload.handler")

    assert function["Properties"]["Environment"]["Variables"]["S3_PUBLIC_ENDPOINT"] == ""


def test_given_prod_origins_when_synthesized_then_the_bucket_and_the_preflight_allow_only_them(
    prod_template: Template,
) -> None:
    _, bucket = image_bucket(prod_template)
    (rule,) = bucket["Properties"]["CorsConfiguration"]["CorsRules"]
    # ... and the web gallery's, which the stack adds itself (tests/infrastructure/test_gallery.py)
    distribution_id, _ = only(prod_template, "AWS::CloudFront::Distribution")
    gallery_domain = {"Fn::GetAtt": [distribution_id, "DomainName"]}

    assert rule["AllowedOrigins"] == [*PROD_ORIGINS, {"Fn::Join": ["", ["https://", gallery_domain]]}]
    _, api = function_by_handler(prod_template, "image_api.upload.handler")
    assert api["Properties"]["Environment"]["Variables"]["CORS_ALLOWED_ORIGINS"] == {
        "Fn::Join": ["", [",".join(PROD_ORIGINS) + ",https://", gallery_domain]]
    }


def test_given_a_stage_in_the_app_context_when_built_then_it_synthesizes_and_passes_cdk_nag() -> None:
    app = offline_app(stage="prod", cors_origins=",".join(PROD_ORIGINS))

    stack = cdk_app.build(app)
    assembly = app.synth()  # runs the AwsSolutions plugin; a finding would raise here

    assert stack.stack_name == "ImageService-prod"
    assert (
        assembly.get_stack_by_name("ImageService-prod").template["Outputs"].keys()
        == OUTPUTS | USER_POOL_OUTPUTS | GALLERY_OUTPUTS
    )


def test_given_no_stage_in_the_context_when_the_app_is_built_then_it_builds_local(
    dev_issuer_file: Path,
) -> None:
    assert cdk_app.build(offline_app(dev_issuer=str(dev_issuer_file))).stack_name == "ImageService-local"


def test_given_an_unknown_stage_when_the_app_is_built_then_it_fails_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown stage 'staging'; choose one of: local, dev, prod"):
        cdk_app.build(offline_app(stage="staging"))


def test_given_prod_without_origins_when_the_app_is_built_then_it_fails_asking_for_them() -> None:
    with pytest.raises(ValueError, match="cors_origins"):
        cdk_app.build(offline_app(stage="prod"))
