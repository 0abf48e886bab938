"""Everyone's public images, sharded (``schema.ListingLayout``), on the local cloud.

Several users' public images land in several shards of the public partitions; paging through
them, by tag or all of them, returns each exactly once, newest first, and a cursor stays bound
to its query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from image_core import schema
from tests.integration.conftest import (
    Backend,
    ImageApi,
    assert_error,
    png_bytes,
    unique_tag,
    unique_user,
    upload_image,
    wait_until_available,
)

pytestmark = pytest.mark.integration

USERS = 3
IMAGES_PER_USER = 4


@dataclass(frozen=True)
class PublicAlbums:
    tag: str
    # (created_at, image_id) of every image, newest first: the listing's order
    newest_first: list[str]
    # The earliest created_at among them
    since: str


@pytest.fixture(scope="module")
def albums(deployed_api: ImageApi) -> PublicAlbums:
    """Three users' public images, four each, all with one tag, uploaded interleaved."""
    tag = unique_tag("shards")
    owners = [deployed_api.as_user(unique_user()) for _ in range(USERS)]
    uploads = [
        (
            owner,
            upload_image(
                owner, str(owner.user), [tag], "image/png", png_bytes(seed=None), visibility="public"
            ),
        )
        for _ in range(IMAGES_PER_USER)
        for owner in owners
    ]
    created = {image_id: wait_until_available(owner, image_id)["created_at"] for owner, image_id in uploads}
    order = sorted(created, key=lambda image_id: (created[image_id], image_id), reverse=True)
    return PublicAlbums(tag=tag, newest_first=order, since=min(created.values()))


def every_page(api: ImageApi, params: dict[str, str], *, limit: int, most_pages: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        response = api.list_images({**params, "limit": str(limit)} | ({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        pages.append([item["image_id"] for item in answer["items"]])
        assert len(pages[-1]) <= limit
        cursor = answer["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) <= most_pages, f"paging does not end: {pages}"


def test_the_images_are_spread_over_shards_of_the_public_partitions(
    backend: Backend, albums: PublicAlbums
) -> None:
    partitions = {
        item[schema.PUBLIC.partition_key]["S"]
        for image_id in albums.newest_first
        for item in backend.image_items(image_id)
        if schema.PUBLIC.partition_key in item
    }
    shards = {partition.rsplit("#", 1)[1] for partition in partitions}
    # Each image item in a shard of PUBLIC, each tag item in the same shard of PUBLIC#TAG#<tag>
    assert all(shard.isdigit() for shard in shards)
    assert len(shards) > 1
    assert {partition.rsplit("#", 1)[0] for partition in partitions} == {
        schema.PUBLIC.partition_value(),
        schema.PUBLIC.partition_value(tag=albums.tag),
    }


@pytest.mark.parametrize("limit", [1, 5, 100])
def test_public_by_tag_pages_every_image_once_newest_first(
    deployed_api: ImageApi, albums: PublicAlbums, limit: int
) -> None:
    reader = deployed_api.as_user(unique_user())

    pages = every_page(reader, {"visibility": "public", "tag": albums.tag}, limit=limit, most_pages=20)

    assert [image_id for page in pages for image_id in page] == albums.newest_first


def test_every_public_image_pages_once_with_ours_in_order(
    deployed_api: ImageApi, albums: PublicAlbums
) -> None:
    # Other tests upload public images meanwhile: ours must all come, once and in order, among them
    reader = deployed_api.as_user(unique_user())

    pages = every_page(reader, {"visibility": "public", "from": albums.since}, limit=7, most_pages=200)

    seen = [image_id for page in pages for image_id in page]
    assert len(seen) == len(set(seen)), "an image came twice"
    ours = set(albums.newest_first)
    assert [image_id for image_id in seen if image_id in ours] == albums.newest_first


def test_a_public_cursor_is_refused_for_the_public_tag_listing(
    deployed_api: ImageApi, albums: PublicAlbums
) -> None:
    reader = deployed_api.as_user(unique_user())
    response = reader.list_images({"visibility": "public", "limit": "1", "from": albums.since})
    cursor = response.json()["next_cursor"]
    assert cursor

    refused = reader.list_images(
        {"visibility": "public", "tag": albums.tag, "from": albums.since, "cursor": cursor}
    )

    assert_error(refused, 400, "invalid_parameter", "cursor")
