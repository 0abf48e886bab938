"""GET /images: a user's own images or everyone's public ones, by tag and creation time, newest
first, available images only.

One gallery per module run (its own users and tags, all images public), read by every test and
changed by none. All images are created "now", so the date ranges are built around their
``created_at``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from urllib.parse import quote

import pytest
import requests

from tests.integration.conftest import (
    ImageApi,
    png_bytes,
    request_upload,
    send_bytes,
    unique_tag,
    unique_user,
    upload_image,
    wait_until_available,
)

pytestmark = pytest.mark.integration

PLUS_TWO = timezone(timedelta(hours=2))
MINUS_FIVE = timezone(timedelta(hours=-5))


PUBLIC = {"visibility": "public"}


@dataclass(frozen=True)
class Gallery:
    alice: ImageApi  # the API signed in as alice
    bob: ImageApi
    cat: str
    dog: str
    ids: dict[str, str]  # name -> image id
    created: dict[str, datetime]  # name -> created_at (UTC)
    pending: str

    def names(self, image_ids: list[str]) -> list[str]:
        by_id = {image_id: name for name, image_id in self.ids.items()} | {self.pending: "pending"}
        return [by_id.get(image_id, image_id) for image_id in image_ids]

    @property
    def first_day(self) -> date:
        return min(self.created.values()).date()

    @property
    def last_day(self) -> date:
        return max(self.created.values()).date()


@pytest.fixture(scope="module")
def gallery(deployed_api: ImageApi) -> Gallery:
    """Public images uploaded in this order (so newest first is the reverse): a1, b1, a2, a3; and a
    pending one."""
    alice, bob = deployed_api.as_user(unique_user()), deployed_api.as_user(unique_user())
    cat, dog = unique_tag("cat"), unique_tag("dog")
    plan = {"a1": (alice, [cat]), "b1": (bob, [cat, dog]), "a2": (alice, [cat, dog]), "a3": (alice, [])}
    ids = {
        name: upload_image(owner, str(owner.user), tags, "image/png", png_bytes(), visibility="public")
        for name, (owner, tags) in plan.items()
    }
    # A pending public image of alice's, tagged cat: requested, never sent.
    pending = request_upload(alice, str(alice.user), [cat], visibility="public").image_id
    created = {
        name: datetime.fromisoformat(wait_until_available(plan[name][0], image_id)["created_at"])
        for name, image_id in ids.items()
    }
    assert alice.get(pending).json()["status"] == "pending"
    return Gallery(alice=alice, bob=bob, cat=cat, dog=dog, ids=ids, created=created, pending=pending)


def listed(api: ImageApi, gallery: Gallery, **params: str) -> list[str]:
    """The names of what ``api``'s user gets listed with these parameters."""
    return gallery.names(api.listed_ids(params))


def at(moment: datetime, zone: timezone) -> str:
    """``moment`` written in another UTC offset, e.g. ``2026-11-27T19:15:23.599962+02:00``."""
    return moment.astimezone(zone).isoformat(timespec="microseconds")


# --- filters ----------------------------------------------------------------------------------


def test_each_user_lists_their_own_images_newest_first(gallery: Gallery) -> None:
    assert listed(gallery.alice, gallery) == ["a3", "a2", "a1"]
    assert listed(gallery.bob, gallery) == ["b1"]


def test_public_by_tag_lists_every_users_public_images_with_that_tag(api: ImageApi, gallery: Gallery) -> None:
    # api is signed in as a user with no images of their own
    assert listed(api, gallery, **PUBLIC, tag=gallery.cat) == ["a2", "b1", "a1"]
    assert listed(api, gallery, **PUBLIC, tag=gallery.dog) == ["a2", "b1"]


def test_tag_filter_is_lower_cased_like_upload_tags(api: ImageApi, gallery: Gallery) -> None:
    assert listed(api, gallery, **PUBLIC, tag=gallery.cat.upper()) == ["a2", "b1", "a1"]


def test_own_by_tag(gallery: Gallery) -> None:
    assert listed(gallery.alice, gallery, tag=gallery.cat) == ["a2", "a1"]
    assert listed(gallery.alice, gallery, tag=gallery.dog) == ["a2"]
    assert listed(gallery.bob, gallery, tag=gallery.dog) == ["b1"]
    assert listed(gallery.bob, gallery, tag=unique_tag("none")) == []


