"""``AUTH_MODE=none`` (demos only; prod refuses it): the ``user_id`` parameter names the actor.

Nothing is verified, as before the service had identities: an upload names its owner, a
list without a user shows everyone's images, and a request that names nobody may do anything.
A request that names a user is held to that user's rights.
"""

from __future__ import annotations

import pytest

from image_core import schema
from tests.unit.conftest import BUCKET_NAME, LISTING_SHARDS, Aws, picture_of
from tests.unit.harness import ApiClient, deliver_object_created


@pytest.fixture
def authentication_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Functions deployed with authentication off: set before the service is built, since the
    repository it builds writes the all-users indexes only in this mode."""
    monkeypatch.setenv("AUTH_MODE", "none")
    for name in ("AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_JWKS", "AUTH_JWKS_URL"):
        monkeypatch.delenv(name)


@pytest.fixture
def anonymous(authentication_off: None, api: ApiClient) -> ApiClient:
    """A client without credentials, against functions deployed with authentication off."""
    return ApiClient(authorization=None)


@pytest.fixture
def uploaded(anonymous: ApiClient, aws: Aws) -> dict[str, str]:
    """alice's private image (cats) and bob's public one (dogs), both available."""
    ids = {}
    for user, tag, visibility in (("alice", "cats", "private"), ("bob", "dogs", "public")):
        result = anonymous.upload(query={"user_id": user, "tags": tag, "visibility": visibility})
        assert result.status_code == 201, result.body
        image_id = result.json()["image_id"]
        key = schema.incoming_object_key(image_id)
        picture = picture_of(image_id)
        etag = aws.put(key, picture, "image/jpeg")
        deliver_object_created(BUCKET_NAME, key, len(picture), etag=etag)
        ids[user] = image_id
    return ids


def test_the_user_id_parameter_names_the_owner_of_an_upload(
    anonymous: ApiClient, uploaded: dict[str, str]
) -> None:
    assert anonymous.get(uploaded["alice"]).json()["user_id"] == "alice"
    assert anonymous.get(uploaded["bob"]).json()["user_id"] == "bob"


@pytest.mark.parametrize(
    ("query", "body", "message"),
    [
        pytest.param({}, None, "invalid 'user_id': is required", id="missing"),
        pytest.param(
            {"user_id": "al ice"}, None, "invalid 'user_id': String should match pattern", id="invalid"
        ),
        pytest.param(
            {"user_id": "alice"},
            {"user_id": "alice"},
            "invalid 'user_id': given both in the query string and in the body; give it once",
            id="given twice",
        ),
    ],
)
def test_an_upload_must_name_its_owner_once(
    anonymous: ApiClient, aws: Aws, query: dict[str, str], body: dict[str, str] | None, message: str
) -> None:
    result = anonymous.upload(query=query, body=body)

    assert result.status_code == 400
    assert result.error["message"].startswith(message)
    assert aws.table_items() == []


def test_the_owner_may_also_be_named_in_the_body(anonymous: ApiClient) -> None:
    image_id = anonymous.upload(body={"user_id": "carol"}).json()["image_id"]

    assert anonymous.get(image_id).json()["user_id"] == "carol"


def test_a_request_that_names_nobody_may_do_anything(
    anonymous: ApiClient, aws: Aws, uploaded: dict[str, str]
) -> None:
    # Every image is listed, by all images and by tag
    assert {item["image_id"] for item in anonymous.list().json()["items"]} == set(uploaded.values())
    assert [item["image_id"] for item in anonymous.list(tag="cats").json()["items"]] == [uploaded["alice"]]
    # And any image is read, downloaded and deleted
    assert anonymous.get(uploaded["alice"]).status_code == 200
    assert anonymous.download(uploaded["alice"]).status_code == 200
    assert anonymous.delete(uploaded["alice"]).status_code == 204


def test_a_request_that_names_a_user_gets_that_users_rights(
    anonymous: ApiClient, uploaded: dict[str, str]
) -> None:
    as_bob = {"user_id": "bob"}

    assert [item["image_id"] for item in anonymous.list(**as_bob).json()["items"]] == [uploaded["bob"]]
    assert anonymous.get(uploaded["alice"], query=as_bob).status_code == 404
    assert anonymous.delete(uploaded["alice"], query=as_bob).status_code == 404
    assert anonymous.get(uploaded["bob"], query=as_bob).status_code == 200


def test_the_public_listing_cannot_be_narrowed_to_a_user(
    anonymous: ApiClient, uploaded: dict[str, str]
) -> None:
    assert [item["image_id"] for item in anonymous.list(visibility="public").json()["items"]] == [
        uploaded["bob"]
    ]

    result = anonymous.list(visibility="public", user_id="bob")

    assert result.status_code == 400
    assert "'visibility'" in result.error["message"]


def test_tokens_are_ignored(anonymous: ApiClient, uploaded: dict[str, str]) -> None:
    result = ApiClient(authorization="Bearer not-even-a-token").get(uploaded["alice"])

    assert result.status_code == 200


def test_lists_without_a_user_read_the_all_images_and_by_tag_indexes(
    anonymous: ApiClient, aws: Aws, uploaded: dict[str, str]
) -> None:
    aws.dynamodb_calls.clear()

    anonymous.list()
    anonymous.list(tag="cats")

    # Each sharded like the public index: one Query per shard and one on the unsharded partition
    queries = aws.calls_of("Query")
    assert [params["IndexName"] for params in queries] == [schema.ALL_IMAGES.name] * (LISTING_SHARDS + 1) + [
        schema.BY_TAG.name
    ] * (LISTING_SHARDS + 1)


def test_the_all_users_indexes_are_written_only_with_authentication_off(
    anonymous: ApiClient, aws: Aws, uploaded: dict[str, str]
) -> None:
    # alice's image and its tag item carry the all-users keys, in the shard of the image id
    image_id = uploaded["alice"]
    shard = schema.shard_of(image_id, LISTING_SHARDS)
    image_item = aws.item(image_id)
    tag_item = aws.item(image_id, schema.tag_sort_key("cats"))
    assert image_item is not None
    assert tag_item is not None
    assert image_item[schema.ALL_IMAGES.partition_key] == schema.shard_partition("IMAGES", shard)
    assert tag_item[schema.BY_TAG.partition_key] == schema.shard_partition("TAG#cats", shard)
