from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template

from image_core.schema import INCOMING_PREFIX, ORIGINALS_PREFIX, VARIANTS_PREFIX
from stacks.settings import StageSettings, host_architecture

from .template_queries import (
    actions,
    api_routes,
    as_list,
    function_by_handler,
    only,
    referenced_ids,
    resources,
    role_statements,
)

# handler -> the exact actions its role may use (from the design's item lifecycle).
API_GRANTS = {
    # s3:PutObject: the presigned POST, to the image's incoming key
    "image_api.upload.handler": {"dynamodb:PutItem", "s3:PutObject"},
    "image_api.list_images.handler": {"dynamodb:Query"},
    "image_api.get_image.handler": {"dynamodb:GetItem"},
    "image_api.download.handler": {"dynamodb:GetItem", "s3:GetObject"},
    "image_api.delete_image.handler": {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "s3:DeleteObject",
        # to find every original and variant of the image
        "s3:ListBucket",
    },
    # the record, and a transaction writing it with its tag items (put, deleted)
    "image_api.edit_image.handler": {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
    },
}
OPENAPI_HANDLER = "image_api.contract.handler"
# handler -> the key prefixes its object actions may touch. Uploads go to the incoming prefix
# only; downloads never reach it (its bytes are unverified); delete removes all three.
OBJECT_PREFIXES = {
    "image_api.upload.handler": [INCOMING_PREFIX],
    "image_api.download.handler": [ORIGINALS_PREFIX, VARIANTS_PREFIX],
    "image_api.delete_image.handler": [INCOMING_PREFIX, ORIGINALS_PREFIX, VARIANTS_PREFIX],
}
ROUTES = {
    ("/images/upload", "POST"): "image_api.upload.handler",
    ("/images", "GET"): "image_api.list_images.handler",
    ("/images/{image_id}", "GET"): "image_api.get_image.handler",
    ("/images/{image_id}", "DELETE"): "image_api.delete_image.handler",
    ("/images/{image_id}", "PATCH"): "image_api.edit_image.handler",
    ("/openapi.json", "GET"): OPENAPI_HANDLER,
    ("/images/{image_id}/download", "GET"): "image_api.download.handler",
}
GATEWAY_RESPONSES = {
    "MISSING_AUTHENTICATION_TOKEN": ("404", "not_found"),
    "RESOURCE_NOT_FOUND": ("404", "not_found"),
    "THROTTLED": ("429", "rate_limited"),
    "BAD_REQUEST_PARAMETERS": ("400", "invalid_parameter"),
    "BAD_REQUEST_BODY": ("400", "invalid_parameter"),
    "DEFAULT_4XX": (None, "invalid_parameter"),
    "DEFAULT_5XX": (None, "internal"),
}


@pytest.mark.parametrize("handler", sorted(API_GRANTS))
def test_given_the_local_stage_when_synthesized_then_each_api_function_runs_python_3_13_on_the_host_arch(
    local_template: Template, handler: str
) -> None:
    _, function = function_by_handler(local_template, handler)

    assert function["Properties"]["Runtime"] == "python3.13"
    assert function["Properties"]["Architectures"] == [host_architecture().name]


@pytest.mark.parametrize("handler", sorted(API_GRANTS))
def test_given_the_local_stage_when_synthesized_then_each_api_function_gets_the_designed_environment(
    local_template: Template, local_settings: StageSettings, handler: str
) -> None:
    _, function = function_by_handler(local_template, handler)
    table_id, _ = only(local_template, "AWS::DynamoDB::Table")
    bucket_id, _ = only(local_template, "AWS::S3::Bucket")

    variables = function["Properties"]["Environment"]["Variables"]

    assert variables["TABLE_NAME"] == {"Ref": table_id}
    assert variables["BUCKET_NAME"] == {"Ref": bucket_id}
    assert variables["S3_PUBLIC_ENDPOINT"] == "http://127.0.0.1:4566"
    assert variables["UPLOAD_URL_EXPIRES_SECONDS"] == "900"
    assert variables["DOWNLOAD_URL_EXPIRES_SECONDS"] == "300"
    assert variables["MAX_UPLOAD_BYTES"] == str(20 * 1024 * 1024)
    assert variables["PENDING_GRACE_SECONDS"] == str(local_settings.pending_grace_seconds)
    assert variables["POWERTOOLS_SERVICE_NAME"] == "image-service"
    assert variables["POWERTOOLS_LOG_LEVEL"] == local_settings.log_level


