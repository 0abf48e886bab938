"""How every API function answers: one factory makes each function's resolver and handler.

``api_function(router)`` includes a route's ``Router`` in a resolver that validates requests
against the route's types, authenticates every request before its route runs
(``_authenticated``), maps errors to answers, and logs under the request's correlation id.
Every error answer has the shape ``{"error": {"code": ..., "message": ...}}``. Domain errors
map to their status here and nowhere else; an exception nobody expected is logged with its
traceback and answered as a bare 500 that leaks nothing.

A route answers without a bearer token only if ``ANSWERED_WITHOUT_TOKEN`` names it: there is
no other way to open one, and a request for a route that does not exist is authenticated too.

Each route documents what it answers with ``route_answers``: its success, and the error
answers it can give, built from the same table that maps the errors (``image_api.contract``
turns that into the OpenAPI document).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from enum import StrEnum
from http import HTTPStatus
from typing import Annotated, Any, Final

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import (
    APIGatewayRestResolver,
    CORSConfig,
    Depends,
    Request,
    Response,
    content_types,
)
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from image_api.dependencies import identify_caller
from image_api.identity import Caller
from image_api.settings import get_cors_settings
from image_core.errors import (
    Conflict,
    Forbidden,
    ImageServiceError,
    InvalidParameter,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from image_core.telemetry import count, traced

logger = Logger()

# The routes that answer without a bearer token, as (method, path as the route declares it).
# Every other route, and every request for a route that does not exist, is authenticated
# before anything else runs: a route is opened here or not at all.
# The API's description of itself (image_api.contract) holds nothing secret, and a client
# discovers the API through it before it has a token.
ANSWERED_WITHOUT_TOKEN: Final[frozenset[tuple[str, str]]] = frozenset({("GET", "/openapi.json")})

LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

# The id in /images/{image_id}: not validated as a parameter, because an id this service could
# not have issued is answered like any other unknown one (404), never as a bad request.
ImageIdInPath = Annotated[
    str,
    Path(
        description="The image's id, as the upload answered it: 32 lower-case hex digits.",
        examples=["3f2a9c0e8b1d4e6fa7c5b2d1e0f9a8b7"],
    ),
]


class ErrorCode(StrEnum):
    """What went wrong, for a client to act on: every error answer carries one."""

    INVALID_PARAMETER = "invalid_parameter"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"


class ErrorDetail(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: ErrorCode
    # Written for the caller; never internal details.
    message: str


class ErrorAnswer(BaseModel):
    """The body of every error answer, the functions' and API Gateway's own alike."""

    model_config = ConfigDict(frozen=True)

    error: ErrorDetail


# Status and error code of each domain error the API may answer with (Unauthorized has its own).
_ERROR_ANSWERS: dict[type[ImageServiceError], tuple[HTTPStatus, ErrorCode]] = {
    InvalidParameter: (HTTPStatus.BAD_REQUEST, ErrorCode.INVALID_PARAMETER),
    Forbidden: (HTTPStatus.FORBIDDEN, ErrorCode.FORBIDDEN),
    NotFound: (HTTPStatus.NOT_FOUND, ErrorCode.NOT_FOUND),
    Conflict: (HTTPStatus.CONFLICT, ErrorCode.CONFLICT),
    RateLimited: (HTTPStatus.TOO_MANY_REQUESTS, ErrorCode.RATE_LIMITED),
    Unavailable: (HTTPStatus.SERVICE_UNAVAILABLE, ErrorCode.UNAVAILABLE),
}
_UNAUTHORIZED_ANSWER: Final = (HTTPStatus.UNAUTHORIZED, ErrorCode.UNAUTHORIZED)
# What every route can answer, whatever it does (_internal_error).
INTERNAL_ERROR: Final = (HTTPStatus.INTERNAL_SERVER_ERROR, ErrorCode.INTERNAL)
INTERNAL_ERROR_WHEN: Final = "A bug; the details are logged, never returned."

# What the document says each error answer looks like: an example message.
_EXAMPLE_MESSAGES: Final[Mapping[ErrorCode, str]] = {
    ErrorCode.INVALID_PARAMETER: "invalid 'limit': Input should be less than or equal to 100",
    ErrorCode.UNAUTHORIZED: "the bearer token has expired",
    ErrorCode.FORBIDDEN: "only the image's owner may delete it",
    ErrorCode.NOT_FOUND: "image not found",
    ErrorCode.CONFLICT: "the image is pending, not available",
    ErrorCode.RATE_LIMITED: "too many requests, retry later",
    ErrorCode.INTERNAL: "internal error",
    ErrorCode.UNAVAILABLE: "cannot verify tokens right now; retry later",
}

# The errors every authenticated route can answer, and when.
_EVERY_AUTHENTICATED_ROUTE: Final[Mapping[type[ImageServiceError], str]] = {
    InvalidParameter: "A parameter or body field is missing or not valid; the message names it.",
    Unauthorized: (
        "No bearer token, or one that is not valid (forged, expired, another issuer or audience). "
        "Comes with a `WWW-Authenticate: Bearer` challenge."
    ),
    RateLimited: "Throttled by API Gateway or DynamoDB; back off and retry.",
    Unavailable: "The token issuer's keys cannot be fetched right now; retry.",
}

# The largest JSON body read: an upload's fields at their longest (a description of 1000
# characters, escaped, and 100 tag entries) take well under half of it.
MAX_BODY_CHARACTERS: Final = 16 * 1024

# Where ``resolve`` notes the length of a body it took out for being over MAX_BODY_CHARACTERS.
_OVERSIZED_BODY = "imageServiceOversizedBody"
# Where ``resolve`` notes why it took out a body it will not read (the routes read JSON only).
_REFUSED_BODY = "imageServiceRefusedBody"
# Bodies Powertools would parse as forms (a multipart one without a boundary crashes its
# parser); every route documents a JSON body, so these are refused unread.
_FORM_MEDIA_TYPES: Final = ("multipart/", "application/x-www-form-urlencoded")
# Reads and deletes take no body.
_METHODS_WITHOUT_BODY: Final = frozenset({"GET", "HEAD", "DELETE"})

# Where Powertools says a parameter came from: the first element of a validation error's loc.
_PARAMETER_SOURCES = frozenset({"query", "path", "header", "cookie", "body"})


def new_router() -> Router:
    """A router for an operation's routes, to include in its function's resolver (``api_function``)."""
    return Router()  # type: ignore[no-untyped-call]  # Powertools leaves its constructor unannotated


def api_function(*routers: Router) -> tuple[APIGatewayRestResolver, LambdaHandler]:
    """A function's resolver, with ``routers`` included, and its Lambda handler.

    The handler logs every line under the request's id (API Gateway's ``requestId``: the
    ``x-amzn-RequestId`` the caller gets and the access log's ``requestId``), counts each error
    answer by route and code (``ApiErrors``), and is traced where the stage traces.
    """
    app = create_resolver(*routers)

    @traced
    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        response = resolve(app, event, context)
        _count_error(event, response)
        return response

    return app, handler


def _count_error(event: dict[str, Any], response: dict[str, Any]) -> None:
    """One ``ApiErrors`` for an error answer, by ``route`` (method and resource) and ``code``."""
    status = int(response.get("statusCode", 200))
    if status < HTTPStatus.BAD_REQUEST:
        return
    try:
        code = str(json.loads(response.get("body") or "{}")["error"]["code"])
    except (ValueError, KeyError, TypeError):
        code = str(status)  # not our envelope: Powertools' own answer
    route = f"{event.get('httpMethod', '?')} {event.get('resource', '?')}"
    count("ApiErrors", route=route, code=code, correlation_id=logger.get_correlation_id())


def create_resolver(*routers: Router) -> APIGatewayRestResolver:
    """A resolver with ``routers``' routes that validates requests against the route's types,
    authenticates every request and answers errors uniformly."""
    app = APIGatewayRestResolver(
        enable_validation=True,
        cors=cors_config(get_cors_settings().allowed_origins),
        # A response that fails its own model is our bug: make it a 500, not Powertools' default
        # of reporting it like an invalid request.
        response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR,
        json_body_deserializer=bounded_json,
    )
    app.use(middlewares=[_authenticated])
    for error_class, (status, code) in _ERROR_ANSWERS.items():
        app.exception_handler(error_class)(_answer_with(status, code))
    app.exception_handler(Unauthorized)(_unauthorized)
    app.exception_handler(RequestValidationError)(_authenticated_then_invalid(app, _invalid_request))
    app.exception_handler(RequestUnsupportedContentType)(_authenticated_then_invalid(app, _unsupported_body))
    app.not_found(_no_such_route)
    app.exception_handler(Exception)(_internal_error)
    for router in routers:
        app.include_router(router)
    return app


def route_answers(
    status: HTTPStatus,
    success: str,
    errors: Mapping[type[ImageServiceError], str] | None = None,
    *,
    authenticated: bool = True,
) -> dict[int, OpenAPIResponse]:
    """What a route answers, for its decorator's ``responses``: ``status`` (``success`` says
    what; the body is the route's return type) and each error answer it can give.

    ``errors`` maps the route's own domain errors to when it answers them; an authenticated
    route can also answer those of every authenticated route (bad parameters, no valid
    token, throttling, the issuer unavailable). Every route can answer ``INTERNAL_ERROR``,
    which Powertools documents itself (and ``image_api.contract`` corrects).
    """
    answers: dict[int, OpenAPIResponse] = {status.value: {"description": success}}
    if status is HTTPStatus.NO_CONTENT:
        answers[status.value]["content"] = {}
    every_error = {**(_EVERY_AUTHENTICATED_ROUTE if authenticated else {}), **(errors or {})}
    for error_class, when in every_error.items():
        error_status, code = _answer_of(error_class)
        answer: OpenAPIResponse = {
            "description": when,
            "content": {
                content_types.APPLICATION_JSON: {"model": ErrorAnswer, "examples": error_examples(code, when)}
            },
        }
        if error_class is Unauthorized:
            answer["headers"] = {
                "WWW-Authenticate": {
                    "description": 'RFC 6750 challenge: `Bearer realm="image-service"`, with '
                    '`error="invalid_token"` when a token was sent and refused.',
                    "schema": {"type": "string"},
                }
            }
        answers[error_status.value] = answer
    return answers


def error_examples(code: ErrorCode, when: str) -> dict[str, Any]:
    """An OpenAPI ``examples`` map with one error answer of ``code``."""
    return {
        code.value: {
            "summary": when,
            "value": {"error": {"code": code.value, "message": _EXAMPLE_MESSAGES[code]}},
        }
    }


def _answer_of(error_class: type[ImageServiceError]) -> tuple[HTTPStatus, ErrorCode]:
    if error_class is Unauthorized:
        return _UNAUTHORIZED_ANSWER
    for domain_error, answer in _ERROR_ANSWERS.items():
        if issubclass(error_class, domain_error):
            return answer
    raise ValueError(f"{error_class.__name__} has no answer")


def resolve(app: APIGatewayRestResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``app.resolve``, with a body over ``MAX_BODY_CHARACTERS`` taken out before Powertools reads it.

    Powertools parses a body (JSON, but also form and multipart ones, whatever the route
    documents) before any middleware runs, so before authentication: a 10 MB form of a
    million fields would cost the function its whole timeout, for anyone. The body is
    removed unread and the request refused by ``_authenticated`` once the caller is known.
    """
    body = event.get("body")
    if isinstance(body, str) and len(body) > MAX_BODY_CHARACTERS:
        event = {**event, "body": None, "isBase64Encoded": False, _OVERSIZED_BODY: len(body)}
    if _media_type(event).startswith(_FORM_MEDIA_TYPES):
        # Powertools picks its parser by this header, body or not: both go, and a body is refused.
        event = {
            **_without_content_type(event),
            "body": None,
            "isBase64Encoded": False,
            **({_REFUSED_BODY: "send JSON (Content-Type: application/json)"} if body else {}),
        }
    elif body and event.get("httpMethod") in _METHODS_WITHOUT_BODY:
        # Not ignored: a client sending one means something by it (a DELETE "with conditions")
        event = {**event, "body": None, "isBase64Encoded": False, _REFUSED_BODY: "none is expected here"}
    elif event.get("isBase64Encoded") and isinstance(body, str) and not _is_utf8(body):
        # API Gateway hands over bytes that are not text base64-encoded; Powertools' decoding of
        # them would fail as an internal error.
        event = {**event, "body": None, "isBase64Encoded": False, _REFUSED_BODY: "send JSON in UTF-8"}
    return app.resolve(event, context)


