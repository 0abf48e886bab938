"""GET /images paging: every image exactly once, in order; cursors only fit the query that issued them.

The album's owner pages through their own images; anybody pages through the public ones.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.conftest import (
    ImageApi,
    assert_error,
    png_bytes,
    unique_tag,
    unique_user,
    upload_image,
    wait_until_available,
)

pytestmark = pytest.mark.integration


PUBLIC = {"visibility": "public"}


@dataclass(frozen=True)
class Album:
    user: str
    owner: ImageApi  # the API signed in as the album's user
    tag: str
    newest_first: list[str]
    day: str  # the UTC date of the album's images


@pytest.fixture(scope="module")
def album(deployed_api: ImageApi) -> Album:
    """Five available public images of one user, all with one tag, uploaded one after another."""
    user, tag = unique_user(), unique_tag("album")
    owner = deployed_api.as_user(user)
    ids = [upload_image(owner, user, [tag], "image/png", png_bytes(), visibility="public") for _ in range(5)]
    days = {wait_until_available(owner, image_id)["created_at"][:10] for image_id in ids}
    return Album(user=user, owner=owner, tag=tag, newest_first=ids[::-1], day=min(days))


def all_pages(api: ImageApi, params: dict[str, str], *, limit: int) -> list[list[str]]:
    """Follow next_cursor to the end; the image ids of each page."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": str(limit)} | ({"cursor": cursor} if cursor else {})
        response = api.list_images(query)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        pages.append([item["image_id"] for item in answer["items"]])
        assert len(pages[-1]) <= limit
        cursor = answer["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) <= 10, f"paging does not end: {pages}"


def first_cursor(api: ImageApi, params: dict[str, str]) -> str:
    response = api.list_images({**params, "limit": "2"})
    assert response.status_code == 200, response.text
    cursor: str | None = response.json()["next_cursor"]
    assert cursor, response.text
    return cursor


def assert_pages_hold_each_once_in_order(pages: list[list[str]], expected: list[str]) -> None:
    seen = [image_id for page in pages for image_id in page]
    assert len(seen) == len(set(seen)), f"duplicates across pages: {pages}"
    assert seen == expected
    # Full pages, then the rest; at most one empty page, and only at the end.
    assert [len(page) for page in pages if page] == [2, 2, 1]
    assert all(pages[:-1]), pages


def test_pages_of_two_hold_every_image_once_newest_first(album: Album) -> None:
    # Given five images of one user
    # When they list theirs two at a time, following next_cursor
    pages = all_pages(album.owner, {}, limit=2)

    # Then each appears exactly once, in order, and paging ends
    assert_pages_hold_each_once_in_order(pages, album.newest_first)


def test_paging_works_on_every_index_and_with_a_date_range(api: ImageApi, album: Album) -> None:
    # The owner's own listings, and anybody's (api is another user) public ones
    queries = [
        (album.owner, {"tag": album.tag}),
        (album.owner, {"from": album.day, "to": album.day}),
        (api, {**PUBLIC, "tag": album.tag}),
        (api, {**PUBLIC, "tag": album.tag, "from": f"{album.day}T00:00:00+00:00"}),
    ]
    for client, params in queries:
        assert_pages_hold_each_once_in_order(all_pages(client, params, limit=2), album.newest_first)


def test_page_size_may_change_between_pages(album: Album) -> None:
    # Given the cursor after the first two images
    cursor = first_cursor(album.owner, {})

    # When the next page asks for up to 100
    response = album.owner.list_images({"limit": "100", "cursor": cursor})

    # Then it holds exactly the other three
    assert response.status_code == 200, response.text
    assert [item["image_id"] for item in response.json()["items"]] == album.newest_first[2:]


def test_cursor_of_one_users_query_is_refused_for_another_users(api: ImageApi, album: Album) -> None:
    # Given a cursor issued for the album user's listing
    cursor = first_cursor(album.owner, {})

    # When another user lists their own images with it
    response = api.list_images({"limit": "2", "cursor": cursor})

    # Then it is a 400 naming the cursor
    assert_error(response, 400, "invalid_parameter", "cursor")


def test_cursor_is_refused_for_another_filter_or_range(album: Album) -> None:
    cursor = first_cursor(album.owner, {})

    for params in (
        {"tag": album.tag},
        {"from": album.day},
        PUBLIC,
        {**PUBLIC, "tag": album.tag},
    ):
        response = album.owner.list_images({**params, "cursor": cursor})
        assert_error(response, 400, "invalid_parameter", "cursor")


def test_garbage_cursor_is_refused(album: Album) -> None:
    for garbage in ("garbage", "!!!", base64.urlsafe_b64encode(b'{"version": 1}').decode()):
        response = album.owner.list_images({"cursor": garbage})
        assert_error(response, 400, "invalid_parameter", "cursor")


def test_forged_cursor_pointing_into_another_partition_is_refused(album: Album) -> None:
    # Given a real cursor whose key is edited to point at another user's partition
    cursor = first_cursor(album.owner, {})
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    payload["key"] = {
        name: value.replace(album.user, "someone-else") for name, value in payload["key"].items()
    }
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")

    # When it is used with the original query
    response = album.owner.list_images({"cursor": forged})

    # Then it is refused
    assert_error(response, 400, "invalid_parameter", "cursor")


def test_paging_the_public_images_continues_with_older_images(api: ImageApi, album: Album) -> None:
    # Given the first page of every user's public images (the album's are among them, and newest)
    first = api.list_images({**PUBLIC, "limit": "2"})
    assert first.status_code == 200, first.text
    first_items = first.json()["items"]
    cursor = first.json()["next_cursor"]
    assert len(first_items) == 2
    assert cursor

    # When the next page is read with its cursor
    second = api.list_images({**PUBLIC, "limit": "2", "cursor": cursor})

    # Then it continues strictly after the first page, in the same newest-first order
    assert second.status_code == 200, second.text
    second_items = second.json()["items"]
    assert second_items
    stamps = [(item["created_at"], item["image_id"]) for item in first_items + second_items]
    assert stamps == sorted(stamps, reverse=True)
    assert len(set(stamps)) == len(stamps)