def test_a_user_without_images_lists_nothing_of_their_own(api: ImageApi, gallery: Gallery) -> None:
    assert listed(api, gallery) == []
    assert listed(api, gallery, tag=gallery.cat) == []


def test_listed_items_carry_the_same_metadata_as_get(api: ImageApi, gallery: Gallery) -> None:
    response = gallery.alice.list_images({"tag": gallery.dog})

    assert response.status_code == 200, response.text
    assert set(response.json()) == {"items", "next_cursor"}
    [item] = response.json()["items"]
    # (thumbnail_url only with include=thumbnail_url, below)
    assert item == {**api.get(gallery.ids["a2"]).json(), "thumbnail_url": None}
    assert response.json()["next_cursor"] is None


@pytest.mark.parametrize(
    "who", ["owner", "someone else, public by tag"], ids=["own listing", "public listing by tag"]
)
def test_include_thumbnail_url_links_each_listed_image_to_its_thumbnail(
    api: ImageApi, gallery: Gallery, who: str
) -> None:
    # Given a listing that asks for thumbnail URLs (one page: no call per image)
    client, params = (gallery.alice, {}) if who == "owner" else (api, {**PUBLIC, "tag": gallery.cat})
    response = client.list_images({**params, "include": "thumbnail_url"})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert items

    # Then every item's link fetches that image's thumbnail straight from the bucket: a WebP
    for item in items:
        thumbnail = requests.get(item["thumbnail_url"], timeout=30)
        assert thumbnail.status_code == 200, thumbnail.text
        assert thumbnail.content[8:12] == b"WEBP"
        assert "/variants/" in item["thumbnail_url"]
        assert item["image_id"] in item["thumbnail_url"]


def test_pending_images_are_not_listed(api: ImageApi, gallery: Gallery) -> None:
    # Given alice's pending image tagged cat (requested, bytes never sent)
    # When listing in every way that would include it, Then it is absent
    for client, params in (
        (gallery.alice, {}),
        (gallery.alice, {"tag": gallery.cat}),
        (api, {**PUBLIC, "tag": gallery.cat}),
    ):
        assert "pending" not in listed(client, gallery, **params), params
    assert "pending" not in listed(gallery.alice, gallery, **{"from": gallery.first_day.isoformat()})


# --- dates ------------------------------------------------------------------------------------


def test_range_of_today_lists_todays_images(api: ImageApi, gallery: Gallery) -> None:
    today = {"from": gallery.first_day.isoformat(), "to": gallery.last_day.isoformat()}

    assert listed(gallery.alice, gallery, **today) == ["a3", "a2", "a1"]
    assert listed(api, gallery, **PUBLIC, tag=gallery.cat, **today) == ["a2", "b1", "a1"]


def test_to_a_date_includes_the_whole_of_that_day(api: ImageApi, gallery: Gallery) -> None:
    assert listed(gallery.alice, gallery, to=gallery.last_day.isoformat()) == ["a3", "a2", "a1"]


def test_from_a_date_starts_at_its_midnight(api: ImageApi, gallery: Gallery) -> None:
    params = {"from": gallery.first_day.isoformat()}
    assert listed(gallery.alice, gallery, **params) == ["a3", "a2", "a1"]


def test_ranges_excluding_today_list_nothing(api: ImageApi, gallery: Gallery) -> None:
    yesterday = (gallery.first_day - timedelta(days=1)).isoformat()
    tomorrow = (gallery.last_day + timedelta(days=1)).isoformat()

    assert listed(gallery.alice, gallery, **{"from": yesterday, "to": yesterday}) == []
    assert listed(gallery.alice, gallery, to=yesterday) == []
    assert listed(gallery.alice, gallery, **{"from": tomorrow}) == []
    assert listed(api, gallery, **PUBLIC, tag=gallery.cat, **{"from": tomorrow, "to": tomorrow}) == []
    assert listed(gallery.alice, gallery, **{"from": yesterday, "to": tomorrow}) == [
        "a3",
        "a2",
        "a1",
    ]