def _is_utf8(base64_body: str) -> bool:
    try:
        base64.b64decode(base64_body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return True


def _media_type(event: dict[str, Any]) -> str:
    """The request's Content-Type without its parameters, lower-cased ("" without one)."""
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "content-type" and isinstance(value, str):
            return value.split(";", 1)[0].strip().lower()
    return ""


def _without_content_type(event: dict[str, Any]) -> dict[str, Any]:
    stripped = dict(event)
    for field in ("headers", "multiValueHeaders"):
        if isinstance(event.get(field), dict):
            stripped[field] = {
                name: value for name, value in event[field].items() if name.lower() != "content-type"
            }
    return stripped


def bounded_json(text: str) -> Any:
    """The request body as JSON, once its size is known to be sane.

    Powertools parses a body before any middleware runs, so before authentication: the bound
    comes first, and whatever ``json`` cannot parse (too deep: RecursionError; a number of
    thousands of digits: ValueError) is a decode error, which Powertools reports as an invalid
    body (answered after authentication, see ``_authenticated_then_invalid``).
    """
    if len(text) > MAX_BODY_CHARACTERS:
        raise json.JSONDecodeError(
            f"a body of at most {MAX_BODY_CHARACTERS} characters", "", MAX_BODY_CHARACTERS
        )
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError) as error:
        raise json.JSONDecodeError(f"not JSON this service reads ({type(error).__name__})", "", 0) from None
    if isinstance(parsed, list):
        # Every body is an object; Powertools would take an array's last item as the body.
        raise json.JSONDecodeError("a JSON object, not an array", "", 0)
    return parsed


