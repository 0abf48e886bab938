"""The API's contract: every route in one resolver, and the OpenAPI document generated from it.

The document is made from the very routers, models and route signatures the functions run
(Powertools' ``get_openapi_json_schema``), so it says what the code does: each route, its
parameters with their limits, its body, each answer it can give and the error envelope. It is
committed as ``openapi.json`` (``make openapi`` writes it; a unit test fails when it drifts)
and served by ``GET /openapi.json``, the one route answered without a token
(``resolver.ANSWERED_WITHOUT_TOKEN``).
"""

from __future__ import annotations

import json
import sys
from functools import cache
from http import HTTPStatus
from typing import Any, Final

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server, Tag

from image_api import delete_image, download, edit_image, get_image, list_images, upload
from image_api.resolver import (
    ANSWERED_WITHOUT_TOKEN,
    INTERNAL_ERROR,
    INTERNAL_ERROR_WHEN,
    ErrorAnswer,
    api_function,
    create_resolver,
    error_examples,
    new_router,
    route_answers,
)

TITLE: Final = "Image service"
# The contract's own version: raised with every change a client could notice.
VERSION: Final = "1.2.0"
DESCRIPTION: Final = (
    "Upload images straight to S3 through presigned URLs, list and find them by tag, date and "
    "visibility, edit their tags, description and visibility, download them and their "
    "variants, delete them. Every route but this document's needs a bearer token (a JWT); "
    "the caller is the token's subject and owns what they upload.\n\n"
    'Every error answer is `{"error": {"code": "...", "message": "..."}}`; the codes are '
    "`invalid_parameter` (400), `unauthorized` (401), `forbidden` (403), `not_found` (404), "
    "`conflict` (409), `rate_limited` (429), `internal` (500) and `unavailable` (503)."
)
BEARER_SCHEME: Final = "bearerAuth"

router = new_router()


@router.get(
    "/openapi.json",
    operation_id="get_openapi_document",
    tags=["contract"],
    summary="This document",
    description="Answered without a token: it holds nothing secret, and a client starts from it.",
    cache_control="max-age=300",
    responses=route_answers(HTTPStatus.OK, "The OpenAPI document of this API.", authenticated=False),
)
def openapi_json() -> dict[str, Any]:
    return openapi_document()


def every_router() -> tuple[Router, ...]:
    """The routers of every API function, this one's included."""
    return (
        upload.router,
        list_images.router,
        get_image.router,
        edit_image.router,
        download.router,
        delete_image.router,
        router,
    )


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of every route, made once per container."""
    resolver = create_resolver(*every_router())
    generated = resolver.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        # Relative to where the document is served: the stage's base URL.
        servers=[Server(url="./", description="The API's base URL, where this document is served.")],
        tags=[
            Tag(name="images", description="Images and their metadata."),
            Tag(name="contract", description="This API's description of itself."),
        ],
        security_schemes={
            BEARER_SCHEME: HTTPBearer(
                bearerFormat="JWT",
                description="A Cognito access or ID token (in AWS) or one of the development issuer's "
                "(`make token USER=alice` on the local cloud).",
            )
        },
        security=[{BEARER_SCHEME: []}],
    )
    return _as_answered(json.loads(generated))


def document_text() -> str:
    """The document as committed in ``openapi.json``."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


# Powertools documents its own answers to invalid requests and responses on every route (422
# and 500 with these schemas); this service answers them 400 and 500 in its own envelope
# (resolver._invalid_request, _internal_error). Each route documents its 400 through
# route_answers; the 500 is put right here.
_POWERTOOLS_VALIDATION_STATUS: Final = str(HTTPStatus.UNPROCESSABLE_ENTITY.value)
_POWERTOOLS_VALIDATION_SCHEMAS: Final = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


def _as_answered(document: dict[str, Any]) -> dict[str, Any]:
    """The generated document, corrected where Powertools' defaults are not what this API answers."""
    schemas = document["components"]["schemas"]
    status, code = INTERNAL_ERROR
    internal_error = {
        "description": INTERNAL_ERROR_WHEN,
        "content": {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{ErrorAnswer.__name__}"},
                "examples": error_examples(code, INTERNAL_ERROR_WHEN),
            }
        },
    }
    if ErrorAnswer.__name__ not in schemas:
        raise RuntimeError("no route documents an error answer: the envelope's schema is missing")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            operation["responses"].pop(_POWERTOOLS_VALIDATION_STATUS, None)
            operation["responses"][str(status.value)] = internal_error
            if (method.upper(), path) in ANSWERED_WITHOUT_TOKEN:
                # No security requirement: this operation overrides the document's bearer token.
                operation["security"] = []
    for name in _POWERTOOLS_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    return document


app, handler = api_function(router)

if __name__ == "__main__":
    sys.stdout.write(document_text())
