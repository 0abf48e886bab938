"""PATCH /images/{image_id}: an owner's edit of tags, description and visibility, listed right at once.

Every listing index is checked after each kind of edit: the caller's own (all, and by tag) and
the public ones (all, and by tag), through the real list handler on moto's DynamoDB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from image_api.identity import Caller
from image_api.parameters import ImageEdit
from image_api.use_cases import ImageService
from image_core import schema
from tests.unit.conftest import BUCKET_NAME, Aws, UploadImage, picture_of
from tests.unit.harness import ApiClient, deliver_object_created, deliver_processing_failure


def listed_in(api: ApiClient, image_id: str, tags: Iterable[str]) -> set[str]:
    """Which listings find the image: ``own``, ``own:<tag>``, ``public``, ``public:<tag>`` (for ``tags``)."""
    queries: dict[str, dict[str, str]] = {"own": {}, "public": {"visibility": "public"}}
    for tag in tags:
        queries[f"own:{tag}"] = {"tag": tag}
        queries[f"public:{tag}"] = {"visibility": "public", "tag": tag}
    found = set()
    for name, query in queries.items():
        result = api.list(**query, limit="100")
        assert result.status_code == 200, result.body
        if image_id in [item["image_id"] for item in result.json()["items"]]:
            found.add(name)
    return found


def tag_items(aws: Aws, image_id: str) -> dict[str, dict[str, Any]]:
    """The image's tag items in the table, by tag."""
    partition = schema.image_partition(image_id)
    return {
        item[schema.SORT_KEY].removeprefix(schema.TAG_SORT_KEY_PREFIX): item
        for item in aws.table_items()
        if item[schema.PARTITION_KEY] == partition and item[schema.SORT_KEY] != schema.IMAGE_SORT_KEY
    }


# --- each kind of edit, every listing after it -------------------------------------------------


