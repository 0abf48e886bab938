"""The committed openapi.json is the document the code generates, covers every route, and is served."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any

import pytest

import image_api
from image_api import contract, resolver
from image_api.listing import MAX_CURSOR_LENGTH
from image_api.resolver import ANSWERED_WITHOUT_TOKEN, ErrorCode
from tests.unit.harness import ApiClient

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"
METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(COMMITTED.read_text())
    return loaded


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_the_committed_document_is_the_one_the_code_generates() -> None:
    contract.openapi_document.cache_clear()

    assert COMMITTED.read_text() == contract.document_text(), "openapi.json is stale: run `make openapi`"


def test_every_api_function_router_is_in_the_document() -> None:
    # Every module of the API package that defines routes (a router) is one the contract includes
    routers = {
        module.name: getattr(importlib.import_module(f"image_api.{module.name}"), "router", None)
        for module in pkgutil.iter_modules(image_api.__path__)
    }
    with_routes = {name for name, router in routers.items() if router is not None}

    assert {router for name, router in routers.items() if name in with_routes} == set(contract.every_router())


def test_every_route_of_the_resolver_is_documented(document: dict[str, Any]) -> None:
    app = resolver.create_resolver(*contract.every_router())
    routes = {
        (route.method.upper(), route.openapi_path)
        for route in app._static_routes + app._dynamic_routes  # Powertools keeps them here
    }

    assert set(operations(document)) == routes
    assert ("PATCH", "/images/{image_id}") in routes


def test_every_route_but_the_document_needs_a_bearer_jwt(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"] == {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": document["components"]["securitySchemes"]["bearerAuth"]["description"],
        }
    }
    assert document["security"] == [{"bearerAuth": []}]
    for key, operation in operations(document).items():
        if key in ANSWERED_WITHOUT_TOKEN:
            assert operation["security"] == [], key
        else:
            assert "security" not in operation, key  # the document's requirement applies
            assert "401" in operation["responses"], key


def test_every_error_answer_is_the_envelope_with_an_example_of_its_code(document: dict[str, Any]) -> None:
    codes_by_status = {
        "400": ErrorCode.INVALID_PARAMETER,
        "401": ErrorCode.UNAUTHORIZED,
        "403": ErrorCode.FORBIDDEN,
        "404": ErrorCode.NOT_FOUND,
        "409": ErrorCode.CONFLICT,
        "429": ErrorCode.RATE_LIMITED,
        "500": ErrorCode.INTERNAL,
        "503": ErrorCode.UNAVAILABLE,
    }
    envelope = document["components"]["schemas"]["ErrorAnswer"]
    assert envelope["required"] == ["error"]
    assert set(document["components"]["schemas"]["ErrorCode"]["enum"]) == {code.value for code in ErrorCode}
    for key, operation in operations(document).items():
        errors = {status: answer for status, answer in operation["responses"].items() if int(status) >= 400}
        assert "500" in errors, key
        for status, answer in errors.items():
            content = answer["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/ErrorAnswer"}, (key, status)
            (example,) = content["examples"].values()
            assert example["value"]["error"]["code"] == codes_by_status[status].value, (key, status)


@pytest.mark.parametrize(
    ("route", "statuses"),
    [
        (("POST", "/images/upload"), {"201", "400", "401", "429", "500", "503"}),
        (("GET", "/images"), {"200", "400", "401", "429", "500", "503"}),
        (("GET", "/images/{image_id}"), {"200", "400", "401", "404", "429", "500", "503"}),
        (("PATCH", "/images/{image_id}"), {"200", "400", "401", "403", "404", "409", "429", "500", "503"}),
        (("GET", "/images/{image_id}/download"), {"200", "400", "401", "404", "409", "429", "500", "503"}),
        (("DELETE", "/images/{image_id}"), {"204", "400", "401", "403", "404", "409", "429", "500", "503"}),
        (("GET", "/openapi.json"), {"200", "500"}),
    ],
)
def test_each_route_documents_each_status_it_can_answer(
    document: dict[str, Any], route: tuple[str, str], statuses: set[str]
) -> None:
    # Powertools' own 422 never reaches a caller: invalid requests are answered 400
    assert set(operations(document)[route]["responses"]) == statuses


def test_parameters_carry_their_limits_and_formats(document: dict[str, Any]) -> None:
    listing = {
        parameter["name"]: parameter for parameter in operations(document)[("GET", "/images")]["parameters"]
    }
    schemas = document["components"]["schemas"]

    assert (listing["limit"]["schema"]["minimum"], listing["limit"]["schema"]["maximum"]) == (1, 100)
    assert listing["cursor"]["schema"]["anyOf"][0]["maxLength"] == MAX_CURSOR_LENGTH
    assert listing["from"]["schema"]["anyOf"][0]["maxLength"] == 64
    assert "YYYY-MM-DD" in listing["to"]["schema"]["anyOf"][0]["description"]
    tag = schemas["ImageEdit"]["properties"]["tags"]["items"]
    # 1-64 characters, case-insensitive, surrounding blanks trimmed: what the service accepts
    assert tag["pattern"] == r"^\s*[A-Za-z0-9_-]{1,64}\s*$"
    # At most 100 entries, of which at most 20 distinct (the description says so)
    assert schemas["ImageEdit"]["properties"]["tags"]["maxItems"] == 100
    assert "at most 20 distinct" in schemas["ImageEdit"]["properties"]["tags"]["description"]
    assert schemas["ImageEdit"]["properties"]["description"]["maxLength"] == 1000


def test_the_edit_body_is_required_closed_and_never_null(document: dict[str, Any]) -> None:
    body = operations(document)[("PATCH", "/images/{image_id}")]["requestBody"]
    edit = document["components"]["schemas"]["ImageEdit"]

    assert body["required"] is True
    assert body["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/ImageEdit"
    assert edit["additionalProperties"] is False
    assert "null" not in json.dumps(edit["properties"])
    assert edit["examples"]


def test_the_document_is_served_without_a_token_and_is_the_committed_one(document: dict[str, Any]) -> None:
    result = ApiClient(authorization=None).openapi_document()

    assert result.status_code == 200, result.body
    assert result.json() == document
    assert result.headers["Cache-Control"] == ["max-age=300"]