def cors_config(allowed_origins: str) -> CORSConfig | None:
    """CORS for browsers on the given comma-separated origins (set by the API construct).

    API Gateway answers the preflight; these headers go on the functions' own answers, so a
    browser may read them. With several origins, the request's own is echoed when listed.
    """
    origins = [origin.strip() for origin in allowed_origins.split(",") if origin.strip()]
    if not origins:
        return None
    return CORSConfig(
        allow_origin=origins[0],
        extra_origins=origins[1:],
        max_age=600,
        # So that a browser app can tell an expired token from a missing one.
        expose_headers=["WWW-Authenticate"],
    )


def request_caller(request: Request) -> Caller | None:
    """Who the request acts for (``identify_caller``: ``Unauthorized`` without a valid token),
    or None on a route ``ANSWERED_WITHOUT_TOKEN``.

    A dependency of every request (``_authenticated``), which Powertools resolves once per
    request: a route's ``current_caller`` is this very object, verified once.
    """
    if (request.method, request.route) in ANSWERED_WITHOUT_TOKEN:
        return None
    return identify_caller(request)


def current_caller(caller: Annotated[Caller | None, Depends(request_caller)]) -> Caller:
    """The caller, for a route to declare: ``Annotated[Caller, Depends(current_caller)]``."""
    if caller is None:
        raise RuntimeError("a route answered without a token has no caller")
    return caller


