"""Who may see, download and delete an image: its owner always; others only a public, available
one, and they never delete it.

An image another user may not see answers exactly like an id nobody uploaded, so that its
id reveals nothing; a public one they can see but not delete answers 403.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from image_core import schema
from image_core.schema import Variant, Visibility
from tests import images
from tests.unit.conftest import BUCKET_NAME, LISTING_SHARDS, TABLE_NAME, Aws, UploadImage
from tests.unit.harness import ApiClient, deliver_object_created, deliver_processing_failure
from tests.unit.test_authentication import snapshot
from tests.unit.test_delete_image_api import FailOnce

UNKNOWN_ID = "0123456789abcdef0123456789abcdef"


# --- the owner -------------------------------------------------------------------------------


@pytest.mark.parametrize("visibility", ["private", "public"])
def test_the_owner_sees_downloads_and_deletes_her_image(
    api: ApiClient, aws: Aws, available_image: UploadImage, visibility: str
) -> None:
    # Given alice's available image
    image_id = available_image(user_id="alice", tags=["cats"], visibility=visibility)

    # Then she sees it, downloads it, and deletes it
    assert api.get(image_id).json()["user_id"] == "alice"
    assert api.get(image_id).json()["visibility"] == visibility
    assert api.download(image_id).status_code == 200
    assert api.delete(image_id).status_code == 204
    assert aws.table_items() == []
    assert aws.object_keys() == []


def test_the_owner_sees_her_pending_images_whatever_their_visibility(
    api: ApiClient, pending_image: UploadImage
) -> None:
    for visibility in ("private", "public"):
        image_id = pending_image(user_id="alice", visibility=visibility)

        assert api.get(image_id).json()["status"] == "pending"
        assert api.download(image_id).status_code == 409


# --- other users -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("visibility", "available"),
    [
        pytest.param("private", True, id="private and available"),
        pytest.param("private", False, id="private and pending"),
        pytest.param("public", False, id="public but not uploaded yet"),
    ],
)
def test_an_image_another_user_may_not_see_is_answered_like_an_unknown_id(
    api: ApiClient,
    aws: Aws,
    available_image: UploadImage,
    pending_image: UploadImage,
    visibility: str,
    available: bool,
) -> None:
    # Given alice's image that bob may not see
    make = available_image if available else pending_image
    image_id = make(user_id="alice", tags=["cats"], visibility=visibility)
    before = snapshot(aws)
    bob = api.as_user("bob")

    # When bob reads, downloads and deletes it, and the same for an id nobody uploaded
    answers = [bob.get(image_id), bob.download(image_id), bob.delete(image_id)]
    unknown = [bob.get(UNKNOWN_ID), bob.download(UNKNOWN_ID), bob.delete(UNKNOWN_ID)]

    # Then every answer is the same 404, and the image is untouched
    assert [(a.status_code, a.body) for a in answers] == [(u.status_code, u.body) for u in unknown]
    assert {a.status_code for a in answers} == {404}
    assert snapshot(aws) == before
    assert api.get(image_id).status_code == 200


def test_a_public_available_image_is_seen_and_downloaded_by_any_signed_in_user(
    api: ApiClient, available_image: UploadImage
) -> None:
    image_id = available_image(user_id="alice", visibility="public")

    for user in ("bob", "carol"):
        other = api.as_user(user)
        assert other.get(image_id).json()["user_id"] == "alice"
        assert other.download(image_id).status_code == 200


def test_only_the_owner_deletes_a_public_image(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given alice's public image, which bob can see
    image_id = available_image(user_id="alice", tags=["cats"], visibility="public")
    before = snapshot(aws)

    # When bob deletes it
    result = api.as_user("bob").delete(image_id)

    # Then he is told he may not, and nothing changed
    assert result.status_code == 403
    assert result.error == {"code": "forbidden", "message": "only the image's owner may delete it"}
    assert snapshot(aws) == before


def test_a_public_image_being_deleted_is_gone_for_everyone_and_its_owner_finishes_the_delete(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given alice's public image whose DELETE failed part-way
    image_id = available_image(user_id="alice", visibility="public")
    aws.mark_deleting(image_id)

    # Then bob can neither see it nor finish deleting it
    bob = api.as_user("bob")
    assert (bob.get(image_id).status_code, bob.delete(image_id).status_code) == (404, 404)
    # And alice's retry finishes it
    assert api.delete(image_id).status_code == 204
    assert aws.table_items() == []


def test_the_owner_is_whoever_uploaded_whatever_the_body_says_about_others(api: ApiClient) -> None:
    # A client cannot upload in someone else's name, neither in the query string nor in the body
    assert api.as_user("mallory").upload(body={"user_id": "alice"}).status_code == 400
    assert api.as_user("mallory").upload(query={"user_id": "alice"}).status_code == 400
    # Uploading without naming anyone makes the uploader the owner
    image_id = api.as_user("mallory").upload().json()["image_id"]
    assert api.as_user("mallory").get(image_id).json()["user_id"] == "mallory"


# --- variants ----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["original", "preview", "thumbnail"])
def test_no_variant_of_a_private_image_is_found_by_another_user(
    api: ApiClient, aws: Aws, available_image: UploadImage, variant: str
) -> None:
    # Given alice's private image, with its variants
    image_id = available_image(user_id="alice")
    bob = api.as_user("bob")

    # When bob asks for one of its downloads, and for the same of an id nobody uploaded
    answer, unknown = bob.download(image_id, variant), bob.download(UNKNOWN_ID, variant)

    # Then both are the same 404, while alice gets hers
    assert (answer.status_code, answer.body) == (404, unknown.body)
    assert api.download(image_id, variant).status_code == 200


@pytest.mark.parametrize("variant", ["preview", "thumbnail"])
def test_a_public_images_variants_are_downloaded_by_any_signed_in_user(
    api: ApiClient, aws: Aws, available_image: UploadImage, variant: str
) -> None:
    image_id = available_image(user_id="alice", visibility="public")
    record = aws.item(image_id)
    assert record is not None

    result = api.as_user("bob").download(image_id, variant)

    assert result.status_code == 200
    key = schema.variant_object_key(image_id, record["revision"], Variant(variant))
    assert urlsplit(result.json()["url"]).path.endswith("/" + key)


def test_another_users_delete_of_a_public_image_leaves_every_variant_and_the_owners_removes_them(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given alice's public image, with its original and two variants
    image_id = available_image(user_id="alice", visibility="public")
    assert len(aws.variant_keys(image_id)) == len(schema.DERIVED_VARIANTS)

    # When bob tries to delete it, Then nothing of it goes
    assert api.as_user("bob").delete(image_id).status_code == 403
    assert len(aws.object_keys()) == 1 + len(schema.DERIVED_VARIANTS)

    # When alice deletes it, Then every variant goes with the original
    assert api.delete(image_id).status_code == 204
    assert aws.object_keys() == []


def test_only_the_owner_is_told_which_of_her_images_a_public_one_duplicates(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given alice's private picture, and the same picture uploaded again as a public image
    data = images.jpeg(seed=21)
    private = pending_image(user_id="alice", tags=["cats"])
    public = pending_image(user_id="alice", tags=["cats"], visibility="public")
    for image_id in (private, public):
        key = schema.incoming_object_key(image_id)
        deliver_object_created(BUCKET_NAME, key, len(data), etag=aws.put(key, data, "image/jpeg"))
    assert api.get(public).json()["duplicate_of"] == private

    # When bob reads the public one, alone or in the public listings
    bob = api.as_user("bob")
    seen = [bob.get(public).json(), *bob.list(visibility="public").json()["items"]]
    seen += bob.list(visibility="public", tag="cats").json()["items"]

    # Then nothing he is shown names alice's private image
    assert [(image["image_id"], image["duplicate_of"]) for image in seen] == [(public, None)] * 3
    assert bob.get(private).status_code == 404


# --- processing and the public listing -------------------------------------------------------------


def public_ids(api: ApiClient, **query: str) -> list[str]:
    """The ids bob finds among everyone's public images."""
    return [
        item["image_id"] for item in api.as_user("bob").list(visibility="public", **query).json()["items"]
    ]


