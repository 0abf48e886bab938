from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from aws_cdk import RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

import app as cdk_app
from stacks.settings import LOCAL_FAULT_TAG, STAGE_NAMES, StageSettings, host_architecture, stage_settings

from .conftest import LOCAL_AUTHENTICATION, offline_app
from .template_queries import function_by_handler


def test_given_the_registry_then_it_has_exactly_local_dev_and_prod() -> None:
    assert STAGE_NAMES == ("local", "dev", "prod")


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        ("x86_64", lambda_.Architecture.X86_64),
        ("AMD64", lambda_.Architecture.X86_64),
        ("arm64", lambda_.Architecture.ARM_64),
        ("aarch64", lambda_.Architecture.ARM_64),
    ],
)
def test_given_a_machine_name_when_mapped_then_it_gives_the_matching_lambda_architecture(
    machine: str, expected: lambda_.Architecture
) -> None:
    assert host_architecture(machine).name == expected.name


def test_given_an_unknown_machine_when_mapped_then_it_fails() -> None:
    with pytest.raises(ValueError, match="riscv64"):
        host_architecture("riscv64")


def test_given_local_then_it_runs_on_the_host_signs_for_the_local_cloud_and_is_disposable() -> None:
    local = stage_settings("local", authentication=LOCAL_AUTHENTICATION)

    assert local.lambda_architecture.name == host_architecture().name
    assert local.s3_public_endpoint == "http://127.0.0.1:4566"
    assert local.removal_policy == RemovalPolicy.DESTROY
    assert local.destroy_data_with_stack
    assert not local.point_in_time_recovery
    assert local.cors_allowed_origins == ("*",)


def test_given_dev_then_it_runs_on_arm64_allows_local_front_ends_and_is_disposable() -> None:
    dev = stage_settings("dev")

    assert dev.lambda_architecture.name == lambda_.Architecture.ARM_64.name
    assert dev.s3_public_endpoint == ""
    assert dev.removal_policy == RemovalPolicy.DESTROY
    assert "*" not in dev.cors_allowed_origins
    assert all(origin.startswith("http://localhost:") for origin in dev.cors_allowed_origins)


def test_given_prod_with_origins_then_it_keeps_data_with_pitr_on_arm64_for_those_origins() -> None:
    prod = stage_settings("prod", cors_origins=["https://images.example.com"])

    assert prod.lambda_architecture.name == lambda_.Architecture.ARM_64.name
    assert prod.removal_policy == RemovalPolicy.RETAIN
    assert not prod.destroy_data_with_stack
    assert prod.point_in_time_recovery
    assert prod.cors_allowed_origins == ("https://images.example.com",)
    assert prod.s3_public_endpoint == ""


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_given_any_stage_then_urls_expire_as_designed_and_uploads_are_capped_at_20_mib(name: str) -> None:
    # The local cloud has no Cognito: the local stage verifies the development issuer's tokens.
    authentication = LOCAL_AUTHENTICATION if name == "local" else None
    settings = stage_settings(
        name, cors_origins=["https://images.example.com"], authentication=authentication
    )

    assert settings.upload_url_expires_seconds == 900
    assert settings.download_url_expires_seconds == 300
    assert settings.max_upload_bytes == 20 * 1024 * 1024
    assert settings.stack_name == f"ImageService-{name}"


def test_given_settings_then_they_are_frozen_and_keyword_only() -> None:
    settings = stage_settings("local", authentication=LOCAL_AUTHENTICATION)

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        StageSettings("local")  # type: ignore[call-arg]


def test_given_a_wildcard_among_other_origins_then_the_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="only CORS origin"):
        stage_settings("dev", cors_origins=["*", "https://images.example.com"])


@pytest.mark.parametrize(
    ("context_value", "expected"),
    [
        (None, None),
        ("https://a.example, https://b.example", ["https://a.example", "https://b.example"]),
        (["https://a.example"], ["https://a.example"]),
        ("", []),
    ],
)
def test_given_cors_origins_in_the_context_when_parsed_then_they_become_a_list(
    context_value: object, expected: list[str] | None
) -> None:
    assert cdk_app._origins(context_value) == expected