def test_a_tag_added_finds_the_image_in_its_own_and_public_tag_listings(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given a public image tagged cats
    image_id = available_image(tags=["cats"], visibility="public")

    # When its owner adds the tag dogs
    result = api.edit(image_id, {"tags": ["cats", "Dogs"]})

    # Then the answer is the image as edited (tags lower-cased, like an upload's)
    assert result.status_code == 200, result.body
    assert result.json()["tags"] == ["cats", "dogs"]
    # And every listing finds it under both tags at once
    assert listed_in(api, image_id, ["cats", "dogs"]) == {
        "own",
        "own:cats",
        "own:dogs",
        "public",
        "public:cats",
        "public:dogs",
    }
    assert set(tag_items(aws, image_id)) == {"cats", "dogs"}


def test_a_tag_removed_no_longer_finds_the_image_and_leaves_no_tag_item(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given a public image tagged cats and dogs
    image_id = available_image(tags=["cats", "dogs"], visibility="public")

    # When its owner keeps only dogs
    result = api.edit(image_id, {"tags": ["dogs"]})

    # Then cats finds it nowhere, dogs everywhere it did
    assert result.status_code == 200, result.body
    assert listed_in(api, image_id, ["cats", "dogs"]) == {"own", "own:dogs", "public", "public:dogs"}
    assert set(tag_items(aws, image_id)) == {"dogs"}


def test_every_tag_removed_leaves_the_image_listed_only_without_a_tag(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    image_id = available_image(tags=["cats", "dogs"], visibility="public")

    result = api.edit(image_id, {"tags": []})

    assert result.status_code == 200, result.body
    assert result.json()["tags"] == []
    assert listed_in(api, image_id, ["cats", "dogs"]) == {"own", "public"}
    assert tag_items(aws, image_id) == {}


def test_making_an_image_private_removes_it_from_the_public_listings_only(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given a public image tagged cats, which bob can see
    image_id = available_image(tags=["cats"], visibility="public")
    bob = api.as_user("bob")
    assert bob.get(image_id).status_code == 200

    # When its owner makes it private
    result = api.edit(image_id, {"visibility": "private"})

    # Then it is out of both public listings, still in both of the owner's, and bob cannot see it
    assert result.status_code == 200, result.body
    assert result.json()["visibility"] == "private"
    assert listed_in(api, image_id, ["cats"]) == {"own", "own:cats"}
    assert listed_in(bob, image_id, ["cats"]) == set()
    assert bob.get(image_id).status_code == 404
    # And neither the image item nor its tag item keeps a public index key
    assert schema.PUBLIC.partition_key not in (aws.item(image_id) or {})
    assert schema.PUBLIC.partition_key not in tag_items(aws, image_id)["cats"]


def test_making_an_image_public_adds_it_to_both_public_listings(
    api: ApiClient, available_image: UploadImage
) -> None:
    # Given a private image tagged cats
    image_id = available_image(tags=["cats"])
    bob = api.as_user("bob")
    assert listed_in(bob, image_id, ["cats"]) == set()

    # When its owner makes it public
    result = api.edit(image_id, {"visibility": "public"})

    # Then everyone signed in finds it among the public ones, all of them and by tag
    assert result.status_code == 200, result.body
    assert listed_in(bob, image_id, ["cats"]) == {"public", "public:cats"}
    assert listed_in(api, image_id, ["cats"]) == {"own", "own:cats", "public", "public:cats"}
    assert bob.get(image_id).json()["visibility"] == "public"


def test_a_new_description_is_what_every_listing_shows(api: ApiClient, available_image: UploadImage) -> None:
    # Given a public image tagged cats
    image_id = available_image(tags=["cats"], visibility="public")

    # When its owner describes it
    result = api.edit(image_id, {"description": "Mia in the sun"})

    # Then each listing's copy (image item and tag item alike) says so
    assert result.status_code == 200, result.body
    for query in ({}, {"tag": "cats"}, {"visibility": "public"}, {"visibility": "public", "tag": "cats"}):
        (item,) = [i for i in api.list(**query).json()["items"] if i["image_id"] == image_id]
        assert item["description"] == "Mia in the sun", query
    # And an empty string clears it
    assert api.edit(image_id, {"description": ""}).json()["description"] == ""


def test_the_answer_is_the_image_as_get_shows_it_and_untouched_fields_stay(
    api: ApiClient, available_image: UploadImage
) -> None:
    image_id = available_image(tags=["cats"], visibility="public")
    before = api.get(image_id).json()

    result = api.edit(image_id, {"tags": ["dogs"]})

    assert result.status_code == 200, result.body
    assert result.json() == api.get(image_id).json()
    assert {**before, "tags": ["dogs"]} == result.json()


def test_an_edit_that_changes_nothing_writes_nothing(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    image_id = available_image(tags=["cats"], visibility="public")
    aws.dynamodb_calls.clear()

    result = api.edit(image_id, {"tags": ["CATS"], "visibility": "public"})

    assert result.status_code == 200, result.body
    assert [name for name, _ in aws.dynamodb_calls] == ["GetItem"]


# --- pending images: the edit is kept when processing makes them available ---------------------


def test_a_pending_image_keeps_its_edit_when_it_becomes_available(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given a pending private image tagged cats
    image_id = pending_image(tags=["cats"])

    # When its owner edits it before its bytes arrive
    result = api.edit(image_id, {"tags": ["dogs"], "description": "later", "visibility": "public"})
    assert result.status_code == 200, result.body
    assert result.json()["status"] == "pending"
    assert tag_items(aws, image_id) == {}  # not listed yet, so no tag items

    # And then the bytes arrive and are processed
    key = schema.incoming_object_key(image_id)
    etag = aws.put(key, picture_of(image_id), "image/jpeg")
    deliver_object_created(BUCKET_NAME, key, len(picture_of(image_id)), etag=etag)

    # Then the available image is listed as edited
    image = api.get(image_id).json()
    assert (image["status"], image["tags"], image["description"], image["visibility"]) == (
        "available",
        ["dogs"],
        "later",
        "public",
    )
    assert listed_in(api, image_id, ["cats", "dogs"]) == {"own", "own:dogs", "public", "public:dogs"}
    assert set(tag_items(aws, image_id)) == {"dogs"}


# --- who may edit what -------------------------------------------------------------------------


def test_someone_elses_public_image_is_forbidden_and_unchanged(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    image_id = available_image(tags=["cats"], visibility="public")
    before = aws.table_items()

    result = api.as_user("bob").edit(image_id, {"tags": ["mine"]})

    assert result.status_code == 403
    assert result.error["code"] == "forbidden"
    assert aws.table_items() == before


@pytest.mark.parametrize("visibility", ["private", "public"])
def test_someone_elses_image_they_cannot_see_is_not_found(
    api: ApiClient, aws: Aws, pending_image: UploadImage, available_image: UploadImage, visibility: str
) -> None:
    # A private image, or a public one not available yet: bob cannot see either
    image_id = (
        available_image(tags=["cats"]) if visibility == "private" else pending_image(visibility="public")
    )
    before = aws.table_items()

    result = api.as_user("bob").edit(image_id, {"tags": ["mine"]})

    assert result.status_code == 404
    assert result.error["code"] == "not_found"
    assert aws.table_items() == before


@pytest.mark.parametrize("image_id", ["0123456789abcdef0123456789abcdef", "not-an-id", "%2e%2e"])
def test_an_unknown_image_is_not_found(api: ApiClient, aws: Aws, image_id: str) -> None:
    result = api.edit(image_id, {"tags": ["cats"]})

    assert result.status_code == 404
    assert result.error["code"] == "not_found"
    assert aws.table_items() == []


def test_without_a_token_nothing_is_edited(api: ApiClient, aws: Aws, available_image: UploadImage) -> None:
    image_id = available_image(tags=["cats"])
    before = aws.table_items()

    result = ApiClient(authorization=None).edit(image_id, {"tags": ["x"]})

    assert result.status_code == 401
    assert result.error["code"] == "unauthorized"
    assert aws.table_items() == before


# --- states that cannot be edited ---------------------------------------------------------------


def rejected(aws: Aws, pending_image: UploadImage) -> str:
    image_id = pending_image(tags=["cats"])
    key = schema.incoming_object_key(image_id)
    etag = aws.put(key, b"this is not an image", "image/jpeg")
    deliver_object_created(BUCKET_NAME, key, 20, etag=etag)
    return image_id


def failed(aws: Aws, pending_image: UploadImage) -> str:
    image_id = pending_image(tags=["cats"])
    key = schema.incoming_object_key(image_id)
    etag = aws.put(key, picture_of(image_id), "image/jpeg")
    deliver_processing_failure(BUCKET_NAME, key, len(picture_of(image_id)), etag=etag)
    return image_id


def deleting(aws: Aws, available_image: UploadImage) -> str:
    image_id = available_image(tags=["cats"])
    aws.mark_deleting(image_id)
    return image_id


@pytest.mark.parametrize(
    ("make", "status"), [(rejected, "rejected"), (failed, "failed"), (deleting, "deleting")]
)
def test_an_image_that_is_not_pending_or_available_cannot_be_edited(
    api: ApiClient,
    aws: Aws,
    pending_image: UploadImage,
    available_image: UploadImage,
    make: Callable[..., str],
    status: str,
) -> None:
    image_id = make(aws, available_image if make is deleting else pending_image)
    assert (aws.item(image_id) or {})["status"] == status
    before = aws.table_items()

    result = api.edit(image_id, {"tags": ["dogs"]})

    assert result.status_code == 409
    assert result.error["code"] == "conflict"
    assert status in result.error["message"]
    assert aws.table_items() == before


# --- bad bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "body"),
        ({"title": "x"}, "title"),
        ({"tags": ["cats"], "user_id": "bob"}, "user_id"),
        ({"tags": None}, "body"),
        ({"description": None}, "body"),
        ({"tags": "cats"}, "tags"),
        ({"tags": ["no spaces"]}, "tags"),
        ({"tags": [""]}, "tags"),
        ({"tags": ["x" * 65]}, "tags"),
        ({"tags": [f"t{number}" for number in range(21)]}, "tags"),
        ({"description": "x" * 1001}, "description"),
        ({"visibility": "secret"}, "visibility"),
        (["cats"], "body"),
    ],
)
def test_a_bad_body_is_a_400_naming_the_problem_and_writes_nothing(
    api: ApiClient, aws: Aws, available_image: UploadImage, body: Any, named: str
) -> None:
    image_id = available_image(tags=["cats"])
    before = aws.table_items()

    result = api.edit(image_id, body)

    assert result.status_code == 400, result.body
    assert result.error["code"] == "invalid_parameter"
    assert result.error["message"].startswith(f"invalid '{named}'"), result.error
    assert aws.table_items() == before


@pytest.mark.parametrize(
    ("raw_body", "content_type"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("{not json", "application/json"),
        ("tags=a", "text/plain"),
    ],
)
def test_no_body_or_one_that_is_not_json_is_a_400(
    api: ApiClient, aws: Aws, available_image: UploadImage, raw_body: str | None, content_type: str
) -> None:
    image_id = available_image(tags=["cats"])
    before = aws.table_items()

    result = (
        api.edit(image_id)
        if raw_body is None
        else api.edit(image_id, raw_body=raw_body, content_type=content_type)
    )

    assert result.status_code == 400, result.body
    assert result.error["code"] == "invalid_parameter"
    assert aws.table_items() == before


def test_twenty_distinct_tags_are_accepted_and_duplicates_count_once(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    image_id = available_image(tags=["cats"])
    tags = [f"t{number}" for number in range(20)]

    result = api.edit(image_id, {"tags": [*tags, "T0", " t1 "]})

    assert result.status_code == 200, result.body
    assert result.json()["tags"] == tags
    assert set(tag_items(aws, image_id)) == set(tags)


# --- concurrent writers --------------------------------------------------------------------------


class BeforeFirstTransaction:
    """A botocore hook that runs ``interloper`` once, just before the service's first transaction:
    another writer landing between a read and the conditional write decided from it."""

    def __init__(self, aws: Aws, interloper: Callable[[], None]) -> None:
        self.interloper = interloper
        self.ran = False
        aws.service_dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", self)

    def __call__(self, **_: Any) -> None:
        if not self.ran:
            self.ran = True
            self.interloper()


def test_two_racing_edits_of_different_fields_both_stay(
    api: ApiClient, aws: Aws, service: ImageService, available_image: UploadImage
) -> None:
    # Given a public image tagged cats, and a second edit landing between the first's read and write
    image_id = available_image(tags=["cats"], visibility="public")
    race = BeforeFirstTransaction(
        aws,
        lambda: service.edit_image(
            image_id, Caller.signed_in("alice"), ImageEdit(tags=["dogs"], visibility="private")
        ),
    )

    # When the first edit (the description) writes
    result = api.edit(image_id, {"description": "both"})

    # Then it read again and applied its change to the second edit's result: nothing is lost
    assert race.ran
    assert result.status_code == 200, result.body
    image = api.get(image_id).json()
    assert (image["tags"], image["visibility"], image["description"]) == (["dogs"], "private", "both")
    assert listed_in(api, image_id, ["cats", "dogs"]) == {"own", "own:dogs"}
    assert set(tag_items(aws, image_id)) == {"dogs"}
    assert tag_items(aws, image_id)["dogs"]["description"] == "both"


def test_two_racing_edits_of_the_same_field_leave_the_last_writer_and_no_stale_tag_item(
    api: ApiClient, aws: Aws, service: ImageService, available_image: UploadImage
) -> None:
    image_id = available_image(tags=["cats"], visibility="public")
    BeforeFirstTransaction(
        aws, lambda: service.edit_image(image_id, Caller.signed_in("alice"), ImageEdit(tags=["dogs"]))
    )

    result = api.edit(image_id, {"tags": ["birds"]})

    assert result.status_code == 200, result.body
    assert result.json()["tags"] == ["birds"]
    assert set(tag_items(aws, image_id)) == {"birds"}
    assert listed_in(api, image_id, ["cats", "dogs", "birds"]) == {
        "own",
        "own:birds",
        "public",
        "public:birds",
    }


def test_processing_that_read_before_an_edit_writes_the_edited_tags(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given a pending image tagged cats whose bytes are being processed, and the owner's edit
    # landing between processing's read and its write
    image_id = pending_image(tags=["cats"])
    BeforeFirstTransaction(
        aws, lambda: _assert_ok(api.edit(image_id, {"tags": ["dogs"], "visibility": "public"}))
    )

    # When processing records the outcome
    key = schema.incoming_object_key(image_id)
    etag = aws.put(key, picture_of(image_id), "image/jpeg")
    deliver_object_created(BUCKET_NAME, key, len(picture_of(image_id)), etag=etag)

    # Then it read again: the image is available with the edit, listed under the new tag only
    image = api.get(image_id).json()
    assert (image["status"], image["tags"], image["visibility"]) == ("available", ["dogs"], "public")
    assert set(tag_items(aws, image_id)) == {"dogs"}
    assert listed_in(api, image_id, ["cats", "dogs"]) == {"own", "own:dogs", "public", "public:dogs"}


def test_an_edit_that_read_a_pending_image_made_available_meanwhile_lists_its_tags(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given a pending image, and processing making it available between the edit's read and write
    image_id = pending_image(tags=["cats"])
    key = schema.incoming_object_key(image_id)
    etag = aws.put(key, picture_of(image_id), "image/jpeg")
    race = BeforeFirstTransaction(
        aws, lambda: deliver_object_created(BUCKET_NAME, key, len(picture_of(image_id)), etag=etag)
    )

    # When the edit writes
    result = api.edit(image_id, {"tags": ["dogs"]})

    # Then it read again, and wrote the available image's tag items too
    assert race.ran
    assert result.status_code == 200, result.body
    assert result.json()["status"] == "available"
    assert set(tag_items(aws, image_id)) == {"dogs"}
    assert listed_in(api, image_id, ["cats", "dogs"]) == {"own", "own:dogs"}


def test_a_delete_that_read_before_an_edit_leaves_no_tag_item_behind(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given an image tagged cats, and an edit to dogs landing between the delete's read and hide
    image_id = available_image(tags=["cats"], visibility="public")
    BeforeFirstTransaction(aws, lambda: _assert_ok(api.edit(image_id, {"tags": ["dogs"]})))

    # When the delete goes on
    result = api.delete(image_id)

    # Then it read again: every item of the image is gone, none listed under the new tag
    assert result.status_code == 204, result.body
    assert [
        item for item in aws.table_items() if item[schema.PARTITION_KEY] == schema.image_partition(image_id)
    ] == []
    assert listed_in(api, image_id, ["cats", "dogs"]) == set()


def test_an_edit_losing_every_attempt_is_a_conflict(
    api: ApiClient, aws: Aws, service: ImageService, available_image: UploadImage
) -> None:
    # Given another writer landing before every one of the edit's writes
    image_id = available_image(tags=["cats"])
    counter = iter(range(100))

    def interlope(**_: Any) -> None:
        number = next(counter)
        if number % 2 == 0:  # the edit's own attempts; the interloper's writes are the odd calls
            service.edit_image(image_id, Caller.signed_in("alice"), ImageEdit(description=f"d{number}"))

    aws.service_dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", interlope)

    result = api.edit(image_id, {"tags": ["dogs"]})

    assert result.status_code == 409
    assert result.error["code"] == "conflict"
    assert "retry" in result.error["message"]
    assert set(tag_items(aws, image_id)) == {"cats"}


def _assert_ok(result: Any) -> None:
    assert result.status_code == 200, result.body
