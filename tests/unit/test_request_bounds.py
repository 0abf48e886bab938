"""Every request value is bounded before it is parsed, and nothing is parsed by a pattern that can backtrack.

Powertools validates parameters before any middleware runs, so this work happens for
requests without a token too: a value that costs more than its few characters are worth
would be a denial of service open to anyone.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from image_api import delete_image, download, get_image, list_images, upload
from image_api.listing import MAX_CURSOR_LENGTH
from image_api.parameters import MAX_DATE_LENGTH, MAX_TAG_ENTRIES, MAX_TAGS_TEXT_LENGTH
from tests.unit.conftest import Aws, UploadImage
from tests.unit.harness import ApiClient, lambda_context, rest_api_event
from tests.unit.test_list_images_api import first_cursor, open_cursor, seal_cursor, tampered

ANONYMOUS = ApiClient(authorization=None)
# What the date normalisation used to take seconds to give up on: cubic in its length.
CATASTROPHIC_DATE = "T" * 1500

# Not timing assertions on the service: a generous ceiling that only an exponential or
# polynomial blow-up (seconds to minutes for these inputs) would pass.
CEILING_SECONDS = 5.0


def timed(call: Any) -> Any:
    started = time.monotonic()
    result = call()
    assert time.monotonic() - started < CEILING_SECONDS
    return result


@pytest.mark.parametrize("parameter", ["from", "to"])
def test_a_date_of_repeated_ts_is_answered_at_once_401_without_a_token(parameter: str) -> None:
    result = timed(lambda: ANONYMOUS.list(**{parameter: CATASTROPHIC_DATE}))

    assert result.status_code == 401
    assert result.error["code"] == "unauthorized"


@pytest.mark.parametrize("parameter", ["from", "to"])
def test_a_date_of_repeated_ts_is_answered_at_once_400_naming_it_with_a_token(
    api: ApiClient, aws: Aws, parameter: str
) -> None:
    aws.dynamodb_calls.clear()

    result = timed(lambda: api.list(**{parameter: CATASTROPHIC_DATE}))

    assert result.status_code == 400
    assert result.error["code"] == "invalid_parameter"
    assert f"'{parameter}'" in result.error["message"]
    assert aws.dynamodb_calls == []


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("2026-03-01T" + "1" * 60, id="just over the bound"),
        pytest.param("2026-03-01T10:00:00" + " 02:00" * 200, id="spaces and offsets"),
        pytest.param("T 1" * 400 + " 0200", id="what the old pattern tried hardest on"),
    ],
)
def test_dates_of_every_hostile_shape_are_bounded_and_refused(api: ApiClient, value: str) -> None:
    result = timed(lambda: api.list(**{"from": value}))

    assert result.status_code == 400
    assert "'from'" in result.error["message"]


def test_the_longest_date_the_bound_allows_still_parses(api: ApiClient, available_image: UploadImage) -> None:
    # A datetime with microseconds and an offset with seconds: well within the bound
    value = "2026-03-01T10:00:00.123456+02:00:00"
    assert len(value) <= MAX_DATE_LENGTH

    assert api.list(**{"from": value}).status_code == 200
    # And a "+" that arrived decoded as a space is still read as one
    assert api.list(**{"from": "2026-03-01T10:00:00 02:00"}).status_code == 200


def query_parameter_schemas(app: Any, path: str, method: str) -> dict[str, dict[str, Any]]:
    """Each query parameter's schema in the generated OpenAPI, without its ``| None``."""
    schema = json.loads(app.get_openapi_json_schema())
    found: dict[str, dict[str, Any]] = {}
    for parameter in schema["paths"][path][method]["parameters"]:
        options = parameter["schema"].get("anyOf", [parameter["schema"]])
        found[parameter["name"]] = next(option for option in options if option.get("type") != "null")
    return found