@pytest.mark.parametrize("handler", sorted(API_GRANTS))
def test_given_each_api_function_when_synthesized_then_it_logs_to_its_own_group_with_the_stage_retention(
    local_template: Template, handler: str
) -> None:
    _, function = function_by_handler(local_template, handler)
    (log_group_id,) = set(referenced_ids(function["Properties"]["LoggingConfig"]["LogGroup"]))

    log_group = resources(local_template, "AWS::Logs::LogGroup")[log_group_id]

    assert log_group["Properties"]["RetentionInDays"] == 1
    assert resources(local_template, "Custom::LogRetention") == {}


def test_given_the_api_functions_when_synthesized_then_they_share_one_code_asset(
    local_template: Template,
) -> None:
    keys = {
        function_by_handler(local_template, handler)[1]["Properties"]["Code"]["S3Key"]
        for handler in API_GRANTS
    }
    processing_key = function_by_handler(local_template, "image_processing.handler.handler")[1]["Properties"][
        "Code"
    ]["S3Key"]

    assert len(keys) == 1
    assert processing_key not in keys


@pytest.mark.parametrize(("handler", "expected"), sorted(API_GRANTS.items()))
def test_given_each_api_function_when_synthesized_then_its_role_grants_exactly_its_calls(
    local_template: Template, handler: str, expected: set[str]
) -> None:
    function_id, _ = function_by_handler(local_template, handler)

    assert actions(role_statements(local_template, function_id)) == expected


@pytest.mark.parametrize("handler", sorted(API_GRANTS))
def test_given_each_api_function_when_synthesized_then_no_statement_uses_a_wildcard_action_or_resource(
    local_template: Template, handler: str
) -> None:
    function_id, _ = function_by_handler(local_template, handler)
    table_id, _ = only(local_template, "AWS::DynamoDB::Table")
    bucket_id, _ = only(local_template, "AWS::S3::Bucket")

    for statement in role_statements(local_template, function_id):
        statement_actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        statement_resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        assert not any("*" in action for action in statement_actions)
        assert "*" not in statement_resources
        if statement_actions == ["s3:ListBucket"]:
            # the bucket, and only names under the originals and variants prefixes
            assert statement_resources == [{"Fn::GetAtt": [bucket_id, "Arn"]}]
            assert statement["Condition"] == {
                "StringLike": {"s3:prefix": [f"{ORIGINALS_PREFIX}*", f"{VARIANTS_PREFIX}*"]}
            }
        elif all(action.startswith("s3:") for action in statement_actions):
            # objects under the handler's prefixes only, never the whole bucket
            assert all(
                resource
                in [
                    {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, f"/{prefix}*"]]}
                    for prefix in OBJECT_PREFIXES[handler]
                ]
                for resource in statement_resources
            )
        else:
            # the table and its own indexes, nothing beside them (no other table, no wildcard ARN)
            table_arn = {"Fn::GetAtt": [table_id, "Arn"]}
            assert table_arn in statement_resources
            assert all(
                resource in [table_arn, {"Fn::Join": ["", [table_arn, "/index/*"]]}]
                for resource in statement_resources
            )