def test_datetime_with_offset_is_converted_to_utc(api: ImageApi, gallery: Gallery) -> None:
    # a2's creation instant written in +02:00 and in -05:00: the wall-clock times differ by hours,
    # so a service that ignored the offset would list a different set.
    a2 = gallery.created["a2"]

    assert listed(gallery.alice, gallery, **{"from": at(a2, PLUS_TWO)}) == ["a3", "a2"]
    assert listed(gallery.alice, gallery, to=at(a2, MINUS_FIVE)) == ["a2", "a1"]
    assert listed(gallery.alice, gallery, to=at(a2 - timedelta(microseconds=1), PLUS_TWO)) == ["a1"]


def test_bounds_are_inclusive_to_the_microsecond(api: ImageApi, gallery: Gallery) -> None:
    a2 = gallery.created["a2"].isoformat(timespec="microseconds").replace("+00:00", "Z")

    assert listed(gallery.alice, gallery, **{"from": a2, "to": a2}) == ["a2"]


def test_unencoded_plus_of_an_offset_is_understood(api: ImageApi, gallery: Gallery) -> None:
    # Given a "+02:00" typed into a URL unencoded, which arrives as a space
    since = at(gallery.created["a2"], PLUS_TWO)
    assert "+" in since
    alice = gallery.alice
    url = f"{alice.url('images')}?from={since}"

    # When listing with it, Then it means the same as "%2B02:00"
    response = alice.http.get(url, headers=alice.auth_headers, timeout=30)
    assert response.status_code == 200, response.text
    assert gallery.names([item["image_id"] for item in response.json()["items"]]) == ["a3", "a2"]
    encoded = f"{alice.url('images')}?from={quote(since, safe='')}"
    assert alice.http.get(encoded, headers=alice.auth_headers, timeout=30).json() == response.json()


def test_filters_combine(api: ImageApi, gallery: Gallery) -> None:
    a1, a2 = gallery.created["a1"], gallery.created["a2"]
    today = gallery.last_day.isoformat()

    # own + tag + from (datetime with offset)
    assert listed(gallery.alice, gallery, tag=gallery.cat, **{"from": at(a2, PLUS_TWO)}) == ["a2"]
    # public + tag + to (datetime with offset)
    assert listed(api, gallery, **PUBLIC, tag=gallery.cat, to=at(a1, MINUS_FIVE)) == ["a1"]
    # public + tag + from datetime + to date
    assert listed(
        api,
        gallery,
        **PUBLIC,
        tag=gallery.cat,
        to=today,
        **{"from": at(a1 + timedelta(microseconds=1), PLUS_TWO)},
    ) == [
        "a2",
        "b1",
    ]
    # own + tag + a whole day
    assert listed(gallery.bob, gallery, tag=gallery.dog, to=today, **{"from": today}) == ["b1"]


def test_limit_cuts_the_newest_first_list(gallery: Gallery) -> None:
    response = gallery.alice.list_images({"limit": "1"})

    assert response.status_code == 200, response.text
    assert gallery.names([item["image_id"] for item in response.json()["items"]]) == ["a3"]
    assert response.json()["next_cursor"]


def test_the_pending_image_becomes_listed_once_its_bytes_arrive(api: ImageApi, user: str) -> None:
    # Given a pending image (this test's user, so the shared gallery is left unchanged)
    tag = unique_tag("late")
    grant = request_upload(api, user, [tag])
    assert api.listed_ids({}) == []

    # When its bytes arrive
    send_bytes(grant, png_bytes(), "image/png")
    wait_until_available(api, grant.image_id)

    # Then it is listed among the user's images, and by tag
    assert api.listed_ids({}) == [grant.image_id]
    assert api.listed_ids({"tag": tag}) == [grant.image_id]


def test_user_id_with_every_allowed_punctuation_is_stored_and_listed(deployed_api: ImageApi) -> None:
    # Given a user whose token names them like an e-mail address
    user = f"First.Last_{uuid.uuid4().hex[:8]}-x@example.com"
    signed_in = deployed_api.as_user(user)

    # When that user uploads an image
    image_id = upload_image(signed_in, user, [], "image/png", png_bytes())
    image = wait_until_available(signed_in, image_id)

    # Then it is recorded and listed under exactly that id (case kept)
    assert image["user_id"] == user
    assert signed_in.listed_ids({}) == [image_id]
    assert deployed_api.as_user(user.lower()).listed_ids({}) == []
