"""PATCH /images/{id} on the local cloud: every listing right after each kind of edit, refusals,
and edits racing each other and processing."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from image_core import schema

from .conftest import (
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


def listed_in(api: ImageApi, image_id: str, tags: Iterable[str]) -> set[str]:
    """Which listings find the image: ``own``, ``own:<tag>``, ``public``, ``public:<tag>``."""
    queries: dict[str, dict[str, str]] = {"own": {}, "public": {"visibility": "public"}}
    for tag in tags:
        queries[f"own:{tag}"] = {"tag": tag}
        queries[f"public:{tag}"] = {"visibility": "public", "tag": tag}
    # The public listing spans every user: this test's image is among the newest, not the only one.
    return {name for name, query in queries.items() if image_id in api.listed_ids({**query, "limit": "100"})}


def tag_items(backend: Backend, image_id: str) -> set[str]:
    return {
        item[schema.SORT_KEY]["S"].removeprefix(schema.TAG_SORT_KEY_PREFIX)
        for item in backend.image_items(image_id)
        if item[schema.SORT_KEY]["S"] != schema.IMAGE_SORT_KEY
    }


def edited(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    image: dict[str, Any] = response.json()
    return image


@pytest.fixture
def public_image(api: ImageApi, user: str) -> tuple[str, str, str]:
    """An available public image of the test's user tagged (old, keep); (id, old, keep)."""
    old, keep = unique_tag("old"), unique_tag("keep")
    image_id = upload_image(api, user, [old, keep], visibility="public")
    wait_until_available(api, image_id)
    return image_id, old, keep


def test_each_kind_of_edit_is_seen_by_every_listing_at_once(
    api: ImageApi, backend: Backend, public_image: tuple[str, str, str]
) -> None:
    image_id, old, keep = public_image
    new = unique_tag("new")
    bob = api.as_user(f"{api.user}-bob")
    assert listed_in(api, image_id, [old, keep]) == {"own", f"own:{old}", f"own:{keep}", "public"} | {
        f"public:{old}",
        f"public:{keep}",
    }

    # A tag replaced: the removed one finds it nowhere, the added one everywhere
    image = edited(api.edit(image_id, {"tags": [new, keep], "description": "renamed"}))
    assert (image["tags"], image["description"], image["visibility"]) == ([new, keep], "renamed", "public")
    assert listed_in(api, image_id, [old, new, keep]) == {
        "own",
        f"own:{new}",
        f"own:{keep}",
        "public",
        f"public:{new}",
        f"public:{keep}",
    }
    assert tag_items(backend, image_id) == {new, keep}
    # Bob sees the public image's new tags through the public listing by tag
    (shown,) = [
        item
        for item in bob.list_images({"visibility": "public", "tag": new}).json()["items"]
        if item["image_id"] == image_id
    ]
    assert (shown["tags"], shown["description"]) == ([new, keep], "renamed")

    # Made private: out of both public listings, still in the owner's; bob cannot see it
    edited(api.edit(image_id, {"visibility": "private"}))
    assert listed_in(api, image_id, [new, keep]) == {"own", f"own:{new}", f"own:{keep}"}
    assert_error(bob.get(image_id), 404, "not_found")

    # Public again: back in both
    edited(api.edit(image_id, {"visibility": "public"}))
    assert listed_in(bob, image_id, [new, keep]) == {"public", f"public:{new}", f"public:{keep}"}

    # Every tag removed: listed without a tag only
    assert edited(api.edit(image_id, {"tags": []}))["tags"] == []
    assert listed_in(api, image_id, [new, keep]) == {"own", "public"}
    assert tag_items(backend, image_id) == set()
    assert api.get(image_id).json()["tags"] == []


def test_a_pending_image_keeps_its_edit_once_available(api: ImageApi, backend: Backend, user: str) -> None:
    # Given a registered image whose bytes have not come yet
    old, new = unique_tag("old"), unique_tag("new")
    grant = request_upload(api, user, [old])

    # When its owner edits it, then sends the bytes
    image = edited(api.edit(grant.image_id, {"tags": [new], "visibility": "public", "description": "early"}))
    assert image["status"] == "pending"
    send_bytes(grant, png_bytes(), "image/png")

    # Then the available image is what the edit said, and listed so
    image = wait_until_available(api, grant.image_id)
    assert (image["tags"], image["visibility"], image["description"]) == ([new], "public", "early")
    assert listed_in(api, grant.image_id, [old, new]) == {"own", f"own:{new}", "public", f"public:{new}"}
    assert tag_items(backend, grant.image_id) == {new}


