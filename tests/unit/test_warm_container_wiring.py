"""The handlers' own wiring: settings from the environment, clients built once, public endpoint."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError

from image_api import dependencies
from image_core import schema
from image_core.settings import Settings, get_settings
from image_processing import dependencies as processing_dependencies
from tests import images
from tests.unit.conftest import BUCKET_NAME, Aws
from tests.unit.harness import ApiClient, deliver_object_created


def test_settings_come_from_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = get_settings()
    monkeypatch.setenv("TABLE_NAME", "changed-later")

    assert get_settings() is settings
    assert settings.table_name == "image-metadata-test"
    assert settings.s3_public_endpoint is None


def test_optional_settings_have_the_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "S3_PUBLIC_ENDPOINT",
        "UPLOAD_URL_EXPIRES_SECONDS",
        "DOWNLOAD_URL_EXPIRES_SECONDS",
        "MAX_UPLOAD_BYTES",
        "PENDING_GRACE_SECONDS",
        "MAX_IMAGE_PIXELS",
        "PROCESSING_FAULT_TAG",
    ):
        monkeypatch.delenv(name)

    settings = Settings.model_validate({"TABLE_NAME": "t", "BUCKET_NAME": "b"})

    assert (settings.upload_url_expires_seconds, settings.download_url_expires_seconds) == (900, 300)
    assert settings.max_upload_bytes == 20971520
    assert settings.s3_public_endpoint is None
    assert settings.pending_grace_seconds == 7200
    assert settings.max_image_pixels == 50_000_000
    # No fault unless a test stage sets one; an empty value counts as none
    assert settings.processing_fault_tag is None
    assert (
        Settings.model_validate(
            {"TABLE_NAME": "t", "BUCKET_NAME": "b", "PROCESSING_FAULT_TAG": ""}
        ).processing_fault_tag
        is None
    )


def test_a_missing_table_name_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TABLE_NAME")

    with pytest.raises(ValidationError, match="TABLE_NAME"):
        get_settings()


def test_the_service_is_built_on_first_use_and_kept(aws: Aws) -> None:
    assert dependencies.image_service.cache_info().currsize == 0

    first = dependencies.image_service()

    assert dependencies.image_service() is first


def test_presigned_urls_use_the_public_endpoint_with_path_style(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the local cloud's public endpoint, and the handlers wired as in a real container
    monkeypatch.setenv("S3_PUBLIC_ENDPOINT", "http://127.0.0.1:4566")
    api = ApiClient.signed_in_as("alice")

    # When an image is uploaded, processed and downloaded
    upload = api.upload().json()
    key = schema.incoming_object_key(upload["image_id"])
    data = images.jpeg()
    etag = aws.put(key, data, "image/jpeg")
    deliver_object_created(BUCKET_NAME, key, len(data), etag=etag)
    download = api.download(upload["image_id"]).json()
    record = aws.item(upload["image_id"])
    assert record is not None
    original = schema.original_object_key(upload["image_id"], record["revision"])

    # Then both links address the bucket by path on the public endpoint, signed with SigV4
    assert upload["upload"]["url"] == f"http://127.0.0.1:4566/{BUCKET_NAME}"
    assert upload["upload"]["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    url = urlsplit(download["url"])
    assert (url.scheme, url.netloc, url.path) == ("http", "127.0.0.1:4566", f"/{BUCKET_NAME}/{original}")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url.query
    # And the data calls still went to the service's own endpoint (moto here), not the public one
    assert api.get(upload["image_id"]).json()["status"] == "available"
    assert processing_dependencies.upload_processor.cache_info().currsize == 1


def test_the_token_verifier_is_built_on_first_use_and_kept(aws: Aws) -> None:
    # Kept with the container, so that keys fetched from a JWKS URL are fetched once.
    assert dependencies.token_verifier.cache_info().currsize == 0

    first = dependencies.token_verifier()

    assert dependencies.token_verifier() is first


def test_the_functions_read_the_environment_only_through_their_settings() -> None:
    lambda_src = Path(__file__).resolve().parents[2] / "lambda_src"
    settings_modules = {"image_core/settings.py", "image_api/settings.py"}

    readers = {
        path.relative_to(lambda_src).as_posix()
        for path in lambda_src.rglob("*.py")
        if "os.environ" in path.read_text() or "getenv" in path.read_text()
    }

    assert readers <= settings_modules