def test_the_bounds_are_part_of_the_contract() -> None:
    listing = query_parameter_schemas(list_images.app, "/images", "get")
    uploading = query_parameter_schemas(upload.app, "/images/upload", "post")

    assert listing["from"]["maxLength"] == listing["to"]["maxLength"] == MAX_DATE_LENGTH
    assert listing["cursor"]["maxLength"] == MAX_CURSOR_LENGTH
    assert "[A-Za-z0-9_-]{1,64}" in listing["tag"]["pattern"]  # 1-64 once trimmed
    assert uploading["tags"]["maxItems"] == MAX_TAG_ENTRIES
    assert uploading["description"]["maxLength"] == 1000


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        pytest.param({"tags": "a," * 100_000}, "tags", id="a megabyte of commas"),
        pytest.param({"tags": "a" * (MAX_TAGS_TEXT_LENGTH + 1)}, "tags", id="tags text just over"),
        pytest.param({"description": "x" * 1_000_000}, "description", id="a megabyte of description"),
        pytest.param({"content_type": "x" * 1_000_000}, "content_type", id="a megabyte of content type"),
        pytest.param({"visibility": "x" * 1_000_000}, "visibility", id="a megabyte of visibility"),
    ],
)
def test_oversized_upload_parameters_are_refused_naming_them(
    api: ApiClient, aws: Aws, query: dict[str, str], parameter: str
) -> None:
    before = aws.table_items()

    result = timed(lambda: api.upload(query=query))

    assert result.status_code == 400
    assert f"'{parameter}'" in result.error["message"]
    assert aws.table_items() == before


def test_a_tags_array_of_many_repeated_entries_is_refused(api: ApiClient, aws: Aws) -> None:
    # Duplicates count once towards the 20 tags, but the raw array is bounded too
    result = timed(lambda: api.upload(body={"tags": ["a"] * (MAX_TAG_ENTRIES + 1)}))

    assert result.status_code == 400
    assert "'tags'" in result.error["message"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" * 100_000, id="nested too deep"),
        pytest.param('{"tags": [' + '"a",' * 100_000 + '"a"]}', id="too large"),
        pytest.param('{"description": ' + "1" * 10_000 + "}", id="a number of ten thousand digits"),
    ],
)
def test_a_hostile_body_is_401_without_a_token_and_400_with_one(api: ApiClient, aws: Aws, body: str) -> None:
    before = aws.table_items()

    anonymous = timed(lambda: ANONYMOUS.upload(raw_body=body))
    signed_in = timed(lambda: api.upload(raw_body=body))

    assert anonymous.status_code == 401
    assert signed_in.status_code == 400, signed_in.body
    assert signed_in.error["code"] == "invalid_parameter"
    assert "'body'" in signed_in.error["message"]
    assert aws.table_items() == before


@pytest.mark.parametrize(
    ("route", "query"),
    [
        pytest.param("list", {"tag": "a" * 1_000_000}, id="tag"),
        pytest.param("list", {"limit": "9" * 1_000_000}, id="limit"),
        pytest.param("list", {"cursor": "a" * 1_000_000}, id="cursor"),
        pytest.param("list", {"visibility": "p" * 1_000_000}, id="visibility"),
    ],
)
def test_oversized_list_parameters_are_refused_at_once(
    api: ApiClient, route: str, query: dict[str, str]
) -> None:
    assert timed(lambda: ANONYMOUS.list(**query)).status_code == 401
    result = timed(lambda: api.list(**query))

    assert result.status_code == 400
    assert f"'{next(iter(query))}'" in result.error["message"]


def test_an_oversized_variant_is_refused_at_once(api: ApiClient, available_image: UploadImage) -> None:
    image_id = available_image(user_id="alice")

    result = timed(lambda: api.download(image_id, "x" * 1_000_000))

    assert result.status_code == 400
    assert "'variant'" in result.error["message"]


# --- cursors --------------------------------------------------------------------------------------


@pytest.fixture
def gallery(available_image: UploadImage) -> list[str]:
    return [available_image(user_id="alice", tags=["cats"]) for _ in range(3)]