def test_local_cloud_on_another_port_gets_presigned_urls_for_that_port() -> None:
    # Given the local cloud listening on 4567 (LOCALCLOUD_PORT), which make passes on
    settings = stage_settings(
        "local", s3_public_endpoint="http://127.0.0.1:4567", authentication=LOCAL_AUTHENTICATION
    )

    # Then presigned URLs are signed for it, and nothing else changes
    assert settings.s3_public_endpoint == "http://127.0.0.1:4567"
    assert (
        settings.removal_policy == stage_settings("local", authentication=LOCAL_AUTHENTICATION).removal_policy
    )


# --- processing ---------------------------------------------------------------------------------


def test_given_local_then_processing_fails_on_purpose_for_the_fault_tag_and_no_other_stage_does() -> None:
    assert (
        stage_settings("local", authentication=LOCAL_AUTHENTICATION).processing_fault_tag == LOCAL_FAULT_TAG
    )
    assert stage_settings("dev").processing_fault_tag is None
    assert stage_settings("prod", cors_origins=["https://images.example.com"]).processing_fault_tag is None


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_given_a_fault_tag_for_a_stage_that_is_not_for_tests_then_the_settings_are_rejected(
    name: str,
) -> None:
    with pytest.raises(ValueError, match=r"processing_fault_tag .* only local may set it"):
        stage_settings(name, cors_origins=["https://images.example.com"], processing_fault_tag="boom")
    settings = stage_settings(name, cors_origins=["https://images.example.com"])
    with pytest.raises(ValueError, match="processing_fault_tag"):
        dataclasses.replace(settings, processing_fault_tag="boom")


def test_given_prod_with_a_fault_tag_in_the_app_context_when_built_then_synthesis_fails() -> None:
    app = offline_app(
        stage="prod", cors_origins="https://images.example.com", processing_fault_tag="inject-failure"
    )

    with pytest.raises(ValueError, match="processing_fault_tag"):
        cdk_app.build(app)


def test_given_local_with_another_fault_tag_in_the_app_context_when_built_then_processing_gets_it(
    dev_issuer_file: Path,
) -> None:
    stack = cdk_app.build(
        offline_app(stage="local", dev_issuer=str(dev_issuer_file), processing_fault_tag="fail-here")
    )

    _, function = function_by_handler(Template.from_stack(stack), "image_processing.handler.handler")
    assert function["Properties"]["Environment"]["Variables"]["PROCESSING_FAULT_TAG"] == "fail-here"


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_given_any_stage_then_images_are_limited_to_50_megapixels_and_failures_retried_twice(
    name: str,
) -> None:
    authentication = LOCAL_AUTHENTICATION if name == "local" else None
    settings = stage_settings(
        name, cors_origins=["https://images.example.com"], authentication=authentication
    )

    assert settings.max_image_pixels == 50_000_000
    assert settings.processing_retry_attempts == 2
    # A late upload finds its record: the grace outlasts the oldest event processing takes on
    assert settings.pending_grace_seconds > (
        settings.processing_max_event_age_seconds + settings.processing_function.timeout_seconds
    )


def test_given_a_grace_shorter_than_processing_may_take_then_the_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="pending_grace_seconds must exceed"):
        dataclasses.replace(
            stage_settings("local", authentication=LOCAL_AUTHENTICATION), pending_grace_seconds=600
        )


@pytest.mark.parametrize(
    ("shards", "read_shards"),
    [
        pytest.param(0, None, id="no shard"),
        pytest.param(16, 8, id="reading fewer than written"),
        pytest.param(64, None, id="more than a page may query"),
    ],
)
def test_given_listing_shards_that_would_lose_images_or_cost_too_much_then_the_settings_are_rejected(
    shards: int, read_shards: int | None
) -> None:
    with pytest.raises(ValueError, match="stage 'dev': listing shards"):
        dataclasses.replace(stage_settings("dev"), listing_shards=shards, listing_read_shards=read_shards)


def test_given_any_stage_then_the_public_listings_have_sixteen_shards_read_as_many() -> None:
    for name, authentication in (("local", LOCAL_AUTHENTICATION), ("dev", None)):
        layout = stage_settings(name, authentication=authentication).listing_layout
        assert (layout.shards, layout.read_shards, layout.all_users_indexes) == (16, 16, False)
