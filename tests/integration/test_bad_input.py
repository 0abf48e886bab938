"""The bad-input suite: malformed requests over every route, each refused, nothing changed.

One caller owns one available image (tagged, described, with its original and variants).
Every request below is malformed in its own way (wrong types, out-of-range numbers, overlong
strings, unicode and control characters, injection-shaped strings, bad and inverted dates,
forged and oversized cursors, wrong methods, bodies where none is expected, an oversized
header) and must be answered 4xx: with the JSON error envelope wherever the service (or the
gateway's own error responses) answers, bare where the local gateway refuses the request
before anything of ours runs. After each one, the caller's records and objects are exactly
as they were.

test_errors.py and test_hostile_input.py hold the cases they already had; none is repeated.
The count of cases is a figure of docs/reliability.md.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from .conftest import (
    Backend,
    ImageApi,
    assert_error,
    unique_user,
    upload_image,
    wait_until_available,
)

pytestmark = pytest.mark.integration

NO_BODY = object()
CONTRACT = Path(__file__).resolve().parents[2] / "openapi.json"


@dataclass(frozen=True)
class Bad:
    """A malformed request; ``{id}`` in the path is the caller's own image."""

    method: str
    path: str
    params: dict[str, str] | None = None
    body: Any = NO_BODY  # sent as JSON
    data: str | bytes | None = None  # sent as given
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 400
    # The error code of the envelope; None: the local gateway refuses it bare (no envelope).
    code: str | None = "invalid_parameter"
    # The parameter the message names (for 400s of our own).
    parameter: str | None = None


def b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


JSON = {"Content-Type": "application/json"}
UPLOAD, LIST, IMAGE, DOWNLOAD = "images/upload", "images", "images/{id}", "images/{id}/download"
NO_ROUTE = {"status": 404, "code": "not_found"}
NO_IMAGE = {"status": 404, "code": "not_found"}


def upload(body: Any = NO_BODY, parameter: str | None = None, **params: str) -> Bad:
    return Bad("POST", UPLOAD, params=params or None, body=body, parameter=parameter)


def listing(parameter: str, **params: str) -> Bad:
    return Bad("GET", LIST, params=params, parameter=parameter)


def edit(body: Any, parameter: str | None = None) -> Bad:
    return Bad("PATCH", IMAGE, body=body, parameter=parameter)


def download(variant: str) -> Bad:
    return Bad("GET", DOWNLOAD, params={"variant": variant}, parameter="variant")


