"""The web gallery in the AWS stages: a private bucket behind CloudFront, its headers, its
sign-in, and the CORS it adds to the API and the image bucket. None of it in the local stage."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Template

import app as cdk_app
from stacks.image_service_stack import ImageServiceStack
from stacks.settings import Authentication, TokenIssuer, stage_settings

from .conftest import LOCAL_AUTHENTICATION, PROD_ORIGINS, offline_app, synth_stack
from .template_queries import Resource, as_list, function_by_handler, image_bucket, only, resources

LIST_HANDLER = "image_api.list_images.handler"


def _logical_id(stack: Stack, construct: Any) -> str:
    return stack.get_logical_id(construct.node.default_child)


@pytest.fixture(scope="module")
def stack(prod_stack: ImageServiceStack) -> ImageServiceStack:
    return prod_stack


@pytest.fixture(scope="module")
def template(prod_template: Template) -> Template:
    return prod_template


@pytest.fixture(scope="module")
def distribution_id(stack: ImageServiceStack) -> str:
    assert stack.gallery is not None
    return _logical_id(stack, stack.gallery.distribution)


@pytest.fixture(scope="module")
def site_bucket_id(stack: ImageServiceStack) -> str:
    assert stack.gallery is not None
    return _logical_id(stack, stack.gallery.bucket)


@pytest.fixture(scope="module")
def distribution(template: Template) -> Resource:
    return only(template, "AWS::CloudFront::Distribution")[1]["Properties"]["DistributionConfig"]


def _domain_name(distribution_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [distribution_id, "DomainName"]}


def _gallery_origin(distribution_id: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["https://", _domain_name(distribution_id)]]}


def test_the_site_bucket_is_private_encrypted_and_tls_only(template: Template, site_bucket_id: str) -> None:
    bucket = resources(template, "AWS::S3::Bucket")[site_bucket_id]["Properties"]

    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert "WebsiteConfiguration" not in bucket
    statements = _site_policy(template, site_bucket_id)
    assert any(
        statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for statement in statements
    )


def _site_policy(template: Template, site_bucket_id: str) -> list[Resource]:
    (policy,) = [
        policy
        for policy in resources(template, "AWS::S3::BucketPolicy").values()
        if policy["Properties"]["Bucket"] == {"Ref": site_bucket_id}
    ]
    statements: list[Resource] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_only_this_distribution_may_read_the_site_through_origin_access_control(
    template: Template, site_bucket_id: str, distribution_id: str, distribution: Resource
) -> None:
    _, access_control = only(template, "AWS::CloudFront::OriginAccessControl")
    config = access_control["Properties"]["OriginAccessControlConfig"]
    assert (
        config["OriginAccessControlOriginType"],
        config["SigningBehavior"],
        config["SigningProtocol"],
    ) == (
        "s3",
        "always",
        "sigv4",
    )
    (origin,) = distribution["Origins"]
    assert "OriginAccessControlId" in origin
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy identity

    allows = [
        statement for statement in _site_policy(template, site_bucket_id) if statement["Effect"] == "Allow"
    ]
    (grant,) = allows
    assert grant["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert as_list(grant["Action"]) == ["s3:GetObject"]
    source = json.dumps(grant["Condition"]["StringEquals"]["AWS:SourceArn"])
    assert distribution_id in source


def test_viewers_get_https_only_and_the_app_for_every_path(distribution: Resource) -> None:
    behaviors = [distribution["DefaultCacheBehavior"], *distribution["CacheBehaviors"]]

    assert {behavior["ViewerProtocolPolicy"] for behavior in behaviors} == {"redirect-to-https"}
    assert {behavior["AllowedMethods"] == ["GET", "HEAD"] for behavior in behaviors} == {True}
    assert distribution["DefaultRootObject"] == "index.html"
    assert sorted(
        (error["ErrorCode"], error["ResponseCode"], error["ResponsePagePath"])
        for error in distribution["CustomErrorResponses"]
    ) == [(403, 200, "/index.html"), (404, 200, "/index.html")]
    # config.json and index.html are never cached: a deploy shows at once
    assert {behavior["PathPattern"] for behavior in distribution["CacheBehaviors"]} == {
        "/config.json",
        "/index.html",
    }


def test_every_answer_carries_the_security_headers(
    template: Template, stack: ImageServiceStack, distribution: Resource
) -> None:
    policy_id, policy = only(template, "AWS::CloudFront::ResponseHeadersPolicy")
    behaviors = [distribution["DefaultCacheBehavior"], *distribution["CacheBehaviors"]]
    assert {json.dumps(behavior["ResponseHeadersPolicyId"]) for behavior in behaviors} == {
        json.dumps({"Ref": policy_id})
    }
    headers = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]

    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31_536_000
    assert headers["StrictTransportSecurity"]["IncludeSubdomains"] is True
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["ContentTypeOptions"]["Override"] is True
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == "strict-origin-when-cross-origin"
    csp = json.dumps(headers["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ):
        assert directive in csp
    # The page may call the API and the sign-in service, and post and show the bucket's presigned URLs
    connect = csp.split("connect-src", 1)[1].split(";", 1)[0]
    assert _logical_id(stack, stack.api.rest_api) in connect
    assert "execute-api" in connect
    assert stack.users is not None
    assert stack.users.domain is not None
    assert _logical_id(stack, stack.users.domain) in connect
    assert "https://*.s3." in connect
    assert "https://*.s3." in csp.split("img-src", 1)[1].split(";", 1)[0]


def test_the_api_and_the_bucket_allow_exactly_the_gallery_and_the_stage_origins(
    template: Template, distribution_id: str
) -> None:
    gallery = _gallery_origin(distribution_id)
    _, bucket = image_bucket(template)
    (rule,) = bucket["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == [*PROD_ORIGINS, gallery]

    _, function = function_by_handler(template, LIST_HANDLER)
    allowed = function["Properties"]["Environment"]["Variables"]["CORS_ALLOWED_ORIGINS"]
    assert json.dumps(allowed) == json.dumps(
        {"Fn::Join": ["", [",".join(PROD_ORIGINS) + ",https://", _domain_name(distribution_id)]]}
    )


def test_cognito_managed_login_signs_in_to_the_gallery_with_the_code_flow(
    template: Template, distribution_id: str
) -> None:
    _, domain = only(template, "AWS::Cognito::UserPoolDomain")
    assert "image-gallery-prod-" in json.dumps(domain["Properties"]["Domain"])
    _, client = only(template, "AWS::Cognito::UserPoolClient")
    properties = client["Properties"]
    gallery_url = {"Fn::Join": ["", ["https://", _domain_name(distribution_id), "/"]]}

    assert properties["AllowedOAuthFlows"] == ["code"]
    assert properties["AllowedOAuthFlowsUserPoolClient"] is True
    assert "openid" in properties["AllowedOAuthScopes"]
    assert properties["CallbackURLs"] == [gallery_url]
    assert properties["LogoutURLs"] == [gallery_url]
    assert properties["GenerateSecret"] is False  # a browser keeps no secret: PKCE instead


def test_the_site_and_its_config_are_deployed_with_the_stacks_values(
    template: Template, stack: ImageServiceStack, site_bucket_id: str
) -> None:
    _, deployment = only(template, "Custom::CDKBucketDeployment")
    properties = deployment["Properties"]
    assert properties["DestinationBucketName"] == {"Ref": site_bucket_id}
    assert "/config.json" in properties["DistributionPaths"]
    # config.json's values are the stack's own (filled in at deploy time): API URL, sign-in
    markers = json.dumps(properties["SourceMarkers"])
    assert _logical_id(stack, stack.api.rest_api) in markers
    assert stack.users is not None
    assert _logical_id(stack, stack.users.client) in markers


def test_the_local_stage_has_no_gallery_resources(local_template: Template) -> None:
    for resource_type in (
        "AWS::CloudFront::Distribution",
        "Custom::CDKBucketDeployment",
        "AWS::Cognito::UserPoolDomain",
    ):
        assert resources(local_template, resource_type) == {}


def test_an_external_issuer_signs_in_to_the_gallery_with_the_named_client() -> None:
    issuer = TokenIssuer(
        issuer="https://login.example.com/realm",
        audiences=("image-api", "gallery-web"),
        jwks_url="https://login.example.com/realm/jwks",
    )
    settings = stage_settings(
        "dev", authentication=Authentication(token_issuer=issuer, gallery_client_id="gallery-web")
    )
    template = Template.from_stack(synth_stack(settings))

    assert resources(template, "AWS::Cognito::UserPool") == {}
    only(template, "Custom::CDKBucketDeployment")
    only(template, "AWS::CloudFront::Distribution")
    _, policy = only(template, "AWS::CloudFront::ResponseHeadersPolicy")
    csp = json.dumps(policy["Properties"]["ResponseHeadersPolicyConfig"])
    assert "https://login.example.com" in csp.split("connect-src", 1)[1]


def test_a_gallery_client_that_is_not_an_audience_is_refused() -> None:
    issuer = TokenIssuer(
        issuer="https://login.example.com",
        audiences=("image-api",),
        jwks_url="https://login.example.com/jwks",
    )
    with pytest.raises(ValueError, match="must be one of the issuer's audiences"):
        Authentication(token_issuer=issuer, gallery_client_id="someone-else")


def test_synthesizing_an_aws_stage_without_a_built_site_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="make gallery-build"):
        cdk_app.build(offline_app(stage="dev", gallery_site=str(tmp_path / "missing")))


def test_the_local_stage_cannot_have_a_cloudfront_gallery() -> None:
    with pytest.raises(ValueError, match="CloudFront"):
        dataclasses.replace(stage_settings("local", authentication=LOCAL_AUTHENTICATION), web_gallery=True)


def test_the_sign_in_pages_are_cognitos_managed_login_in_its_own_style(template: Template) -> None:
    _, domain = only(template, "AWS::Cognito::UserPoolDomain")
    _, style = only(template, "AWS::Cognito::ManagedLoginBranding")
    client_id, _ = only(template, "AWS::Cognito::UserPoolClient")

    assert domain["Properties"]["ManagedLoginVersion"] == 2
    assert style["Properties"]["ClientId"] == {"Ref": client_id}
    assert style["Properties"]["UseCognitoProvidedValues"] is True


def test_an_aws_stage_without_the_gallery_needs_no_built_site(tmp_path: Path) -> None:
    app = offline_app(stage="dev", web_gallery="false", gallery_site=str(tmp_path / "missing"))
    template = Template.from_stack(cdk_app.build(app))

    assert resources(template, "AWS::CloudFront::Distribution") == {}
    assert resources(template, "AWS::Cognito::UserPoolDomain") == {}
    _, client = only(template, "AWS::Cognito::UserPoolClient")
    assert client["Properties"]["AllowedOAuthFlowsUserPoolClient"] is False
    _, bucket = image_bucket(template)
    assert bucket["Properties"]["CorsConfiguration"]["CorsRules"][0]["AllowedOrigins"] == [
        "http://localhost:3000",
        "http://localhost:5173",
    ]
