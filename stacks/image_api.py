"""The REST API: one function per operation behind API Gateway, each with only its own grants."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from image_core import environment as env
from image_core.environment import AuthMode
from image_core.schema import INCOMING_PREFIX, ORIGINALS_PREFIX, VARIANTS_PREFIX
from stacks.python_function_code import python_code_asset
from stacks.service_function import FunctionOptions, ServiceFunction, nag_arn
from stacks.settings import TokenIssuer, WebAcl

INCOMING = f"{INCOMING_PREFIX}*"
ORIGINALS = f"{ORIGINALS_PREFIX}*"
VARIANTS = f"{VARIANTS_PREFIX}*"

# API Gateway's own errors (no route, throttled, malformed request, integration failure)
# reshaped into the functions' envelope: (response type, status or None to keep API
# Gateway's, error code, message or None for $context.error.messageString).
GATEWAY_ERRORS: tuple[tuple[apigw.ResponseType, str | None, str, str | None], ...] = (
    # An unknown route is reported as a missing token; say what it is instead.
    (
        apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
        "404",
        "not_found",
        "no route for this method and path",
    ),
    (apigw.ResponseType.RESOURCE_NOT_FOUND, "404", "not_found", None),
    (apigw.ResponseType.THROTTLED, "429", "rate_limited", None),
    (apigw.ResponseType.BAD_REQUEST_PARAMETERS, "400", "invalid_parameter", None),
    (apigw.ResponseType.BAD_REQUEST_BODY, "400", "invalid_parameter", None),
    # The rest keep their status (403, 413, 415, ...); all are the caller's to fix.
    (apigw.ResponseType.DEFAULT_4_XX, None, "invalid_parameter", None),
    # Keeps 502/503/504 apart for clients that retry; the message carries no details.
    (apigw.ResponseType.DEFAULT_5_XX, None, "internal", None),
)


# One JSON line per request. requestId is also the correlation id in the functions' log lines
# (Powertools reads it from the request context), so one request is found in both.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integration.status",
    "errorMessage": "$context.error.message",
    "wafStatus": "$context.waf.status",
    "xrayTraceId": "$context.xrayTraceId",
}
# AWS's managed rule group against common web exploits (OWASP), in the WAF in front of the API.
COMMON_RULE_SET = "AWSManagedRulesCommonRuleSet"


@dataclass(frozen=True, kw_only=True)
class AccessLogs:
    """Where the API stage logs: access logs kept ``retention``, and whether this stack creates
    API Gateway's logging role for the account."""

    retention: logs.RetentionDays
    removal_policy: RemovalPolicy
    create_cloudwatch_role: bool


def gateway_error_template(code: str, message: str | None) -> str:
    # $context.error.messageString is already a quoted JSON string.
    rendered_message = json.dumps(message) if message is not None else "$context.error.messageString"
    return f'{{"error": {{"code": {json.dumps(code)}, "message": {rendered_message}}}}}'