def test_the_public_listing_shows_the_facts_and_visibility_of_each_image(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    image_id = available_image(user_id="alice", tags=["cats"], visibility="public")
    shown = api.get(image_id).json()

    for query in ({}, {"tag": "cats"}):
        (item,) = api.as_user("bob").list(visibility="public", **query).json()["items"]
        assert item == {**shown, "thumbnail_url": None}
        assert (item["visibility"], item["width"], item["format"]) == ("public", 32, "JPEG")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(images.TEXT, "unsupported_format", id="text"),
        pytest.param(images.truncated(images.jpeg(200, 150)), "corrupt", id="truncated JPEG"),
    ],
)
def test_a_public_upload_that_is_rejected_is_never_listed_or_shown_to_others(
    api: ApiClient, aws: Aws, pending_image: UploadImage, data: bytes, reason: str
) -> None:
    # Given alice's public pending image, and bytes that are no acceptable JPEG
    image_id = pending_image(user_id="alice", tags=["cats"], visibility="public")
    key = schema.incoming_object_key(image_id)

    # When they are processed
    deliver_object_created(BUCKET_NAME, key, len(data), etag=aws.put(key, data, "image/jpeg"))

    # Then the image is rejected, in no public listing and hidden from others; no public key anywhere
    assert api.get(image_id).json()["reason"] == reason
    assert public_ids(api) == public_ids(api, tag="cats") == []
    assert api.as_user("bob").get(image_id).status_code == 404
    assert all(schema.PUBLIC.partition_key not in item for item in aws.table_items())