@pytest.mark.parametrize(("handler", "prefixes"), sorted(OBJECT_PREFIXES.items()))
def test_given_each_api_function_with_object_access_when_synthesized_then_it_reaches_exactly_its_prefixes(
    local_template: Template, handler: str, prefixes: list[str]
) -> None:
    function_id, _ = function_by_handler(local_template, handler)
    bucket_id, _ = only(local_template, "AWS::S3::Bucket")

    reached = {
        json.dumps(resource)
        for statement in role_statements(local_template, function_id)
        if statement["Action"] != "s3:ListBucket"
        and all(action.startswith("s3:") for action in as_list(statement["Action"]))
        for resource in as_list(statement["Resource"])
    }

    assert sorted(reached) == sorted(
        json.dumps({"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, f"/{prefix}*"]]})
        for prefix in prefixes
    )


def test_given_the_list_function_when_synthesized_then_its_query_covers_the_indexes(
    local_template: Template,
) -> None:
    function_id, _ = function_by_handler(local_template, "image_api.list_images.handler")
    table_id, _ = only(local_template, "AWS::DynamoDB::Table")

    (statement,) = role_statements(local_template, function_id)

    assert {"Fn::Join": ["", [{"Fn::GetAtt": [table_id, "Arn"]}, "/index/*"]]} in statement["Resource"]


def test_given_the_api_when_synthesized_then_exactly_the_designed_routes_exist(
    local_template: Template,
) -> None:
    routes = {route for route in api_routes(local_template) if route[1] != "OPTIONS"}

    assert routes == set(ROUTES)


@pytest.mark.parametrize(("route", "handler"), sorted(ROUTES.items()))
def test_given_each_route_when_synthesized_then_it_proxies_to_its_own_function(
    local_template: Template, route: tuple[str, str], handler: str
) -> None:
    method = api_routes(local_template)[route]
    function_id, _ = function_by_handler(local_template, handler)

    integration = method["Properties"]["Integration"]

    assert integration["Type"] == "AWS_PROXY"
    assert integration["IntegrationHttpMethod"] == "POST"
    assert function_id in set(referenced_ids(integration["Uri"]))


@pytest.mark.parametrize(
    "path",
    ["/", "/images", "/images/upload", "/images/{image_id}", "/images/{image_id}/download", "/openapi.json"],
)
def test_given_the_local_origins_when_synthesized_then_every_resource_answers_the_cors_preflight(
    local_template: Template, path: str
) -> None:
    method = api_routes(local_template)[(path, "OPTIONS")]

    integration = method["Properties"]["Integration"]
    (response,) = integration["IntegrationResponses"]
    headers = response["ResponseParameters"]

    assert integration["Type"] == "MOCK"
    assert headers["method.response.header.Access-Control-Allow-Origin"] == "'*'"
    # Every method a route has, PATCH included, may be called from a browser
    assert headers["method.response.header.Access-Control-Allow-Methods"] == "'GET,POST,PATCH,DELETE,OPTIONS'"


def test_given_the_openapi_document_function_when_synthesized_then_it_is_granted_nothing(
    local_template: Template,
) -> None:
    function_id, function = function_by_handler(local_template, OPENAPI_HANDLER)

    # No table, bucket or issuer: the document is made from the code alone (and, like every
    # function, it is told where its metrics go and whether it is traced)
    assert role_statements(local_template, function_id) == []
    assert set(function["Properties"]["Environment"]["Variables"]) == {
        "CORS_ALLOWED_ORIGINS",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_LOG_LEVEL",
        # Like every function: its metrics' namespace, and tracing as the stage does it
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_TRACE_DISABLED",
    }


def test_given_the_api_when_synthesized_then_no_method_has_an_authorizer(local_template: Template) -> None:
    # The functions verify tokens themselves; GET /openapi.json is opened in image_api.resolver only
    methods = api_routes(local_template)

    assert {method["Properties"]["AuthorizationType"] for method in methods.values()} == {"NONE"}


def test_given_a_stage_when_synthesized_then_the_api_stage_is_named_after_it_and_throttled(
    local_template: Template, local_settings: StageSettings
) -> None:
    _, stage = only(local_template, "AWS::ApiGateway::Stage")

    assert stage["Properties"]["StageName"] == local_settings.name
    assert stage["Properties"]["MethodSettings"] == [
        {
            "DataTraceEnabled": False,
            "HttpMethod": "*",
            "ResourcePath": "/*",
            "ThrottlingBurstLimit": local_settings.api_throttling_burst_limit,
            "ThrottlingRateLimit": local_settings.api_throttling_rate_limit,
        }
    ]


def test_given_the_api_when_synthesized_then_gateway_errors_are_reshaped_for_each_designed_type(
    local_template: Template,
) -> None:
    types = {
        response["Properties"]["ResponseType"]
        for response in resources(local_template, "AWS::ApiGateway::GatewayResponse").values()
    }

    assert types == set(GATEWAY_RESPONSES)


@pytest.mark.parametrize(("response_type", "expected"), sorted(GATEWAY_RESPONSES.items()))
def test_given_a_gateway_error_when_synthesized_then_its_body_is_the_function_error_envelope(
    local_template: Template, response_type: str, expected: tuple[str | None, str]
) -> None:
    status, code = expected
    (response,) = [
        r["Properties"]
        for r in resources(local_template, "AWS::ApiGateway::GatewayResponse").values()
        if r["Properties"]["ResponseType"] == response_type
    ]
    # API Gateway substitutes an already JSON-quoted string here.
    body = response["ResponseTemplates"]["application/json"].replace(
        "$context.error.messageString", '"message"'
    )

    envelope = json.loads(body)

    assert response.get("StatusCode") == status
    assert set(envelope) == {"error"}
    assert set(envelope["error"]) == {"code", "message"}
    assert envelope["error"]["code"] == code
    assert isinstance(envelope["error"]["message"], str)
    assert response["ResponseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'"
