"""POST /images/upload: registration of a pending image and the presigned POST it grants."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from image_core import schema
from tests.unit.conftest import (
    BUCKET_NAME,
    MAX_UPLOAD_BYTES,
    PENDING_GRACE_SECONDS,
    UPLOAD_URL_EXPIRES_SECONDS,
    Aws,
)
from tests.unit.harness import ApiClient

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def policy_of(fields: dict[str, str]) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(base64.b64decode(fields["policy"]))
    return policy


def test_upload_with_query_parameters_registers_a_pending_image(api: ApiClient, aws: Aws) -> None:
    # Given a signed-in client that sends everything in the query string
    client = api.as_user("alice@example.com")

    # When it asks to upload
    result = client.upload(
        query={
            "tags": " Cats,dogs , cats",
            "description": "On the sofa",
            "content_type": "image/png",
        }
    )

    # Then the answer is 201 with the id, the upload form and its lifetime
    assert result.status_code == 201
    answer = result.json()
    assert set(answer) == {"image_id", "upload", "expires_in"}
    assert answer["expires_in"] == UPLOAD_URL_EXPIRES_SECONDS
    assert set(answer["upload"]) == {"url", "fields"}
    # And a pending, private record of the uploader holds the normalised metadata
    image = client.get(answer["image_id"]).json()
    assert image == {
        "image_id": answer["image_id"],
        "user_id": "alice@example.com",
        "tags": ["cats", "dogs"],
        "description": "On the sofa",
        "content_type": "image/png",
        "size": None,
        "status": "pending",
        "created_at": "2026-03-01T12:00:00.000000Z",
        "visibility": "private",
        # what processing finds in the bytes, once they come
        "width": None,
        "height": None,
        "format": None,
        "sha256": None,
        "frames": None,
        "exif_orientation": None,
        "duplicate_of": None,
        "reason": None,
    }
    # And nothing is listable yet
    stored = aws.item(answer["image_id"])
    assert stored is not None
    assert not {index.partition_key for index in schema.LIST_INDEXES} & set(stored)
    assert schema.LISTED_AT not in stored
    # And the record expires (TTL) a grace period after the upload window closes
    created = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    window = timedelta(seconds=UPLOAD_URL_EXPIRES_SECONDS + PENDING_GRACE_SECONDS)
    assert stored[schema.TTL_ATTRIBUTE] == int((created + window).timestamp())


def test_upload_with_a_json_body_is_the_same_as_with_query_parameters(api: ApiClient) -> None:
    # Given bob, who sends everything as JSON, tags as an array
    bob = api.as_user("bob")
    body = {
        "tags": ["Sunset", "beach", "sunset"],
        "description": "Evening",
        "content_type": "image/webp",
        "visibility": "public",
    }

    # When he asks to upload
    result = bob.upload(body=body)

    # Then the image is registered as his with the same rules applied
    assert result.status_code == 201
    image = bob.get(result.json()["image_id"]).json()
    assert (image["user_id"], image["tags"], image["description"], image["content_type"]) == (
        "bob",
        ["sunset", "beach"],
        "Evening",
        "image/webp",
    )
    assert image["visibility"] == "public"


def test_upload_fields_may_be_split_between_query_and_body(api: ApiClient) -> None:
    # Given the visibility in the query string and the rest in the body
    result = api.upload(query={"visibility": "public"}, body={"tags": ["x"], "description": "split"})

    # Then both halves are used
    assert result.status_code == 201
    image = api.get(result.json()["image_id"]).json()
    assert (image["visibility"], image["tags"], image["description"]) == ("public", ["x"], "split")


def test_content_type_defaults_to_jpeg_tags_to_none_and_visibility_to_private(api: ApiClient) -> None:
    result = api.upload()

    assert result.status_code == 201
    image = api.get(result.json()["image_id"]).json()
    assert image["content_type"] == "image/jpeg"
    assert image["tags"] == []
    assert image["description"] is None
    assert image["visibility"] == "private"
    assert result.json()["upload"]["fields"]["Content-Type"] == "image/jpeg"


def test_each_upload_gets_a_new_server_chosen_id_and_a_sortable_timestamp(api: ApiClient) -> None:
    first = api.upload().json()["image_id"]
    second = api.upload().json()["image_id"]

    assert first != second
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    created = [api.get(image_id).json()["created_at"] for image_id in (first, second)]
    assert all(TIMESTAMP.fullmatch(moment) for moment in created)
    assert created[0] < created[1]


def test_presigned_post_pins_the_key_the_content_type_and_the_size(api: ApiClient) -> None:
    # Given an upload request for a PNG
    before = datetime.now(UTC)
    result = api.upload(query={"content_type": "image/png"})
    image_id = result.json()["image_id"]
    upload = result.json()["upload"]

    # Then the form posts to the bucket, for exactly the image's incoming (quarantine) key
    key = schema.incoming_object_key(image_id)
    assert BUCKET_NAME in upload["url"]
    assert upload["fields"]["key"] == key
    assert upload["fields"]["Content-Type"] == "image/png"
    # And it is signed with SigV4
    assert upload["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    # And its policy lets S3 accept nothing else
    policy = policy_of(upload["fields"])
    conditions = policy["conditions"]
    assert {"bucket": BUCKET_NAME} in conditions
    assert {"key": key} in conditions
    assert {"Content-Type": "image/png"} in conditions
    assert ["content-length-range", 1, MAX_UPLOAD_BYTES] in conditions
    # And nothing else: no tags (what is unverified is told by the prefix, not a tag)
    assert set(upload["fields"]) - {"policy", "x-amz-signature"} == {
        "key",
        "Content-Type",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-security-token",
    }
    # And it expires after the configured time
    expiration = datetime.fromisoformat(policy["expiration"])
    expected = before + timedelta(seconds=UPLOAD_URL_EXPIRES_SECONDS)
    assert expected - timedelta(seconds=5) <= expiration <= expected + timedelta(seconds=5)


def test_repeated_tags_parameters_are_combined(api: ApiClient) -> None:
    result = api.upload(query={"tags": ["a,b", "c", "A"]})

    assert result.status_code == 201
    assert api.get(result.json()["image_id"]).json()["tags"] == ["a", "b", "c"]


def test_twenty_distinct_tags_are_accepted_counting_after_duplicates_are_removed(api: ApiClient) -> None:
    tags = [f"tag{number}" for number in range(20)] + ["TAG0"]

    result = api.upload(query={"tags": ",".join(tags)})

    assert result.status_code == 201
    assert len(api.get(result.json()["image_id"]).json()["tags"]) == 20


INVALID_QUERIES = [
    pytest.param({"tags": "cats,dogs!"}, "tags", id="tag with a symbol"),
    pytest.param({"tags": "cats,,dogs"}, "tags", id="empty tag"),
    pytest.param({"tags": "t" * 65}, "tags", id="tag too long"),
    pytest.param({"tags": ",".join(f"t{number}" for number in range(21))}, "tags", id="21 tags"),
    pytest.param({"description": "d" * 1001}, "description", id="description too long"),
    pytest.param({"content_type": "image/tiff"}, "content_type", id="content_type unknown"),
    pytest.param({"visibility": "friends"}, "visibility", id="visibility unknown"),
    # Who owns the upload is who signed in; naming anybody, even oneself, is refused.
    pytest.param({"user_id": "alice"}, "user_id", id="user_id given"),
]


@pytest.mark.parametrize(("query", "parameter"), INVALID_QUERIES)
def test_invalid_query_parameter_is_rejected_naming_it_and_writes_nothing(
    api: ApiClient, aws: Aws, query: dict[str, str], parameter: str
) -> None:
    # When a client sends an invalid query parameter
    result = api.upload(query=query)

    # Then the answer is a 400 naming that parameter
    assert result.status_code == 400
    assert result.error["code"] == "invalid_parameter"
    assert f"'{parameter}'" in result.error["message"]
    # And nothing was written anywhere
    assert aws.table_items() == []
    assert aws.object_keys() == []


INVALID_BODIES = [
    pytest.param({"tags": "cats,dogs"}, "tags", id="tags not an array"),
    pytest.param({"tags": ["ok", "not ok"]}, "tags", id="invalid tag in array"),
    pytest.param({"visibility": "everyone"}, "visibility", id="visibility unknown"),
    pytest.param({"user_id": 42}, "user_id", id="user_id not a string"),
    pytest.param({"user_id": "alice"}, "user_id", id="user_id given"),
    pytest.param({"owner": "mallory"}, "owner", id="unknown field"),
    pytest.param(["alice"], "body", id="array body"),
]


@pytest.mark.parametrize(("body", "parameter"), INVALID_BODIES)
def test_invalid_json_body_is_rejected_naming_the_field_and_writes_nothing(
    api: ApiClient, aws: Aws, body: Any, parameter: str
) -> None:
    result = api.upload(body=body)

    assert result.status_code == 400
    assert result.error["code"] == "invalid_parameter"
    assert f"'{parameter}'" in result.error["message"]
    assert aws.table_items() == []


def test_malformed_json_is_rejected_naming_the_body(api: ApiClient, aws: Aws) -> None:
    result = api.upload(raw_body='{"tags": ["cats"')

    assert result.status_code == 400
    assert result.error["code"] == "invalid_parameter"
    assert "'body'" in result.error["message"]
    assert aws.table_items() == []


@pytest.mark.parametrize("field", ["tags", "description", "content_type", "visibility"])
def test_field_given_both_in_query_and_body_is_rejected_naming_it(
    api: ApiClient, aws: Aws, field: str
) -> None:
    # Given the same field in both places, even with equal values
    query_values = {"tags": "cats", "description": "x", "content_type": "image/png", "visibility": "public"}
    body_values: dict[str, Any] = {
        "tags": ["cats"],
        "description": "x",
        "content_type": "image/png",
        "visibility": "public",
    }
    query = {field: query_values[field]}
    body = {field: body_values[field]}

    # When the client uploads
    result = api.upload(query=query, body=body)

    # Then it is told which field is ambiguous, and nothing is stored
    assert result.status_code == 400
    assert result.error["code"] == "invalid_parameter"
    assert f"'{field}'" in result.error["message"]
    assert aws.table_items() == []


def test_non_json_body_is_rejected(api: ApiClient, aws: Aws) -> None:
    result = api.upload(raw_body="tags=cats", content_type="text/plain")

    assert result.status_code == 400
    assert result.error["code"] == "invalid_parameter"
    assert "'body'" in result.error["message"]
    assert aws.table_items() == []