def test_refusals_change_nothing(api: ImageApi, backend: Backend, user: str) -> None:
    # Given alice's public image, her private one, and a rejected one
    public_id = upload_image(api, user, [unique_tag("pub")], visibility="public")
    private_id = upload_image(api, user, [unique_tag("priv")])
    rejected_id = upload_image(api, user, [unique_tag("rej")], data=b"not an image at all")
    wait_until_available(api, public_id)
    wait_until_available(api, private_id)
    wait_for(lambda: api.get(rejected_id).json()["status"] == "rejected", what="rejected")
    before = {image_id: backend.image_items(image_id) for image_id in (public_id, private_id, rejected_id)}
    bob = api.as_user(f"{user}-bob")

    # Someone else's public image: forbidden; their private one, or no image: not found
    assert_error(bob.edit(public_id, {"tags": ["mine"]}), 403, "forbidden")
    assert_error(bob.edit(private_id, {"tags": ["mine"]}), 404, "not_found")
    assert_error(api.edit("0123456789abcdef0123456789abcdef", {"tags": ["x"]}), 404, "not_found")
    # A rejected image cannot be edited
    assert_error(api.edit(rejected_id, {"tags": ["x"]}), 409, "conflict")
    # Bad bodies name their problem
    assert_error(api.edit(public_id, {}), 400, "invalid_parameter", "body")
    assert_error(api.edit(public_id, {"colour": "red"}), 400, "invalid_parameter", "colour")
    assert_error(api.edit(public_id, {"tags": ["Not Valid!"]}), 400, "invalid_parameter", "tags")
    assert_error(api.edit(public_id, {"visibility": "everyone"}), 400, "invalid_parameter", "visibility")
    assert_error(api.edit(public_id, {"description": "x" * 1001}), 400, "invalid_parameter", "description")
    no_body = api.request("PATCH", f"images/{public_id}")
    assert_error(no_body, 400, "invalid_parameter")
    # Without a token: 401
    anonymous = ImageApi(api.base_url, api.issuer)
    assert_error(anonymous.edit(public_id, {"tags": ["x"]}), 401, "unauthorized")

    assert {image_id: backend.image_items(image_id) for image_id in before} == before


def test_racing_edits_of_different_fields_all_stay(
    api: ImageApi, backend: Backend, public_image: tuple[str, str, str]
) -> None:
    # Given one image, and three edits of different fields sent at the same instant
    image_id, old, keep = public_image
    new = unique_tag("raced")
    edits = [{"tags": [new]}, {"description": "raced"}, {"visibility": "private"}]
    start = threading.Barrier(len(edits))

    def send(body: dict[str, Any]) -> int:
        start.wait(timeout=30)
        return api.edit(image_id, body).status_code

    with ThreadPoolExecutor(len(edits)) as pool:
        statuses = list(pool.map(send, edits))

    # Then each was applied (a loser reads again and applies its own field to the winner's result)
    assert statuses == [200, 200, 200]
    image = api.get(image_id).json()
    assert (image["tags"], image["description"], image["visibility"]) == ([new], "raced", "private")
    assert tag_items(backend, image_id) == {new}
    assert listed_in(api, image_id, [old, keep, new]) == {"own", f"own:{new}"}


def test_racing_edits_of_the_tags_leave_one_winner_and_no_stale_tag_item(
    api: ImageApi, backend: Backend, public_image: tuple[str, str, str]
) -> None:
    # Given one image, and six edits each replacing its tags, sent at the same instant
    image_id, old, keep = public_image
    candidates = [[unique_tag(f"race{number}")] for number in range(6)]
    start = threading.Barrier(len(candidates))

    def send(tags: list[str]) -> tuple[int, list[str]]:
        start.wait(timeout=30)
        response = api.edit(image_id, {"tags": tags})
        return response.status_code, tags

    with ThreadPoolExecutor(len(candidates)) as pool:
        results = list(pool.map(send, candidates))

    # Then each answered 200 (or 409 after losing every attempt), and exactly one tag set stands,
    # in the record, its tag items and the listings alike
    assert {status for status, _ in results} <= {200, 409}
    assert any(status == 200 for status, _ in results)
    final = api.get(image_id).json()["tags"]
    assert final in [tags for status, tags in results if status == 200]
    assert tag_items(backend, image_id) == set(final)
    every_tag = [tag for tags in candidates for tag in tags] + [old, keep]
    assert listed_in(api, image_id, every_tag) == {"own", "public"} | {
        f"{where}:{tag}" for where in ("own", "public") for tag in final
    }


def test_edits_racing_processing_are_kept(api: ImageApi, backend: Backend, user: str) -> None:
    # Given a registered image whose bytes are sent while its owner keeps editing its tags
    grant = request_upload(api, user, [unique_tag("first")], visibility="public")
    send_bytes(grant, png_bytes(640, 480), "image/png")
    last: list[str] = []
    available_edits = 0
    for number in range(60):  # bounded: processing takes a second or two
        tags = [unique_tag(f"edit{number}")]
        image = edited(api.edit(grant.image_id, {"tags": tags}))
        last = tags
        if image["status"] == "available":
            available_edits += 1
            if available_edits == 2:
                break
    assert available_edits == 2, "processing did not finish while the edits went on"

    # Then the image is available with the last edit's tags, listed under those only
    image = wait_until_available(api, grant.image_id)
    assert image["tags"] == last
    assert tag_items(backend, grant.image_id) == set(last)
    assert listed_in(api, grant.image_id, last) == {"own", f"own:{last[0]}", "public", f"public:{last[0]}"}
    # And no tag item of an earlier edit lingers in any listing index
    assert {item[schema.SORT_KEY]["S"] for item in backend.image_items(grant.image_id)} == {
        schema.IMAGE_SORT_KEY,
        schema.tag_sort_key(last[0]),
    }
