from __future__ import annotations

import pytest
from aws_cdk import RemovalPolicy, Stack
from aws_cdk.assertions import Template

from image_core import schema
from stacks.image_bucket import ImageBucket

from .conftest import offline_app
from .template_queries import Resource, as_list, only, resources

ORIGINS = ("https://images.example.com", "http://localhost:5173")
UNVERIFIED_DAYS = 3


def _synth(removal_policy: RemovalPolicy) -> Template:
    stack = Stack(offline_app(), "BucketTest")
    ImageBucket(
        stack,
        "Images",
        cors_allowed_origins=ORIGINS,
        removal_policy=removal_policy,
        unverified_upload_expiration_days=UNVERIFIED_DAYS,
    )
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def template() -> Template:
    return _synth(RemovalPolicy.DESTROY)


@pytest.fixture(scope="module")
def bucket(template: Template) -> Resource:
    return only(template, "AWS::S3::Bucket")[1]


def test_given_the_bucket_when_built_then_all_public_access_is_blocked(bucket: Resource) -> None:
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


def test_given_the_bucket_when_built_then_objects_are_encrypted_with_s3_managed_keys(
    bucket: Resource,
) -> None:
    assert bucket["Properties"]["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }


def test_given_the_bucket_when_built_then_its_policy_denies_every_request_without_tls(
    template: Template,
) -> None:
    _, policy = only(template, "AWS::S3::BucketPolicy")

    denials = [
        statement
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]

    assert len(denials) == 1
    assert denials[0]["Action"] == "s3:*"
    assert denials[0]["Principal"] == {"AWS": "*"}
    bucket_arn = {"Fn::GetAtt": [only(template, "AWS::S3::Bucket")[0], "Arn"]}
    # the bucket itself and every one of its objects, by name
    assert as_list(denials[0]["Resource"]) == [bucket_arn, {"Fn::Join": ["", [bucket_arn, "/*"]]}]


def test_given_origins_when_built_then_browsers_from_them_may_upload_and_download(bucket: Resource) -> None:
    (rule,) = bucket["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == list(ORIGINS)
    assert set(rule["AllowedMethods"]) == {"POST", "PUT", "GET", "HEAD"}
    assert rule["AllowedHeaders"] == ["*"]


def test_given_the_bucket_when_built_then_incomplete_multipart_uploads_are_aborted_after_a_day(
    bucket: Resource,
) -> None:
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        "Status": "Enabled",
    }.items() <= next(rule for rule in rules if "AbortIncompleteMultipartUpload" in rule).items()


def test_given_the_bucket_when_built_then_uploads_still_unprocessed_after_the_set_days_expire(
    bucket: Resource,
) -> None:
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]

    (rule,) = [rule for rule in rules if rule.get("Id") == "expire-unprocessed-uploads"]

    # Only the incoming prefix, which processing empties once it has decided about an upload:
    # an original processing accepted (under its own prefix) is never expired by it.
    assert rule == {
        "Id": "expire-unprocessed-uploads",
        "Status": "Enabled",
        "Prefix": schema.INCOMING_PREFIX,
        "ExpirationInDays": UNVERIFIED_DAYS,
    }
    assert not any(
        prefix.startswith(schema.INCOMING_PREFIX)
        for prefix in (schema.ORIGINALS_PREFIX, schema.VARIANTS_PREFIX)
    )


def test_given_the_bucket_when_built_then_it_has_exactly_the_two_lifecycle_rules(bucket: Resource) -> None:
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]

    assert sorted(rule.get("Id", "") for rule in rules) == [
        "abort-incomplete-multipart-uploads",
        "expire-unprocessed-uploads",
    ]


def test_given_destroy_when_built_then_the_bucket_and_its_objects_go_with_the_stack(
    template: Template, bucket: Resource
) -> None:
    assert bucket["DeletionPolicy"] == "Delete"
    (auto_delete,) = resources(template, "Custom::S3AutoDeleteObjects").values()
    assert auto_delete["Properties"]["BucketName"] == {"Ref": only(template, "AWS::S3::Bucket")[0]}


def test_given_retain_when_built_then_the_bucket_and_its_objects_are_kept() -> None:
    template = _synth(RemovalPolicy.RETAIN)

    _, bucket = only(template, "AWS::S3::Bucket")
    assert bucket["DeletionPolicy"] == "Retain"
    assert resources(template, "Custom::S3AutoDeleteObjects") == {}
