"""DELETE /images/{id}: 204, then gone everywhere: API, bucket, table, listings."""

from __future__ import annotations

import pytest

from image_core import schema
from tests.integration.conftest import (
    Backend,
    ImageApi,
    assert_error,
    png_bytes,
    request_upload,
    send_bytes,
    unique_tag,
    upload_image,
    wait_for,
    wait_until_available,
)

pytestmark = pytest.mark.integration


def sort_keys(backend: Backend, image_id: str) -> set[str]:
    return {item[schema.SORT_KEY]["S"] for item in backend.image_items(image_id)}


def test_deleted_image_is_gone_from_api_bucket_table_and_listings(
    api: ImageApi, backend: Backend, user: str
) -> None:
    # Given an available image with two tags: its object, its image item and two tag items exist
    cat, dog = unique_tag("cat"), unique_tag("dog")
    image_id = upload_image(api, user, [cat, dog], "image/png", png_bytes())
    wait_until_available(api, image_id)
    key = backend.original_key(image_id)
    assert backend.object_exists(key)
    assert sort_keys(backend, image_id) == {
        schema.IMAGE_SORT_KEY,
        schema.tag_sort_key(cat),
        schema.tag_sort_key(dog),
    }
    assert api.listed_ids({"tag": cat}) == [image_id]

    # When it is deleted
    response = api.delete(image_id)

    # Then 204 without a body, and the image is gone everywhere
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_error(api.get(image_id), 404, "not_found")
    assert_error(api.download(image_id), 404, "not_found")
    assert_error(api.delete(image_id), 404, "not_found")
    assert backend.stored_keys(image_id) == []
    assert backend.image_items(image_id) == []
    assert api.listed_ids({}) == []
    assert api.listed_ids({"tag": cat}) == []
    assert api.listed_ids({"tag": dog}) == []


def test_deleting_one_image_leaves_the_others(api: ImageApi, backend: Backend, user: str) -> None:
    # Given two available images of one user with the same tag
    tag = unique_tag("pair")
    kept, deleted = (upload_image(api, user, [tag], "image/png", png_bytes()) for _ in range(2))
    for image_id in (kept, deleted):
        wait_until_available(api, image_id)

    # When one is deleted
    assert api.delete(deleted).status_code == 204

    # Then the other is untouched
    assert api.get(kept).json()["status"] == "available"
    assert api.listed_ids({}) == [kept]
    assert api.listed_ids({"tag": tag}) == [kept]
    assert backend.object_exists(backend.original_key(kept))
    assert sort_keys(backend, kept) == {schema.IMAGE_SORT_KEY, schema.tag_sort_key(tag)}


def test_pending_image_can_be_deleted_and_a_late_upload_is_then_removed(
    api: ImageApi, backend: Backend, user: str
) -> None:
    # Given a pending image, deleted before its bytes were sent
    grant = request_upload(api, user, [unique_tag("late")])
    assert api.delete(grant.image_id).status_code == 204
    assert_error(api.get(grant.image_id), 404, "not_found")
    assert backend.image_items(grant.image_id) == []

    # When the bytes arrive afterwards through the still valid presigned POST
    send_bytes(grant, png_bytes(), "image/png")

    # Then processing removes the object (its record no longer exists) and no record reappears
    key = schema.incoming_object_key(grant.image_id)
    wait_for(lambda: not backend.object_exists(key), what=f"{key} deleted")
    assert backend.image_items(grant.image_id) == []
    assert_error(api.get(grant.image_id), 404, "not_found")
