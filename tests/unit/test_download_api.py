"""GET /images/{image_id}/download: a presigned GET, only once the image has been uploaded."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from image_core import schema
from tests import images
from tests.unit.conftest import BUCKET_NAME, DOWNLOAD_URL_EXPIRES_SECONDS, Aws, UploadImage
from tests.unit.harness import ApiClient, deliver_object_created


def test_available_image_gets_a_short_lived_presigned_get(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given an available image
    image_id = available_image()
    record = aws.item(image_id)
    assert record is not None

    # When the client asks to download it
    result = api.download(image_id)

    # Then it gets a SigV4 presigned GET of the original, valid for the configured time
    assert result.status_code == 200
    answer = result.json()
    assert set(answer) == {"url", "expires_in"}
    assert answer["expires_in"] == DOWNLOAD_URL_EXPIRES_SECONDS
    url = urlsplit(answer["url"])
    assert BUCKET_NAME in url.netloc + url.path
    # (the accepted original of the record's revision, never the upload under the incoming prefix)
    assert url.path.endswith("/" + schema.original_object_key(image_id, record["revision"]))
    query = parse_qs(url.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == [str(DOWNLOAD_URL_EXPIRES_SECONDS)]


def test_pending_image_cannot_be_downloaded_yet(api: ApiClient, pending_image: UploadImage) -> None:
    image_id = pending_image()

    result = api.download(image_id)

    assert result.status_code == 409
    assert result.error["code"] == "conflict"


@pytest.mark.parametrize("variant", [None, "thumbnail"])
def test_a_rejected_image_which_has_a_revision_but_no_bytes_cannot_be_downloaded(
    api: ApiClient, aws: Aws, pending_image: UploadImage, variant: str | None
) -> None:
    # Given an image whose bytes were refused: its record names their revision, but they were
    # deleted (mutation testing: a download checking only for a missing revision served a link
    # to nothing)
    image_id = pending_image()
    key = schema.incoming_object_key(image_id)
    deliver_object_created(BUCKET_NAME, key, len(images.TEXT), etag=aws.put(key, images.TEXT, "image/jpeg"))
    record = aws.item(image_id)
    assert record is not None
    assert (record["status"], bool(record["revision"])) == ("rejected", True)

    result = api.download(image_id, variant)

    assert result.status_code == 409
    assert result.error["code"] == "conflict"


def test_unknown_image_is_not_found(api: ApiClient, aws: Aws) -> None:
    result = api.download("0123456789abcdef0123456789abcdef")

    assert result.status_code == 404
    assert result.error["code"] == "not_found"


@pytest.mark.parametrize("variant", ["preview", "thumbnail"])
def test_a_variant_is_downloaded_from_its_revisions_webp(
    api: ApiClient, aws: Aws, available_image: UploadImage, variant: str
) -> None:
    # Given an available image
    image_id = available_image()
    record = aws.item(image_id)
    assert record is not None

    # When the client asks for one of its variants
    result = api.download(image_id, variant)

    # Then the link is for that variant of the current upload, which is stored
    assert result.status_code == 200
    key = schema.variant_object_key(image_id, record["revision"], schema.Variant(variant))
    assert urlsplit(result.json()["url"]).path.endswith("/" + key)
    assert aws.s3.head_object(Bucket=BUCKET_NAME, Key=key)["ContentType"] == "image/webp"


def test_the_original_is_what_variant_original_and_no_variant_download(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    image_id = available_image()
    record = aws.item(image_id)
    assert record is not None
    key = schema.original_object_key(image_id, record["revision"])

    for result in (api.download(image_id), api.download(image_id, "original")):
        assert urlsplit(result.json()["url"]).path.endswith("/" + key)


def test_an_unknown_variant_is_an_invalid_parameter(api: ApiClient, available_image: UploadImage) -> None:
    result = api.download(available_image(), "poster")

    assert result.status_code == 400
    assert result.error["code"] == "invalid_parameter"
    assert "'variant'" in result.error["message"]


def test_a_pending_images_variants_cannot_be_downloaded_yet(
    api: ApiClient, pending_image: UploadImage
) -> None:
    assert api.download(pending_image(), "thumbnail").status_code == 409