class ImageApi(Construct):
    """Routes, functions and grants of the image API.

    Exposes ``rest_api``, ``stage`` and one ``ServiceFunction`` per operation
    (``upload``, ``list_images``, ``get_image``, ``edit_image``, ``download``, ``delete_image``,
    and ``openapi_document``, which serves the API's OpenAPI document).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        bucket: s3.IBucket,
        function_options: FunctionOptions,
        stage_name: str,
        cors_allowed_origins: Sequence[str],
        throttling_rate_limit: float,
        throttling_burst_limit: int,
        s3_public_endpoint: str,
        upload_url_expires_seconds: int,
        download_url_expires_seconds: int,
        max_upload_bytes: int,
        pending_grace_seconds: int,
        auth_mode: AuthMode,
        token_issuer: TokenIssuer | None,
        listing_environment: Mapping[str, str],
        access_logs: AccessLogs | None = None,
        web_acl: WebAcl | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # One asset for the API's functions: each loads only the module its handler names.
        code = python_code_asset(package="image_api", architecture=function_options.architecture)
        environment = {
            env.TABLE_NAME: table.table_name,
            env.BUCKET_NAME: bucket.bucket_name,
            env.S3_PUBLIC_ENDPOINT: s3_public_endpoint,
            env.UPLOAD_URL_EXPIRES_SECONDS: str(upload_url_expires_seconds),
            env.DOWNLOAD_URL_EXPIRES_SECONDS: str(download_url_expires_seconds),
            env.MAX_UPLOAD_BYTES: str(max_upload_bytes),
            env.PENDING_GRACE_SECONDS: str(pending_grace_seconds),
            # Proxy responses carry their own CORS headers (API Gateway answers only preflights).
            env.CORS_ALLOWED_ORIGINS: ",".join(cors_allowed_origins),
            # The table's layout (metadata_table.listing_environment); its AUTH_MODE is the same.
            **listing_environment,
            **_auth_environment(auth_mode, token_issuer),
        }

        def function(
            construct_id: str, handler: str, description: str, variables: Mapping[str, str] = environment
        ) -> ServiceFunction:
            return ServiceFunction(
                self,
                construct_id,
                handler=handler,
                code=code,
                environment=variables,
                options=function_options,
                description=description,
            )

        self.upload = function("Upload", "image_api.upload.handler", "POST /images/upload")
        self.list_images = function("ListImages", "image_api.list_images.handler", "GET /images")
        self.get_image = function("GetImage", "image_api.get_image.handler", "GET /images/{image_id}")
        self.download = function("Download", "image_api.download.handler", "GET /images/{image_id}/download")
        self.delete_image = function(
            "DeleteImage", "image_api.delete_image.handler", "DELETE /images/{image_id}"
        )
        self.edit_image = function("EditImage", "image_api.edit_image.handler", "PATCH /images/{image_id}")
        # The document is made from the code alone: it reads no table, bucket or token.
        self.openapi_document = function(
            "OpenApiDocument",
            "image_api.contract.handler",
            "GET /openapi.json",
            {env.CORS_ALLOWED_ORIGINS: environment[env.CORS_ALLOWED_ORIGINS]},
        )

        # Exactly the calls each operation makes (image_api.use_cases -> image_core.repository, .storage):
        # upload PutItem + a presigned POST to the image's incoming key (signed with
        # s3:PutObject); list Query on an index; get GetItem; download GetItem + a presigned
        # GET of an original or a variant (s3:GetObject; never of the incoming prefix, whose
        # bytes are unverified); delete GetItem, then a transaction of UpdateItem (hide) +
        # DeleteItem (tag items), DeleteObject of the upload, ListBucket + DeleteObject(s) of
        # the originals and variants, DeleteItem; edit GetItem, then a transaction of UpdateItem
        # (the record) + PutItem and DeleteItem (tag items). The OpenAPI document's function
        # makes no AWS call and is granted nothing.
        # Table.grant also names the table's indexes, which only Query can use.
        objects = s3.BucketGrants.from_bucket(bucket)
        table.grant(self.upload.function, "dynamodb:PutItem")
        objects.actions_on_object_keys(self.upload.function, INCOMING, "s3:PutObject")
        table.grant(self.list_images.function, "dynamodb:Query")
        table.grant(self.get_image.function, "dynamodb:GetItem")
        table.grant(self.download.function, "dynamodb:GetItem")
        objects.actions_on_object_keys(self.download.function, ORIGINALS, "s3:GetObject")
        objects.actions_on_object_keys(self.download.function, VARIANTS, "s3:GetObject")
        table.grant(
            self.delete_image.function, "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"
        )
        table.grant(
            self.edit_image.function,
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
        )
        objects.actions_on_object_keys(self.delete_image.function, INCOMING, "s3:DeleteObject")
        objects.actions_on_object_keys(self.delete_image.function, ORIGINALS, "s3:DeleteObject")
        objects.actions_on_object_keys(self.delete_image.function, VARIANTS, "s3:DeleteObject")
        # Listing finds every original and variant of every revision; only under those prefixes.
        self.delete_image.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [ORIGINALS, VARIANTS]}},
            )
        )

        self.access_log_group: logs.LogGroup | None = None
        logging: dict[str, Any] = {}
        if access_logs is not None:
            self.access_log_group = logs.LogGroup(
                self, "AccessLogs", retention=access_logs.retention, removal_policy=access_logs.removal_policy
            )
            logging = {
                "access_log_destination": apigw.LogGroupLogDestination(self.access_log_group),
                "access_log_format": apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
                # Execution logs of failed requests only: INFO would log every request twice.
                "logging_level": apigw.MethodLoggingLevel.ERROR,
            }
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{Stack.of(self).stack_name}-api",
            description="Image upload and metadata API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # API Gateway logs through one role per account and region (AWS::ApiGateway::Account):
            # created here for a fresh account, left to the account's baseline where it owns it.
            cloud_watch_role=access_logs is not None and access_logs.create_cloudwatch_role,
            deploy_options=apigw.StageOptions(
                stage_name=stage_name,
                throttling_rate_limit=throttling_rate_limit,
                throttling_burst_limit=throttling_burst_limit,
                tracing_enabled=function_options.tracing,
                **logging,
            ),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=list(cors_allowed_origins),
                allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=apigw.Cors.DEFAULT_HEADERS,
                max_age=Duration.hours(1),
            ),
        )
        self.stage = self.rest_api.deployment_stage
        # RestApi adds its own URL output; the stack outputs it as ApiUrl instead.
        self.rest_api.node.try_remove_child("Endpoint")

        images = self.rest_api.root.add_resource("images")
        image = images.add_resource("{image_id}")
        _route(images.add_resource("upload"), "POST", self.upload)
        _route(images, "GET", self.list_images)
        _route(image, "GET", self.get_image)
        _route(image, "DELETE", self.delete_image)
        _route(image, "PATCH", self.edit_image)
        _route(image.add_resource("download"), "GET", self.download)
        # Answered without a token (image_api.resolver.ANSWERED_WITHOUT_TOKEN); like every route,
        # without an authorizer (the functions verify tokens themselves: APIG4 below).
        _route(self.rest_api.root.add_resource("openapi.json"), "GET", self.openapi_document)

        for response_type, status_code, error_code, message in GATEWAY_ERRORS:
            self.rest_api.add_gateway_response(
                f"{response_type.response_type}Response",
                type=response_type,
                status_code=status_code,
                # These bodies carry no data, and a static header cannot name one of several
                # origins, so any origin may read them.
                response_headers={"Access-Control-Allow-Origin": "'*'"},
                templates={"application/json": gateway_error_template(error_code, message)},
            )

        self.web_acl = _web_acl(self, self.stage, web_acl) if web_acl is not None else None

        self._acknowledge_findings(table, bucket, access_logs=access_logs, web_acl=web_acl)

    def _acknowledge_findings(
        self,
        table: dynamodb.ITable,
        bucket: s3.IBucket,
        *,
        access_logs: AccessLogs | None,
        web_acl: WebAcl | None,
    ) -> None:
        Validations.of(self.rest_api).acknowledge(
            Acknowledgment(
                id="AwsSolutions-APIG2",
                reason="Each function validates its own input (Pydantic) and answers invalid_parameter "
                "naming the parameter; a second, coarser validator in API Gateway would disagree with it.",
            ),
            Acknowledgment(
                id="AwsSolutions-APIG4",
                reason="Every function verifies the caller's bearer token itself (image_api.auth) "
                "before any data is touched; the local cloud runs no authorizers, so an authorizer "
                "would be a second check that no test could exercise. GET /openapi.json answers "
                "without a token: the API's description holds nothing secret and touches no data.",
            ),
            Acknowledgment(
                id="AwsSolutions-COG4",
                reason="Tokens of the Cognito user pool (or the configured issuer) are verified in "
                "every function against the issuer's JWKS, not by an API Gateway authorizer (APIG4).",
            ),
        )
        if access_logs is None:
            Validations.of(self.rest_api).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-APIG1",
                    reason="The local cloud has no API Gateway logging role; the functions log every "
                    "request. AWS stages write access logs.",
                ),
                Acknowledgment(
                    id="AwsSolutions-APIG6",
                    reason="The local cloud has no API Gateway logging role (see APIG1); AWS stages "
                    "write execution logs of errors.",
                ),
            )
        elif access_logs.create_cloudwatch_role:
            Validations.of(self.rest_api).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AmazonAPIGatewayPushToCloudWatchLogs]",
                    reason="API Gateway's account-wide logging role, with the AWS managed policy made "
                    "for it: it lets API Gateway write its logs and nothing else.",
                )
            )
        if web_acl is None:
            Validations.of(self.rest_api).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-APIG3",
                    reason="No WAF in this stage (prod has one; -c web_acl_rate_limit=<n> adds one); "
                    "throttling per stage limits abuse.",
                )
            )
        index_arns = f"{nag_arn(table)}/index/*"
        for operation in (
            self.upload,
            self.list_images,
            self.get_image,
            self.edit_image,
            self.download,
            self.delete_image,
        ):
            operation.acknowledge_wildcard_resource(
                index_arns,
                "Table.grant names the table's listing indexes with /index/*; only Query uses them.",
            )
        for operation in (self.upload, self.delete_image):
            operation.acknowledge_wildcard_resource(
                f"{nag_arn(bucket)}/{INCOMING}",
                "Uploads are keyed by image id; the grant is limited to the incoming prefix.",
            )
        for operation in (self.download, self.delete_image):
            operation.acknowledge_wildcard_resource(
                f"{nag_arn(bucket)}/{ORIGINALS}",
                "Originals are keyed by image id and revision; the grant is limited to the originals prefix.",
            )
            operation.acknowledge_wildcard_resource(
                f"{nag_arn(bucket)}/{VARIANTS}",
                "Variants are keyed by image id and revision; the grant is limited to the variants prefix.",
            )


def _web_acl(scope: Construct, stage: apigw.Stage, settings: WebAcl) -> wafv2.CfnWebACL:
    """AWS's managed common rule set (bad inputs, oversized bodies, known exploits) and a rate
    limit per client IP, in front of the API stage."""

    def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
        return wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
        )

    acl = wafv2.CfnWebACL(
        scope,
        "WebAcl",
        scope="REGIONAL",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=visibility("image-api"),
        rules=[
            wafv2.CfnWebACL.RuleProperty(
                name="aws-common-rule-set",
                priority=0,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=COMMON_RULE_SET
                    )
                ),
                visibility_config=visibility("aws-common-rule-set"),
            ),
            wafv2.CfnWebACL.RuleProperty(
                name="rate-per-client-ip",
                priority=1,
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        limit=settings.requests_per_ip_per_5_minutes, aggregate_key_type="IP"
                    )
                ),
                visibility_config=visibility("rate-per-client-ip"),
            ),
        ],
    )
    wafv2.CfnWebACLAssociation(
        scope, "WebAclAssociation", resource_arn=stage.stage_arn, web_acl_arn=acl.attr_arn
    )
    return acl


def _auth_environment(auth_mode: AuthMode, token_issuer: TokenIssuer | None) -> dict[str, str]:
    """The functions' AUTH_* variables (image_api.settings.AuthSettings)."""
    if auth_mode is AuthMode.NONE:
        return {env.AUTH_MODE: auth_mode.value}
    if token_issuer is None:
        raise ValueError("the API verifies tokens: it needs the issuer whose tokens it accepts")
    return {
        env.AUTH_MODE: auth_mode.value,
        env.AUTH_ISSUER: token_issuer.issuer,
        env.AUTH_AUDIENCE: ",".join(token_issuer.audiences),
        env.AUTH_JWKS_URL: token_issuer.jwks_url,
        env.AUTH_JWKS: token_issuer.jwks,
        env.AUTH_IDENTITY_CLAIM: token_issuer.identity_claim,
    }


def _route(resource: apigw.IResource, method: str, operation: ServiceFunction) -> None:
    # No test-invoke permission: the console's test button would call the function outside any stage.
    resource.add_method(method, apigw.LambdaIntegration(operation.function, allow_test_invoke=False))
