"""GET /images: filters by user, tag and creation time, newest first, available images only.

One gallery per module run (its own users and tags), read by every test and changed by none.
All images are created "now", so the date ranges are built around their ``created_at``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from urllib.parse import quote

import pytest

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


@dataclass(frozen=True)
class Gallery:
    alice: str
    bob: str
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
def gallery(api: ImageApi) -> Gallery:
    """Uploaded in this order (so newest first is the reverse): a1, b1, a2, a3; and a pending one."""
    alice, bob = unique_user(), unique_user()
    cat, dog = unique_tag("cat"), unique_tag("dog")
    plan = {"a1": (alice, [cat]), "b1": (bob, [cat, dog]), "a2": (alice, [cat, dog]), "a3": (alice, [])}
    ids = {
        name: upload_image(api, user, tags, "image/png", png_bytes()) for name, (user, tags) in plan.items()
    }
    # A pending image of alice's, tagged cat: requested, never sent.
    pending = request_upload(api, alice, [cat]).image_id
    created = {
        name: datetime.fromisoformat(wait_until_available(api, image_id)["created_at"])
        for name, image_id in ids.items()
    }
    assert api.get(pending).json()["status"] == "pending"
    return Gallery(alice=alice, bob=bob, cat=cat, dog=dog, ids=ids, created=created, pending=pending)


def listed(api: ImageApi, gallery: Gallery, **params: str) -> list[str]:
    return gallery.names(api.listed_ids(params))


def at(moment: datetime, zone: timezone) -> str:
    """``moment`` written in another UTC offset, e.g. ``2026-11-27T19:15:23.599962+02:00``."""
    return moment.astimezone(zone).isoformat(timespec="microseconds")


# --- filters ----------------------------------------------------------------------------------


def test_by_user_lists_that_users_images_newest_first(api: ImageApi, gallery: Gallery) -> None:
    assert listed(api, gallery, user_id=gallery.alice) == ["a3", "a2", "a1"]
    assert listed(api, gallery, user_id=gallery.bob) == ["b1"]


def test_by_tag_lists_every_users_images_with_that_tag(api: ImageApi, gallery: Gallery) -> None:
    assert listed(api, gallery, tag=gallery.cat) == ["a2", "b1", "a1"]
    assert listed(api, gallery, tag=gallery.dog) == ["a2", "b1"]


def test_tag_filter_is_lower_cased_like_upload_tags(api: ImageApi, gallery: Gallery) -> None:
    assert listed(api, gallery, tag=gallery.cat.upper()) == ["a2", "b1", "a1"]


def test_by_user_and_tag(api: ImageApi, gallery: Gallery) -> None:
    assert listed(api, gallery, user_id=gallery.alice, tag=gallery.cat) == ["a2", "a1"]
    assert listed(api, gallery, user_id=gallery.alice, tag=gallery.dog) == ["a2"]
    assert listed(api, gallery, user_id=gallery.bob, tag=gallery.dog) == ["b1"]
    assert listed(api, gallery, user_id=gallery.bob, tag=unique_tag("none")) == []


def test_unknown_user_lists_nothing(api: ImageApi, gallery: Gallery) -> None:
    assert listed(api, gallery, user_id=unique_user()) == []


def test_listed_items_carry_the_same_metadata_as_get(api: ImageApi, gallery: Gallery) -> None:
    response = api.list_images({"user_id": gallery.alice, "tag": gallery.dog})

    assert response.status_code == 200, response.text
    assert set(response.json()) == {"items", "next_cursor"}
    [item] = response.json()["items"]
    assert item == api.get(gallery.ids["a2"]).json()
    assert response.json()["next_cursor"] is None


def test_pending_images_are_not_listed(api: ImageApi, gallery: Gallery) -> None:
    # Given alice's pending image tagged cat (requested, bytes never sent)
    # When listing in every way that would include it, Then it is absent
    for params in (
        {"user_id": gallery.alice},
        {"tag": gallery.cat},
        {"user_id": gallery.alice, "tag": gallery.cat},
    ):
        assert "pending" not in listed(api, gallery, **params), params
    assert "pending" not in listed(
        api, gallery, user_id=gallery.alice, **{"from": gallery.first_day.isoformat()}
    )


# --- dates ------------------------------------------------------------------------------------


def test_range_of_today_lists_todays_images(api: ImageApi, gallery: Gallery) -> None:
    today = {"from": gallery.first_day.isoformat(), "to": gallery.last_day.isoformat()}

    assert listed(api, gallery, user_id=gallery.alice, **today) == ["a3", "a2", "a1"]
    assert listed(api, gallery, tag=gallery.cat, **today) == ["a2", "b1", "a1"]


def test_to_a_date_includes_the_whole_of_that_day(api: ImageApi, gallery: Gallery) -> None:
    assert listed(api, gallery, user_id=gallery.alice, to=gallery.last_day.isoformat()) == ["a3", "a2", "a1"]


def test_from_a_date_starts_at_its_midnight(api: ImageApi, gallery: Gallery) -> None:
    params = {"from": gallery.first_day.isoformat()}
    assert listed(api, gallery, user_id=gallery.alice, **params) == ["a3", "a2", "a1"]


def test_ranges_excluding_today_list_nothing(api: ImageApi, gallery: Gallery) -> None:
    yesterday = (gallery.first_day - timedelta(days=1)).isoformat()
    tomorrow = (gallery.last_day + timedelta(days=1)).isoformat()

    assert listed(api, gallery, user_id=gallery.alice, **{"from": yesterday, "to": yesterday}) == []
    assert listed(api, gallery, user_id=gallery.alice, to=yesterday) == []
    assert listed(api, gallery, user_id=gallery.alice, **{"from": tomorrow}) == []
    assert listed(api, gallery, tag=gallery.cat, **{"from": tomorrow, "to": tomorrow}) == []
    assert listed(api, gallery, user_id=gallery.alice, **{"from": yesterday, "to": tomorrow}) == [
        "a3",
        "a2",
        "a1",
    ]


def test_datetime_with_offset_is_converted_to_utc(api: ImageApi, gallery: Gallery) -> None:
    # a2's creation instant written in +02:00 and in -05:00: the wall-clock times differ by hours,
    # so a service that ignored the offset would list a different set.
    a2 = gallery.created["a2"]

    assert listed(api, gallery, user_id=gallery.alice, **{"from": at(a2, PLUS_TWO)}) == ["a3", "a2"]
    assert listed(api, gallery, user_id=gallery.alice, to=at(a2, MINUS_FIVE)) == ["a2", "a1"]
    assert listed(api, gallery, user_id=gallery.alice, to=at(a2 - timedelta(microseconds=1), PLUS_TWO)) == [
        "a1"
    ]


def test_bounds_are_inclusive_to_the_microsecond(api: ImageApi, gallery: Gallery) -> None:
    a2 = gallery.created["a2"].isoformat(timespec="microseconds").replace("+00:00", "Z")

    assert listed(api, gallery, user_id=gallery.alice, **{"from": a2, "to": a2}) == ["a2"]


def test_unencoded_plus_of_an_offset_is_understood(api: ImageApi, gallery: Gallery) -> None:
    # Given a "+02:00" typed into a URL unencoded, which arrives as a space
    since = at(gallery.created["a2"], PLUS_TWO)
    assert "+" in since
    url = f"{api.url('images')}?user_id={gallery.alice}&from={since}"

    # When listing with it, Then it means the same as "%2B02:00"
    response = api.http.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert gallery.names([item["image_id"] for item in response.json()["items"]]) == ["a3", "a2"]
    encoded = f"{api.url('images')}?user_id={gallery.alice}&from={quote(since, safe='')}"
    assert api.http.get(encoded, timeout=30).json() == response.json()


def test_filters_combine(api: ImageApi, gallery: Gallery) -> None:
    a1, a2 = gallery.created["a1"], gallery.created["a2"]
    today = gallery.last_day.isoformat()

    # user + tag + from (datetime with offset)
    assert listed(api, gallery, user_id=gallery.alice, tag=gallery.cat, **{"from": at(a2, PLUS_TWO)}) == [
        "a2"
    ]
    # tag + to (datetime with offset)
    assert listed(api, gallery, tag=gallery.cat, to=at(a1, MINUS_FIVE)) == ["a1"]
    # tag + from datetime + to date
    assert listed(
        api, gallery, tag=gallery.cat, to=today, **{"from": at(a1 + timedelta(microseconds=1), PLUS_TWO)}
    ) == [
        "a2",
        "b1",
    ]
    # user + tag + a whole day
    assert listed(api, gallery, user_id=gallery.bob, tag=gallery.dog, to=today, **{"from": today}) == ["b1"]


def test_limit_cuts_the_newest_first_list(api: ImageApi, gallery: Gallery) -> None:
    response = api.list_images({"user_id": gallery.alice, "limit": "1"})

    assert response.status_code == 200, response.text
    assert gallery.names([item["image_id"] for item in response.json()["items"]]) == ["a3"]
    assert response.json()["next_cursor"]


def test_the_pending_image_becomes_listed_once_its_bytes_arrive(api: ImageApi) -> None:
    # Given a pending image (its own user, so the shared gallery is left unchanged)
    user, tag = unique_user(), unique_tag("late")
    grant = request_upload(api, user, [tag])
    assert api.listed_ids({"user_id": user}) == []

    # When its bytes arrive
    send_bytes(grant, png_bytes(), "image/png")
    wait_until_available(api, grant.image_id)

    # Then it is listed by user and by tag
    assert api.listed_ids({"user_id": user}) == [grant.image_id]
    assert api.listed_ids({"tag": tag}) == [grant.image_id]


def test_user_id_with_every_allowed_punctuation_is_stored_and_listed(api: ImageApi) -> None:
    # Given a user id like an e-mail address
    user = f"First.Last_{uuid.uuid4().hex[:8]}-x@example.com"

    # When that user uploads an image
    image_id = upload_image(api, user, [], "image/png", png_bytes())
    image = wait_until_available(api, image_id)

    # Then it is recorded and listed under exactly that id (case kept)
    assert image["user_id"] == user
    assert api.listed_ids({"user_id": user}) == [image_id]
    assert api.listed_ids({"user_id": user.lower()}) == []
