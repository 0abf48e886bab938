"""GET /images/{id}/download: a presigned GET that returns exactly the uploaded bytes."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.integration.conftest import (
    DOWNLOAD_URL_EXPIRES_SECONDS,
    HTTP_TIMEOUT,
    ImageApi,
    assert_error,
    jpeg_bytes,
    request_upload,
    upload_image,
    wait_until_available,
)

pytestmark = pytest.mark.integration


def test_presigned_get_returns_exactly_the_uploaded_bytes(api: ImageApi, user: str) -> None:
    # Given an available JPEG
    data = jpeg_bytes(200, 150)
    image_id = upload_image(api, user, [], "image/jpeg", data)
    wait_until_available(api, image_id)

    # When its download link is requested and followed
    response = api.download(image_id)
    assert response.status_code == 200, response.text
    link = response.json()
    downloaded = requests.get(link["url"], timeout=HTTP_TIMEOUT)

    # Then the link lives 300 s and yields the same bytes, as the pinned type
    assert set(link) == {"url", "expires_in"}
    assert link["expires_in"] == DOWNLOAD_URL_EXPIRES_SECONDS
    assert parse_qs(urlsplit(link["url"]).query)["X-Amz-Expires"] == [str(DOWNLOAD_URL_EXPIRES_SECONDS)]
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.content == data
    assert downloaded.headers["Content-Type"] == "image/jpeg"


def test_tampered_download_link_is_refused(api: ImageApi, user: str) -> None:
    # Given a download link whose signature is altered
    image_id = upload_image(api, user, [], "image/jpeg", jpeg_bytes())
    wait_until_available(api, image_id)
    url = api.download(image_id).json()["url"]
    query = parse_qs(urlsplit(url).query)
    signature = query["X-Amz-Signature"][0]
    tampered = url.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])

    # When it is followed, Then S3 refuses it
    assert requests.get(tampered, timeout=HTTP_TIMEOUT).status_code == 403


def test_download_of_a_pending_image_is_a_conflict(api: ImageApi, user: str) -> None:
    # Given an image whose bytes were never sent
    grant = request_upload(api, user)

    # When its download is requested, Then it is 409 conflict
    assert_error(api.download(grant.image_id), 409, "conflict")


@pytest.mark.parametrize("image_id", ["0123456789abcdef0123456789abcdef", "not-an-image-id"])
def test_download_of_an_unknown_image_is_not_found(api: ImageApi, image_id: str) -> None:
    assert_error(api.download(image_id), 404, "not_found")