def test_a_forged_cursor_with_a_huge_sort_key_never_reaches_dynamodb(
    api: ApiClient, aws: Aws, gallery: list[str]
) -> None:
    # Given a cursor of alice's listing whose listed_at is over a kilobyte long (its image id
    # still consistent with its pk): past DynamoDB's 1,024-byte key limit, though the cursor
    # itself is short enough for the query string's bound
    payload = open_cursor(first_cursor(api))
    image_id = payload["key"]["listed_at"].rpartition("#")[2]
    forged = tampered(payload, listed_at="2026-03-01T00:00:00.000000Z" + "9" * 1100 + "#" + image_id)
    assert len(seal_cursor(forged)) < 4096
    aws.dynamodb_calls.clear()

    # When it is used
    result = api.list(cursor=seal_cursor(forged))

    # Then it is refused, and nothing was asked of DynamoDB
    assert result.status_code == 400
    assert result.error["code"] == "invalid_parameter"
    assert "'cursor'" in result.error["message"]
    assert aws.dynamodb_calls == []


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda p: tampered(p, listed_at="not a date#" + "f" * 32), id="listed_at not a timestamp"
        ),
        pytest.param(lambda p: {**p, "query": "q" * 5000}, id="huge fingerprint"),
        pytest.param(lambda p: tampered(p, **{"x" * 5000: "y"}), id="huge attribute name"),
        pytest.param(lambda p: tampered(p, **{f"a{n}": "b" for n in range(1000)}), id="many attributes"),
        pytest.param(lambda p: tampered(p, user_pk="U" * 100_000), id="huge partition value"),
    ],
)
def test_every_field_of_a_cursor_is_bounded_and_checked(
    api: ApiClient, aws: Aws, gallery: list[str], change: Any
) -> None:
    forged = seal_cursor(change(open_cursor(first_cursor(api))))
    aws.dynamodb_calls.clear()

    result = timed(lambda: api.list(cursor=forged))

    assert result.status_code == 400
    assert "'cursor'" in result.error["message"]
    assert aws.dynamodb_calls == []


def test_a_cursor_of_the_service_is_well_within_the_bound(
    api: ApiClient, available_image: UploadImage
) -> None:
    # The longest partition: a user id of 128 characters and a tag of 64
    user = "u" * 128
    tag = "t" * 64
    for _ in range(2):
        available_image(user_id=user, tags=[tag])

    cursor = first_cursor(api.as_user(user), tag=tag)

    assert len(cursor) <= MAX_CURSOR_LENGTH // 2
    assert api.as_user(user).list(tag=tag, cursor=cursor).status_code == 200


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param(
            "application/x-www-form-urlencoded",
            "&".join(f"k{n}=v" for n in range(300_000)),
            id="form of many fields",
        ),
        pytest.param(
            "multipart/form-data; boundary=XX",
            '--XX\r\nContent-Disposition: form-data; name="description"\r\n\r\nx\r\n' * 50_000 + "--XX--\r\n",
            id="multipart of many parts",
        ),
        pytest.param("application/json", '{"description": "' + "x" * 100_000 + '"}', id="JSON"),
    ],
)
def test_an_oversized_body_of_any_content_type_is_never_parsed(
    api: ApiClient, aws: Aws, content_type: str, body: str
) -> None:
    before = aws.table_items()

    anonymous = timed(lambda: ANONYMOUS.upload(raw_body=body, content_type=content_type))
    signed_in = timed(lambda: api.upload(raw_body=body, content_type=content_type))

    assert anonymous.status_code == 401
    assert signed_in.status_code == 400, signed_in.body
    assert "'body'" in signed_in.error["message"]
    assert aws.table_items() == before


