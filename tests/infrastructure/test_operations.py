"""What AWS stages add for their operators: access logs, tracing, the WAF, and reconciliation."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Validations
from aws_cdk.assertions import Template
from constructs import IConstruct

from image_core.schema import INCOMING_PREFIX, ORIGINALS_PREFIX, VARIANTS_PREFIX
from stacks.image_service_stack import ImageServiceStack
from stacks.settings import StageSettings, WebAcl, stage_settings

from .conftest import LOCAL_AUTHENTICATION, PROD_ORIGINS, synth_stack
from .template_queries import (
    actions,
    as_list,
    function_by_handler,
    image_bucket,
    only,
    referenced_ids,
    resources,
    role_statements,
)

RECONCILE = "image_reconcile.handler.handler"


def acknowledged(*constructs: IConstruct) -> set[str]:
    """The rule ids acknowledged on these constructs or anywhere below them."""
    return {
        rule_id.removeprefix("Annotation::")
        for scope in constructs
        for construct in scope.node.find_all()
        for entry in construct.node.metadata
        if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule_id in entry.data
    }


@pytest.mark.parametrize("template_fixture", ["dev_template", "prod_template"])
def test_given_an_aws_stage_when_synthesized_then_the_api_writes_json_access_logs_kept_as_its_logs_are(
    request: pytest.FixtureRequest, template_fixture: str
) -> None:
    template: Template = request.getfixturevalue(template_fixture)
    _, stage = only(template, "AWS::ApiGateway::Stage")
    setting = stage["Properties"]["AccessLogSetting"]
    groups = resources(template, "AWS::Logs::LogGroup")
    (group_id,) = set(referenced_ids(setting["DestinationArn"])) & set(groups)
    group = groups[group_id]

    fields = json.loads(setting["Format"])
    assert {"requestId", "status", "ip", "httpMethod", "resourcePath", "responseLatency"} <= set(fields)
    assert group["Properties"]["RetentionInDays"] in (7, 90)
    assert stage["Properties"]["MethodSettings"][0]["LoggingLevel"] == "ERROR"


def test_given_local_when_synthesized_then_there_are_no_access_logs_tracing_or_waf(
    local_template: Template,
) -> None:
    _, stage = only(local_template, "AWS::ApiGateway::Stage")

    assert "AccessLogSetting" not in stage["Properties"]
    assert not stage["Properties"].get("TracingEnabled")
    assert resources(local_template, "AWS::ApiGateway::Account") == {}
    assert resources(local_template, "AWS::WAFv2::WebACL") == {}
    for function in resources(local_template, "AWS::Lambda::Function").values():
        assert function["Properties"].get("TracingConfig", {}).get("Mode") != "Active"


def test_given_a_fresh_account_when_dev_is_synthesized_then_it_creates_api_gateways_logging_role(
    dev_template: Template,
) -> None:
    _, account = only(dev_template, "AWS::ApiGateway::Account")
    (role_id,) = set(referenced_ids(account["Properties"]["CloudWatchRoleArn"]))
    role = resources(dev_template, "AWS::IAM::Role")[role_id]

    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    # Kept when the stack goes: other APIs of the account log through it too.
    assert account["DeletionPolicy"] == "Retain"


def test_given_an_account_baseline_owning_the_role_when_synthesized_then_the_stack_leaves_it_alone() -> None:
    template = Template.from_stack(synth_stack(stage_settings("dev", api_gateway_cloudwatch_role=False)))
    _, stage = only(template, "AWS::ApiGateway::Stage")

    assert resources(template, "AWS::ApiGateway::Account") == {}
    assert "AccessLogSetting" in stage["Properties"]


@pytest.mark.parametrize("template_fixture", ["dev_template", "prod_template"])
def test_given_an_aws_stage_when_synthesized_then_the_stage_and_every_function_are_traced(
    request: pytest.FixtureRequest, template_fixture: str
) -> None:
    template: Template = request.getfixturevalue(template_fixture)
    _, stage = only(template, "AWS::ApiGateway::Stage")

    assert stage["Properties"]["TracingEnabled"] is True
    for function_id, function in resources(template, "AWS::Lambda::Function").items():
        if "image_" in function["Properties"].get("Handler", ""):
            assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}, function_id


def test_given_prod_when_synthesized_then_a_waf_with_the_common_rules_and_a_rate_per_ip_guards_the_stage(
    prod_template: Template,
) -> None:
    acl_id, acl = only(prod_template, "AWS::WAFv2::WebACL")
    stage_id, _ = only(prod_template, "AWS::ApiGateway::Stage")
    _, association = only(prod_template, "AWS::WAFv2::WebACLAssociation")
    rules = {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}

    assert acl["Properties"]["Scope"] == "REGIONAL"
    assert acl["Properties"]["DefaultAction"] == {"Allow": {}}
    assert rules["aws-common-rule-set"]["Statement"]["ManagedRuleGroupStatement"] == {
        "VendorName": "AWS",
        "Name": "AWSManagedRulesCommonRuleSet",
    }
    rate = rules["rate-per-client-ip"]
    assert rate["Action"] == {"Block": {}}
    assert rate["Statement"]["RateBasedStatement"] == {
        "Limit": WebAcl().requests_per_ip_per_5_minutes,
        "AggregateKeyType": "IP",
    }
    assert set(referenced_ids(association["Properties"]["WebACLArn"])) == {acl_id}
    assert stage_id in set(referenced_ids(association["Properties"]["ResourceArn"]))


def test_given_a_rate_limit_of_0_when_prod_is_synthesized_then_it_has_no_waf_and_says_so_to_cdk_nag() -> None:
    stack = synth_stack(stage_settings("prod", cors_origins=PROD_ORIGINS, web_acl_rate_limit=0))

    assert resources(Template.from_stack(stack), "AWS::WAFv2::WebACL") == {}
    assert "AwsSolutions-APIG3" in acknowledged(stack)


def test_given_dev_when_synthesized_then_it_has_no_waf(dev_template: Template) -> None:
    assert resources(dev_template, "AWS::WAFv2::WebACL") == {}


@pytest.mark.parametrize("setting", ["web_acl", "tracing", "api_access_logs"])
def test_given_the_local_stage_when_asked_for_what_the_local_cloud_lacks_then_it_is_refused(
    local_settings: StageSettings, setting: str
) -> None:
    value = WebAcl() if setting == "web_acl" else True
    with pytest.raises(ValueError, match="local cloud"):
        StageSettings(**{**local_settings.__dict__, setting: value})


def test_given_prod_when_synthesized_then_the_image_bucket_logs_its_access_to_a_private_log_bucket(
    prod_template: Template,
) -> None:
    _, bucket = image_bucket(prod_template)
    (log_bucket_id,) = set(referenced_ids(bucket["Properties"]["LoggingConfiguration"]))
    log_bucket = resources(prod_template, "AWS::S3::Bucket")[log_bucket_id]

    assert log_bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert log_bucket["DeletionPolicy"] == "Retain"
    (rule,) = log_bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 90


def test_given_dev_when_synthesized_then_the_image_bucket_has_no_access_log_bucket(
    dev_template: Template,
) -> None:
    _, bucket = image_bucket(dev_template)

    assert "LoggingConfiguration" not in bucket["Properties"]


def test_given_prod_when_synthesized_then_the_logging_and_waf_findings_are_resolved_not_acknowledged(
    prod_stack: ImageServiceStack,
) -> None:
    assert {"AwsSolutions-APIG1", "AwsSolutions-APIG3", "AwsSolutions-APIG6"}.isdisjoint(
        acknowledged(prod_stack)
    )
    image = prod_stack.images.bucket
    assert not any(
        entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY and "AwsSolutions-S1" in entry.data
        for entry in image.node.metadata
    )


# --- reconciliation -------------------------------------------------------------------------------


def test_given_the_reconcile_function_when_synthesized_then_it_may_do_exactly_what_its_checks_do(
    dev_template: Template,
) -> None:
    function_id, _ = function_by_handler(dev_template, RECONCILE)
    statements = [
        statement
        for statement in role_statements(dev_template, function_id)
        if not any(action.startswith("xray:") for action in as_list(statement["Action"]))
    ]
    by_action: dict[str, list[str]] = {}
    for statement in statements:
        for action in as_list(statement["Action"]):
            by_action.setdefault(action, []).extend(
                json.dumps(resource) for resource in as_list(statement["Resource"])
            )

    assert actions(statements) == {
        "dynamodb:Scan",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "s3:GetObject",
        "s3:DeleteObject",
        "s3:ListBucket",
    }
    assert all(f"/{ORIGINALS_PREFIX}*" in resource for resource in by_action["s3:GetObject"])
    assert {
        prefix
        for prefix in (INCOMING_PREFIX, ORIGINALS_PREFIX, VARIANTS_PREFIX)
        for r in by_action["s3:DeleteObject"]
        if f"/{prefix}*" in r
    } == {INCOMING_PREFIX, ORIGINALS_PREFIX, VARIANTS_PREFIX}
    (listing,) = [statement for statement in statements if statement["Action"] == "s3:ListBucket"]
    assert listing["Condition"] == {
        "StringLike": {"s3:prefix": [f"{INCOMING_PREFIX}*", f"{ORIGINALS_PREFIX}*", f"{VARIANTS_PREFIX}*"]}
    }


@pytest.mark.parametrize("template_fixture", ["dev_template", "prod_template"])
def test_given_an_aws_stage_when_synthesized_then_a_schedule_runs_reconciliation_to_repair(
    request: pytest.FixtureRequest, template_fixture: str
) -> None:
    template: Template = request.getfixturevalue(template_fixture)
    function_id, function = function_by_handler(template, RECONCILE)
    _, rule = only(template, "AWS::Events::Rule")
    (target,) = rule["Properties"]["Targets"]

    assert rule["Properties"]["ScheduleExpression"] == "rate(6 hours)"
    assert set(referenced_ids(target["Arn"])) == {function_id}
    assert json.loads(target["Input"]) == {"repair": True}
    assert function["Properties"]["Environment"]["Variables"]["RECONCILE_MIN_AGE_SECONDS"] == str(6 * 3600)


def test_given_local_when_synthesized_then_reconciliation_runs_only_when_asked_with_a_short_minimum_age(
    local_template: Template,
) -> None:
    _, function = function_by_handler(local_template, RECONCILE)

    assert resources(local_template, "AWS::Events::Rule") == {}
    assert function["Properties"]["Environment"]["Variables"]["RECONCILE_MIN_AGE_SECONDS"] == "20"


def test_given_an_aws_stage_whose_minimum_age_is_shorter_than_processing_when_built_then_it_is_refused() -> (
    None
):
    dev = stage_settings("dev")

    with pytest.raises(ValueError, match="reconcile_min_age_seconds"):
        StageSettings(**{**dev.__dict__, "reconcile_min_age_seconds": 600})


def test_given_the_local_settings_when_built_then_the_test_stage_keeps_its_own_authentication() -> None:
    # Guards the refusals above against failing for another reason.
    assert stage_settings("local", authentication=LOCAL_AUTHENTICATION).web_acl is None


@pytest.mark.parametrize(
    ("template_fixture", "disabled"), [("local_template", "true"), ("dev_template", "false")]
)
def test_given_a_stage_when_synthesized_then_every_function_publishes_metrics_and_traces_as_the_stage_does(
    request: pytest.FixtureRequest, template_fixture: str, disabled: str
) -> None:
    template: Template = request.getfixturevalue(template_fixture)
    functions = [
        function["Properties"]
        for function in resources(template, "AWS::Lambda::Function").values()
        if str(function["Properties"].get("Handler", "")).startswith("image_")
    ]

    # seven API functions (edit and the OpenAPI document among them), processing, failures, reconcile
    assert len(functions) == 10
    for function in functions:
        variables = function["Environment"]["Variables"]
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "ImageService"
        assert variables["POWERTOOLS_TRACE_DISABLED"] == disabled


def test_given_the_dashboard_when_synthesized_then_it_graphs_the_functions_own_metrics(
    dev_template: Template,
) -> None:
    _, dashboard = only(dev_template, "AWS::CloudWatch::Dashboard")
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = json.loads("".join(part if isinstance(part, str) else "reference" for part in parts))
    graphed = [
        entry
        for widget in body["widgets"]
        for line in widget["properties"].get("metrics", [])
        for entry in line
        if isinstance(entry, str | dict)
    ]
    expressions = {
        entry["expression"] for entry in graphed if isinstance(entry, dict) and "expression" in entry
    }

    for metric in (
        "UploadsRequested",
        "ImagesAvailable",
        "ImagesFailed",
        "DuplicateHints",
        "ProcessingDuration",
    ):
        assert metric in graphed
    assert "SEARCH('{ImageService,code,route,service} MetricName=\"ApiErrors\"', 'Sum', 300)" in expressions
    assert "SEARCH('{ImageService,reason,service} MetricName=\"ImagesRejected\"', 'Sum', 300)" in expressions