CASES = [
    # --- POST /images/upload: the body's fields, wrong in type, range, characters, shape
    pytest.param(upload({"tags": "cats"}, "tags"), id="upload: tags a string, not a list"),
    pytest.param(upload({"tags": [1, 2]}, "tags"), id="upload: tags numbers"),
    pytest.param(upload({"tags": {"a": 1}}, "tags"), id="upload: tags an object"),
    pytest.param(upload({"tags": ["t"] * 101}, "tags"), id="upload: 101 tag entries"),
    pytest.param(upload({"tags": ["a\u0000b"]}, "tags"), id="upload: NUL in a tag"),
    pytest.param(upload({"tags": ["<script>alert(1)</script>"]}, "tags"), id="upload: script tag as a tag"),
    pytest.param(upload({"tags": ["' OR '1'='1"]}, "tags"), id="upload: SQL injection as a tag"),
    pytest.param(upload({"tags": ["${jndi:ldap://x/a}"]}, "tags"), id="upload: log4shell as a tag"),
    pytest.param(upload({"tags": ["\u202etxt.exe"]}, "tags"), id="upload: right-to-left override in a tag"),
    pytest.param(upload({"description": 42}, "description"), id="upload: description a number"),
    pytest.param(upload({"description": "\u00e9" * 1001}, "description"), id="upload: 1001 accented chars"),
    pytest.param(upload({"visibility": True}, "visibility"), id="upload: visibility a boolean"),
    pytest.param(upload({"visibility": "public\u0000"}, "visibility"), id="upload: NUL after public"),
    pytest.param(upload({"content_type": "image/svg+xml"}, "content_type"), id="upload: SVG"),
    pytest.param(
        upload({"content_type": "text/html; charset=utf-8"}, "content_type"), id="upload: HTML content type"
    ),
    pytest.param(upload({"owner": "someone-else"}, "owner"), id="upload: an unknown field"),
    pytest.param(upload([{"tags": ["a"]}], "body"), id="upload: an array of the body"),
    pytest.param(upload("tags=a", "body"), id="upload: a JSON string"),
    pytest.param(
        upload(content_type="image/jpeg\r\nX-Injected: 1", parameter="content_type"),
        id="upload: CRLF header injection in content_type",
    ),
    pytest.param(upload(tags="../../etc/passwd", parameter="tags"), id="upload: path traversal as tags"),
    pytest.param(
        upload(visibility="PRIVATE ", parameter="visibility"), id="upload: visibility of another case"
    ),
    pytest.param(
        Bad("POST", UPLOAD, data="nul", headers=JSON, parameter="body"), id="upload: a truncated JSON literal"
    ),
    pytest.param(
        Bad("POST", UPLOAD, data=b"\xff\xfe{}", headers=JSON, parameter="body"), id="upload: bytes not UTF-8"
    ),
    pytest.param(
        Bad(
            "POST",
            UPLOAD,
            data="tags=a&description=b",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            parameter="body",
        ),
        id="upload: a form body",
    ),
    pytest.param(
        Bad(
            "POST",
            UPLOAD,
            data='{"tags": ["a"]}',
            headers={"Content-Type": "multipart/form-data"},
            # The local gateway reads a POST's form body itself, and refuses this one bare
            code=None,
        ),
        id="upload: multipart without a boundary",
    ),
    # --- GET /images: numbers, dates, tags, visibility and cursors
    pytest.param(listing("limit", limit="1.5"), id="list: a fractional limit"),
    pytest.param(listing("limit", limit="-1"), id="list: a negative limit"),
    pytest.param(listing("limit", limit="9" * 30), id="list: a limit of 30 digits"),
    pytest.param(listing("limit", limit="1e2"), id="list: a limit in exponent notation"),
    pytest.param(listing("limit", limit="0x10"), id="list: a hexadecimal limit"),
    pytest.param(listing("from", **{"from": "2026-13-01"}), id="list: month 13"),
    pytest.param(listing("to", to="2026-00-10"), id="list: month 0"),
    pytest.param(listing("from", **{"from": "2026-03-01T25:00:00Z"}), id="list: hour 25"),
    pytest.param(listing("from", **{"from": "2026-03-01T10:00:00+25:00"}), id="list: an offset of 25 hours"),
    pytest.param(
        listing("from", **{"from": "2026-03-01T12:00:00Z", "to": "2026-03-01T11:59:59Z"}),
        id="list: datetimes inverted by a second",
    ),
    pytest.param(listing("from", **{"from": "1 OR 1=1"}), id="list: SQL injection as a date"),
    pytest.param(listing("to", to="2026-03-01\u0000"), id="list: NUL after a date"),
    pytest.param(
        listing("from", **{"from": "\u0662\u0660\u0662\u0666-03-01"}), id="list: Arabic-Indic digits"
    ),
    pytest.param(listing("tag", tag="<script>"), id="list: script tag as a tag"),
    pytest.param(listing("tag", tag="t" * 65), id="list: a tag of 65 chars"),
    pytest.param(listing("tag", tag="caf\u00e9"), id="list: an accented tag"),
    pytest.param(listing("tag", tag="a\tb"), id="list: a tab inside a tag"),
    pytest.param(listing("visibility", visibility="private"), id="list: visibility private"),
    pytest.param(listing("visibility", visibility="everyone"), id="list: an unknown visibility"),
    pytest.param(listing("cursor", cursor="%%%%"), id="list: a cursor not base64"),
    pytest.param(listing("cursor", cursor=b64(None)), id="list: a cursor of null"),
    pytest.param(listing("cursor", cursor=b64([])), id="list: a cursor of an array"),
    pytest.param(
        listing("cursor", cursor=b64({"pk": "USER#someone-else", "sk": "IMAGE"})),
        id="list: a cursor forged for another user",
    ),
    pytest.param(listing("cursor", cursor="\u00e9" * 2000), id="list: a cursor of 2000 accented chars"),
    # --- GET, DELETE and PATCH /images/{id}
    pytest.param(Bad("GET", "images/' OR 1=1 --", **NO_IMAGE), id="get: SQL injection as the id"),
    pytest.param(Bad("GET", "images/%00", **NO_IMAGE), id="get: NUL as the id"),
    pytest.param(Bad("GET", "images/" + "a" * 1000, **NO_IMAGE), id="get: an id of 1000 chars"),
    pytest.param(Bad("GET", "images/{ID}", **NO_IMAGE), id="get: the id upper-cased"),
    pytest.param(Bad("DELETE", "images/" + "f" * 33, **NO_IMAGE), id="delete: an id of 33 hex digits"),
    pytest.param(
        Bad("GET", IMAGE, data='{"a": 1}', headers=JSON, parameter="body"),
        id="get: a body where none is expected",
    ),
    pytest.param(
        Bad("DELETE", IMAGE, data='{"if_unmodified_since": "2026-01-01"}', headers=JSON, parameter="body"),
        id="delete: a body where none is expected",
    ),
    pytest.param(edit({"visibility": "secret"}, "visibility"), id="edit: an unknown visibility"),
    pytest.param(edit({"tags": "cats"}, "tags"), id="edit: tags a string"),
    pytest.param(edit({"description": 1}, "description"), id="edit: description a number"),
    pytest.param(edit({"description": "d" * 1001}, "description"), id="edit: description 1001 chars"),
    pytest.param(edit({"tags": ["a\u0000b"]}, "tags"), id="edit: NUL in a tag"),
    pytest.param(edit({"tags": None}, "body"), id="edit: tags null"),
    pytest.param(edit({}, "body"), id="edit: nothing to change"),
    pytest.param(edit({"status": "available"}, "status"), id="edit: its status"),
    pytest.param(edit({"user_id": "someone-else"}, "user_id"), id="edit: its owner"),
    pytest.param(edit([{"visibility": "public"}], "body"), id="edit: an array of the body"),
    pytest.param(
        Bad(
            "PATCH",
            IMAGE,
            data="visibility=public",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        id="edit: a form body",
    ),
    pytest.param(
        Bad(
            "PATCH",
            IMAGE,
            data='{"tags": ["a"]}',
            headers={"Content-Type": "multipart/form-data"},
            parameter="body",
        ),
        id="edit: multipart without a boundary",
    ),
    # --- GET /images/{id}/download
    pytest.param(download("huge"), id="download: an unknown variant"),
    pytest.param(download("PREVIEW"), id="download: a variant upper-cased"),
    pytest.param(download("original\u0000"), id="download: NUL after a variant"),
    pytest.param(download("../originals"), id="download: path traversal as the variant"),
    # --- methods no route has: API Gateway's own 404, in the JSON envelope
    pytest.param(Bad("PUT", IMAGE, body={"visibility": "public"}, **NO_ROUTE), id="PUT an image"),
    pytest.param(Bad("POST", IMAGE, **NO_ROUTE), id="POST to an image"),
    pytest.param(Bad("DELETE", LIST, **NO_ROUTE), id="DELETE the collection"),
    pytest.param(Bad("GET", UPLOAD, **NO_ROUTE), id="GET the upload route"),
    pytest.param(Bad("POST", DOWNLOAD, **NO_ROUTE), id="POST to a download"),
    pytest.param(Bad("DELETE", "openapi.json", **NO_ROUTE), id="DELETE the contract"),
    # --- headers
    pytest.param(
        Bad("GET", IMAGE, headers={"Authorization": "Bearer " + "a" * 8000}, status=401, code="unauthorized"),
        id="a token of 8000 chars",
    ),
    pytest.param(
        # Over the local gateway's 16 KiB of headers, each under it (one over it drops the connection)
        Bad("GET", IMAGE, headers={f"X-Padding-{n}": "p" * 8 * 1024 for n in range(4)}, code=None),
        id="headers of 32 KiB (the local gateway refuses them itself)",
    ),
]


@dataclass(frozen=True)
class Owned:
    api: ImageApi
    image_id: str


@pytest.fixture(scope="module")
def owned(deployed_api: ImageApi) -> Owned:
    api = deployed_api.as_user(unique_user())
    image_id = upload_image(api, api.user or "", ["cats"], description="mine")
    wait_until_available(api, image_id)
    return Owned(api, image_id)


def state(backend: Backend, owned: Owned) -> tuple[Any, ...]:
    listed = owned.api.list_images()
    assert listed.status_code == 200, listed.text
    return (backend.image_items(owned.image_id), backend.stored_keys(owned.image_id), listed.json())


def send(owned: Owned, bad: Bad) -> requests.Response:
    path = bad.path.replace("{id}", owned.image_id).replace("{ID}", owned.image_id.upper())
    kwargs: dict[str, Any] = {"params": bad.params, "headers": bad.headers}
    if bad.body is not NO_BODY:
        kwargs["json"] = bad.body
    elif bad.data is not None:
        kwargs["data"] = bad.data
    # The caller's token, unless the case sends its own Authorization header
    return owned.api.request(bad.method, path, **kwargs)


@pytest.mark.parametrize("bad", CASES)
def test_a_malformed_request_is_refused_and_changes_nothing(backend: Backend, owned: Owned, bad: Bad) -> None:
    before = state(backend, owned)

    response = send(owned, bad)

    if bad.code is None:
        assert response.status_code == bad.status, response.text
        assert not response.content, response.text
    else:
        assert_error(response, bad.status, bad.code, bad.parameter)
    assert state(backend, owned) == before


def test_the_suite_covers_every_route_with_at_least_sixty_distinct_requests() -> None:
    requests_sent = [param.values[0] for param in CASES]
    routes = {(bad.method, bad.path) for bad in requests_sent}
    documented = {
        (method.upper(), path.strip("/").replace("{image_id}", "{id}"))
        for path, operations in json.loads(CONTRACT.read_text())["paths"].items()
        for method in operations
    }

    assert len({repr(bad) for bad in requests_sent}) == len(requests_sent) >= 60
    assert documented - {("GET", "openapi.json")} <= routes