def _authenticated(
    app: APIGatewayRestResolver,
    next_middleware: NextMiddleware,
    caller: Annotated[Caller | None, Depends(request_caller)],
) -> Response[Any]:
    """Runs for every request, unknown routes included: resolving ``caller`` is the check, and
    raises ``Unauthorized`` without a valid token, before any route touches data.

    CORS preflights, which carry no credentials, never reach the functions: API Gateway
    answers them (``stacks/image_api.py``).
    """
    del caller  # resolved, hence verified; the routes take it from the per-request cache
    if _OVERSIZED_BODY in app.current_event.raw_event:
        raise InvalidParameter("body", f"a body of at most {MAX_BODY_CHARACTERS} characters")
    if _REFUSED_BODY in app.current_event.raw_event:
        raise InvalidParameter("body", app.current_event.raw_event[_REFUSED_BODY])
    return next_middleware(app)


def error_response(
    status: HTTPStatus, code: ErrorCode, message: str, headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=ErrorAnswer(error=ErrorDetail(code=code, message=message)).model_dump(mode="json"),
        headers=headers,
    )


def _unauthorized(error: Unauthorized) -> Response[dict[str, Any]]:
    # Why a token was refused is for the operators; the caller gets the general message.
    logger.info("Refused a request without a valid bearer token", reason=error.reason)
    # RFC 6750: a challenge to sign in; an error code only when a token was sent and refused.
    challenge = 'Bearer realm="image-service"'
    if error.token_presented:
        challenge += ', error="invalid_token"'
    return error_response(
        HTTPStatus.UNAUTHORIZED,
        ErrorCode.UNAUTHORIZED,
        error.message,
        headers={"WWW-Authenticate": challenge},
    )