def test_a_public_images_rejected_re_upload_takes_it_out_of_the_public_listing(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given alice's public image, listed publicly
    image_id = available_image(user_id="alice", tags=["cats"], visibility="public")
    assert public_ids(api) == public_ids(api, tag="cats") == [image_id]

    # When she posts a text file through the same form
    key = schema.incoming_object_key(image_id)
    deliver_object_created(BUCKET_NAME, key, len(images.TEXT), etag=aws.put(key, images.TEXT, "image/jpeg"))

    # Then it is rejected and gone from the public listings, and hidden from others
    assert api.get(image_id).json()["status"] == "rejected"
    assert public_ids(api) == public_ids(api, tag="cats") == []
    assert api.as_user("bob").get(image_id).status_code == 404
    record = aws.item(image_id)
    assert record is not None
    assert schema.PUBLIC.partition_key not in record
    assert aws.item(image_id, schema.tag_sort_key("cats")) is None


def test_a_public_image_whose_processing_failed_is_never_listed_publicly(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given alice's public image, re-uploaded with bytes whose processing failed for good
    image_id = available_image(user_id="alice", tags=["cats"], visibility="public")
    key = schema.incoming_object_key(image_id)
    data = images.jpeg(seed=11)
    etag = aws.put(key, data, "image/jpeg")

    # When the failure is recorded
    deliver_processing_failure(BUCKET_NAME, key, len(data), etag=etag)

    # Then it is failed and out of the public listings
    assert api.get(image_id).json()["status"] == "failed"
    assert public_ids(api) == public_ids(api, tag="cats") == []
    assert all(schema.PUBLIC.partition_key not in item for item in aws.table_items())


def test_a_public_pending_image_past_its_expiry_is_gone_for_everyone(
    api: ApiClient, aws: Aws, pending_image: UploadImage
) -> None:
    # Given alice's public pending image whose window and grace have passed
    image_id = pending_image(user_id="alice", visibility="public")
    aws.dynamodb.update_item(
        TableName=TABLE_NAME,
        Key={
            schema.PARTITION_KEY: {"S": schema.image_partition(image_id)},
            schema.SORT_KEY: {"S": schema.IMAGE_SORT_KEY},
        },
        UpdateExpression="SET #ttl = :past",
        ExpressionAttributeNames={"#ttl": schema.TTL_ATTRIBUTE},
        ExpressionAttributeValues={":past": {"N": "1"}},
    )

    # Then neither she nor anybody else finds it, and nobody may delete it but as an unknown id
    for client in (api, api.as_user("bob")):
        assert client.get(image_id).status_code == 404
        assert client.delete(image_id).status_code == 404
    assert public_ids(api) == []


# --- how visibility is stored ---------------------------------------------------------------------


def test_a_public_image_and_its_tag_items_are_in_the_public_index_once_available(
    aws: Aws, available_image: UploadImage, pending_image: UploadImage
) -> None:
    public = available_image(user_id="alice", tags=["cats", "sofa"], visibility="public")
    private = available_image(user_id="alice", tags=["cats"])
    waiting = pending_image(user_id="alice", tags=["cats"], visibility="public")

    public_item = aws.item(public)
    assert public_item is not None
    assert public_item["visibility"] == Visibility.PUBLIC
    # In the public partition's shard of this image (the tag items in the same shard of theirs)
    shard = schema.shard_of(public, LISTING_SHARDS)
    assert public_item[schema.PUBLIC.partition_key] == schema.shard_partition(
        schema.PUBLIC.partition_value(), shard
    )
    for tag in ("cats", "sofa"):
        tag_item = aws.item(public, schema.tag_sort_key(tag))
        assert tag_item is not None
        assert tag_item["visibility"] == Visibility.PUBLIC
        assert tag_item[schema.PUBLIC.partition_key] == schema.shard_partition(
            schema.PUBLIC.partition_value(tag=tag), shard
        )
    for image_id, sort_key in (
        (private, schema.IMAGE_SORT_KEY),
        (private, schema.tag_sort_key("cats")),
        (waiting, schema.IMAGE_SORT_KEY),
    ):
        item = aws.item(image_id, sort_key)
        assert item is not None
        assert schema.PUBLIC.partition_key not in item


def test_a_public_image_whose_delete_failed_part_way_is_already_out_of_the_public_listing(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given alice's public image, listed publicly, and S3 failing the next object deletion
    image_id = available_image(user_id="alice", tags=["cats"], visibility="public")
    bob = api.as_user("bob")
    assert [item["image_id"] for item in bob.list(visibility="public").json()["items"]] == [image_id]
    aws.service_s3.meta.events.register("before-call.s3.DeleteObject", FailOnce("DeleteObject"))

    # When her DELETE fails after hiding the image
    assert api.delete(image_id).status_code == 500

    # Then it is in no public listing any more, its record kept for the retry
    assert bob.list(visibility="public").json()["items"] == []
    assert bob.list(visibility="public", tag="cats").json()["items"] == []
    record = aws.item(image_id)
    assert record is not None
    assert schema.PUBLIC.partition_key not in record


def test_records_written_before_visibility_existed_are_private(
    api: ApiClient, aws: Aws, available_image: UploadImage
) -> None:
    # Given an image record without a visibility attribute, as the service wrote them before
    image_id = available_image(user_id="alice")
    aws.dynamodb.update_item(
        TableName=TABLE_NAME,
        Key={
            schema.PARTITION_KEY: {"S": schema.image_partition(image_id)},
            schema.SORT_KEY: {"S": schema.IMAGE_SORT_KEY},
        },
        UpdateExpression="REMOVE visibility",
    )

    # Then it reads as private: its owner sees it, nobody else
    assert api.get(image_id).json()["visibility"] == "private"
    assert api.as_user("bob").get(image_id).status_code == 404
