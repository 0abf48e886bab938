"""Every rejected request: the right status, code and named parameter, in the error envelope; nothing written.

Each case runs signed in as a fresh user with a fresh description marker; after the request, a
scan of the whole table finds no item (of any status, pending included) with either.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
import requests

from tests.integration.conftest import Backend, ImageApi, assert_error, grant_from

pytestmark = pytest.mark.integration

Call = Callable[[ImageApi, str, str], requests.Response]  # (api signed in as user, user id, marker)

TWENTY_ONE_TAGS = ",".join(f"tag{n}" for n in range(21))


def upload(**params: str) -> Call:
    """POST /images/upload with these query parameters ({user} and {marker} filled in)."""

    def call(api: ImageApi, user: str, marker: str) -> requests.Response:
        return api.request_upload(
            {name: value.format(user=user, marker=marker) for name, value in params.items()}
        )

    return call


def upload_body(body: object, **params: str) -> Call:
    """POST /images/upload with this JSON body (strings: {user} and {marker} filled in) and query."""

    def fill(value: object, user: str, marker: str) -> object:
        if isinstance(value, str):
            return value.format(user=user, marker=marker)
        if isinstance(value, dict):
            return {name: fill(item, user, marker) for name, item in value.items()}
        if isinstance(value, list):
            return [fill(item, user, marker) for item in value]
        return value

    def call(api: ImageApi, user: str, marker: str) -> requests.Response:
        query = {name: value.format(user=user, marker=marker) for name, value in params.items()}
        return api.request_upload(query or None, raw_body=json.dumps(fill(body, user, marker)))

    return call


def upload_raw(raw_body: str, **params: str) -> Call:
    def call(api: ImageApi, user: str, marker: str) -> requests.Response:
        query = {name: value.format(user=user, marker=marker) for name, value in params.items()}
        return api.request_upload(query, raw_body=raw_body)

    return call


def list_images(**params: str) -> Call:
    """GET /images (the signed-in user's) with these parameters."""

    def call(api: ImageApi, user: str, marker: str) -> requests.Response:
        return api.list_images(params)

    return call


UPLOAD_CASES = [
    # Who uploads is who signed in: a user_id, even the caller's own, is refused wherever it is.
    pytest.param(upload(user_id="{user}", description="{marker}", tags="ok"), "user_id", id="user_id given"),
    pytest.param(
        upload_body({"user_id": "{user}", "description": "{marker}"}), "user_id", id="user_id in body"
    ),
    pytest.param(upload(user_id="", description="{marker}"), "user_id", id="empty user_id"),
    pytest.param(
        upload(user_id="bad user/{user}", description="{marker}"), "user_id", id="bad user_id chars"
    ),
    pytest.param(upload(tags="ok,bad tag!", description="{marker}"), "tags", id="bad tag chars"),
    pytest.param(upload(tags="ok,caf\u00e9"), "tags", id="non-ascii tag"),
    pytest.param(upload(tags="a,,b", description="{marker}"), "tags", id="empty tag"),
    pytest.param(upload(tags=TWENTY_ONE_TAGS, description="{marker}"), "tags", id="21 tags"),
    pytest.param(upload(tags="x" * 65, description="{marker}"), "tags", id="tag of 65 chars"),
    pytest.param(
        upload_body({"tags": ["ok", "Bad Tag"], "description": "{marker}"}),
        "tags",
        id="bad tag in body",
    ),
    pytest.param(
        upload_body({"tags": "a,b", "description": "{marker}"}),
        "tags",
        id="body tags not an array",
    ),
    pytest.param(upload(description="d" * 1001), "description", id="description 1001 chars"),
    pytest.param(
        upload(content_type="image/tiff", description="{marker}"),
        "content_type",
        id="unsupported content_type",
    ),
    pytest.param(
        upload_body({"content_type": "text/html", "description": "{marker}"}),
        "content_type",
        id="unsupported content_type in body",
    ),
    pytest.param(
        upload_body({"user_id": "{user}", "description": "{marker}"}, user_id="{user}"),
        "user_id",
        id="user_id in query and body",
    ),
    pytest.param(upload(visibility="friends", description="{marker}"), "visibility", id="unknown visibility"),
    pytest.param(
        upload_body({"tags": ["a"]}, tags="a", description="{marker}"),
        "tags",
        id="tags in query and body",
    ),
    pytest.param(
        upload_body({"description": "{marker}"}, description="{marker}"),
        "description",
        id="description in query and body",
    ),
    pytest.param(upload_raw('{"user_id": "x", ', description="{marker}"), "body", id="malformed JSON"),
    pytest.param(upload_raw("[1, 2]", description="{marker}"), "body", id="JSON not an object"),
    pytest.param(
        upload_body({"owner": "{marker}", "description": "{marker}"}),
        "owner",
        id="unknown body field",
    ),
]

LIST_CASES = [
    pytest.param(list_images(limit="0"), "limit", id="limit 0"),
    pytest.param(list_images(limit="101"), "limit", id="limit 101"),
    pytest.param(list_images(limit="ten"), "limit", id="limit not a number"),
    pytest.param(list_images(**{"from": "yesterday"}), "from", id="bad from"),
    pytest.param(list_images(to="2026-02-30"), "to", id="to not a real date"),
    pytest.param(list_images(to="01/03/2026"), "to", id="to in another format"),
    pytest.param(list_images(**{"from": "2026-03-01T10:00:00"}), "from", id="from without offset"),
    pytest.param(list_images(**{"from": "2026-03-02", "to": "2026-03-01"}), "from", id="from after to"),
    pytest.param(
        # 08:30Z is after 10:00+02:00 (08:00Z): only after converting the offset
        list_images(**{"from": "2026-03-01T08:30:00Z", "to": "2026-03-01T10:00:00+02:00"}),
        "from",
        id="from after to once converted to UTC",
    ),
    pytest.param(list_images(cursor="not-a-cursor"), "cursor", id="bad cursor"),
    pytest.param(list_images(cursor="A" * 5000), "cursor", id="cursor too long"),
    pytest.param(list_images(tag="Bad Tag!"), "tag", id="bad tag filter"),
]


@pytest.mark.parametrize(("call", "parameter"), [*UPLOAD_CASES, *LIST_CASES])
def test_invalid_parameter_is_a_400_naming_it_and_writes_nothing(
    api: ImageApi, backend: Backend, user: str, call: Call, parameter: str
) -> None:
    # Given a request with one invalid parameter, under a fresh user id and description marker
    marker = f"marker-{uuid.uuid4().hex}"

    # When it is sent
    response = call(api, user, marker)

    # Then it is a 400 invalid_parameter naming that parameter, and nothing was written
    assert_error(response, 400, "invalid_parameter", parameter)
    assert backend.items_where(user_id=user, description=marker) == []


@pytest.mark.parametrize("value", ["no spaces allowed", "it-user-somebody-else"])
def test_a_user_id_filter_is_a_400_naming_it(api: ImageApi, value: str) -> None:
    # Whose images are listed follows from the token.
    assert_error(api.list_images({"user_id": value}), 400, "invalid_parameter", "user_id")


def test_limits_themselves_are_accepted(api: ImageApi, user: str) -> None:
    # Given the largest values each rule allows: 20 tags of 64 characters, a 1000 character description
    tags = [f"{n:02d}" + "x" * 62 for n in range(20)]

    # When the upload is requested, Then it is granted with all of them
    grant = grant_from(api.request_upload({"tags": ",".join(tags), "description": "d" * 1000}))
    image = api.get(grant.image_id).json()
    assert (image["tags"], len(image["description"])) == (tags, 1000)
    assert api.list_images({"limit": "100"}).status_code == 200
    assert api.list_images({"limit": "1"}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "images/{id}", id="get"),
        pytest.param("GET", "images/{id}/download", id="download"),
        pytest.param("DELETE", "images/{id}", id="delete"),
    ],
)
@pytest.mark.parametrize(
    "image_id", [pytest.param("", id="unknown id"), pytest.param("x-y.z", id="malformed id")]
)
def test_unknown_image_is_a_404_and_writes_nothing(
    api: ImageApi, backend: Backend, method: str, path: str, image_id: str
) -> None:
    image_id = image_id or uuid.uuid4().hex

    response = api.request(method, path.format(id=image_id))

    assert_error(response, 404, "not_found")
    assert backend.image_items(image_id) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "nope", id="unknown resource"),
        pytest.param("GET", "images/0123456789abcdef0123456789abcdef/thumbnail", id="unknown sub-resource"),
        pytest.param("PUT", "images", id="unknown method on /images"),
        pytest.param("POST", "images/0123456789abcdef0123456789abcdef", id="unknown method on an image"),
        pytest.param("GET", "images/upload/extra", id="below upload"),
    ],
)
def test_unknown_route_is_a_404_not_found_envelope(
    api: ImageApi, backend: Backend, user: str, method: str, path: str
) -> None:
    response = api.request(method, path)

    assert_error(response, 404, "not_found")
    assert backend.items_where(user_id=user) == []