def test_a_body_of_an_unsupported_type_is_401_without_a_token_and_400_with_one(api: ApiClient) -> None:
    anonymous = ANONYMOUS.upload(raw_body="hello", content_type="text/plain")
    signed_in = api.upload(raw_body="hello", content_type="text/plain")

    assert anonymous.status_code == 401
    assert signed_in.status_code == 400
    assert "'body'" in signed_in.error["message"]


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("multipart/form-data", id="multipart without a boundary"),
        pytest.param("multipart/form-data; boundary=", id="multipart with an empty boundary"),
        pytest.param("multipart/form-data; boundary=XX", id="multipart whose body has no such boundary"),
    ],
)
def test_a_malformed_multipart_body_is_refused_not_an_internal_error(
    api: ApiClient, aws: Aws, pending_image: UploadImage, content_type: str
) -> None:
    # Found by fuzzing: a multipart Content-Type without a boundary crashed the body parser (500)
    image_id = pending_image(user_id="alice")
    before = aws.table_items()
    body = '{"description": "Mia in the sun"}'

    for answer in (
        api.upload(raw_body=body, content_type=content_type),
        api.edit(image_id, raw_body=body, content_type=content_type),
    ):
        assert answer.status_code == 400, answer.body
        assert "'body'" in answer.error["message"]
        assert ANONYMOUS.upload(raw_body=body, content_type=content_type).status_code == 401
    assert aws.table_items() == before


@pytest.mark.parametrize("raw_body", ["[null, null]", '[1, {"description": "x"}]', "[{}]"])
def test_a_json_array_body_is_refused_not_taken_for_its_last_item(
    api: ApiClient, aws: Aws, pending_image: UploadImage, raw_body: str
) -> None:
    # Found by fuzzing: POST /images/upload with [null, null] registered an image (201)
    image_id = pending_image(user_id="alice")
    before = aws.table_items()

    for answer in (api.upload(raw_body=raw_body), api.edit(image_id, raw_body=raw_body)):
        assert answer.status_code == 400, answer.body
        assert "'body'" in answer.error["message"]
    assert aws.table_items() == before


def test_a_body_of_bytes_that_are_not_utf_8_is_refused_not_an_internal_error(
    api: ApiClient, aws: Aws
) -> None:
    # Found by fuzzing: API Gateway base64-encodes a body that is not text; decoding it was a 500
    event = rest_api_event(
        "POST",
        "/images/upload",
        body=base64.b64encode(b"i\xff\xfe{").decode(),
        headers={"Authorization": api.authorization or "", "Content-Type": "application/json"},
    )
    event["isBase64Encoded"] = True

    response = upload.handler(event, lambda_context())

    assert response["statusCode"] == 400, response["body"]
    assert "UTF-8" in json.loads(response["body"])["error"]["message"]
    assert aws.table_items() == []


@pytest.mark.parametrize(
    ("handler", "method", "resource"),
    [
        pytest.param(delete_image.handler, "DELETE", "/images/{image_id}", id="DELETE"),
        pytest.param(get_image.handler, "GET", "/images/{image_id}", id="GET"),
        pytest.param(download.handler, "GET", "/images/{image_id}/download", id="download"),
    ],
)
def test_a_body_where_none_is_expected_is_refused_and_changes_nothing(
    api: ApiClient, aws: Aws, available_image: UploadImage, handler: Any, method: str, resource: str
) -> None:
    # Found by the bad-input suite: a DELETE with a JSON body deleted the image (204)
    image_id = available_image(user_id="alice")
    items, objects = aws.table_items(), sorted(aws.object_keys())
    event = rest_api_event(
        method,
        resource,
        path_parameters={"image_id": image_id},
        body='{"if_unmodified_since": "2026-01-01"}',
        headers={"Authorization": api.authorization or "", "Content-Type": "application/json"},
    )

    response = handler(event, lambda_context())

    assert response["statusCode"] == 400, response["body"]
    assert "'body'" in json.loads(response["body"])["error"]["message"]
    assert (aws.table_items(), sorted(aws.object_keys())) == (items, objects)