def _answer_with(
    status: HTTPStatus, code: ErrorCode
) -> Callable[[ImageServiceError], Response[dict[str, Any]]]:
    def answer(error: ImageServiceError) -> Response[dict[str, Any]]:
        return error_response(status, code, error.message)

    return answer


def _authenticated_then_invalid[E: Exception](
    app: APIGatewayRestResolver, invalid: Callable[[E], Response[dict[str, Any]]]
) -> Callable[[E], Response[dict[str, Any]]]:
    """Who is asking is decided before what they asked: a request with bad parameters *and* no
    valid token is answered 401, as every request without one is.

    Powertools validates parameters (and refuses a body of an unsupported type) before any
    middleware runs, so ``_authenticated`` has not seen such a request; the same check runs
    here first, then ``invalid`` answers.
    """

    def answer(error: E) -> Response[dict[str, Any]]:
        try:
            request_caller(app.request)
        except Unauthorized as refused:
            return _unauthorized(refused)
        except Unavailable as unavailable:
            return error_response(HTTPStatus.SERVICE_UNAVAILABLE, ErrorCode.UNAVAILABLE, unavailable.message)
        except ImageServiceError:
            pass  # the token is good; what else is wrong with the request is answered below
        return invalid(error)

    return answer


def _invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    """Powertools' validation failure (a 422 by default) as our 400 naming the parameter."""
    first: dict[str, Any] = next(iter(error.errors()), {})
    parameter = _parameter_name(tuple(first.get("loc", ())))
    if first.get("type") == "json_invalid":
        # Powertools' message is "JSON decode error"; what the decoder said is more useful.
        detail = first.get("ctx", {}).get("error") or "not JSON"
        return error_response(
            HTTPStatus.BAD_REQUEST, ErrorCode.INVALID_PARAMETER, f"invalid 'body': {detail}"
        )
    # Pydantic's messages describe the rule ("String should have at most 128 characters"),
    # never our internals, so they are safe and useful to show; our own validators' messages
    # come prefixed with "Value error, ", which tells the caller nothing.
    message = str(first.get("msg") or "is not valid").removeprefix("Value error, ")
    return error_response(
        HTTPStatus.BAD_REQUEST, ErrorCode.INVALID_PARAMETER, f"invalid '{parameter}': {message}"
    )


def _parameter_name(loc: tuple[Any, ...]) -> str:
    """``("query", "limit")`` -> ``limit``; ``("body", "tags", 3)`` -> ``tags``; ``("body", 17)`` -> ``body``.

    A JSON decode error reports the character offset where a field name would be.
    """
    if len(loc) >= 2 and loc[0] in _PARAMETER_SOURCES and isinstance(loc[1], str):
        return loc[1]
    return str(loc[0]) if loc else "request"


def _unsupported_body(_error: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
    message = "invalid 'body': send JSON (Content-Type: application/json)"
    return error_response(HTTPStatus.BAD_REQUEST, ErrorCode.INVALID_PARAMETER, message)


def _no_such_route(_error: NotFoundError) -> Response[dict[str, Any]]:
    return error_response(HTTPStatus.NOT_FOUND, ErrorCode.NOT_FOUND, "no such resource")


def _internal_error(error: Exception) -> Response[dict[str, Any]]:
    # The one place that turns any exception into an answer: the details go to the log only.
    logger.exception("Unhandled error", exc_info=error)
    return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, ErrorCode.INTERNAL, "internal error")
