"""A route answers without a bearer token only when ``ANSWERED_WITHOUT_TOKEN`` declares it."""

from __future__ import annotations

from typing import Annotated

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Depends

from image_api import resolver
from image_api.identity import Caller
from image_api.resolver import create_resolver, current_caller, new_router
from tests.unit.harness import lambda_context, rest_api_event
from tests.unit.tokens import issuer


def app_with_an_open_route(monkeypatch: pytest.MonkeyPatch) -> APIGatewayRestResolver:
    """``GET /open`` declared as answered without a token; ``GET /closed`` not."""
    monkeypatch.setattr(resolver, "ANSWERED_WITHOUT_TOKEN", frozenset({("GET", "/open")}))
    router = new_router()

    @router.get("/open")
    def open_route() -> dict[str, bool]:
        return {"ok": True}

    @router.get("/closed")
    def closed_route(caller: Annotated[Caller, Depends(current_caller)]) -> dict[str, str | None]:
        return {"user_id": caller.user_id}

    return create_resolver(router)


def status_without_token(app: APIGatewayRestResolver, method: str, path: str) -> int:
    response = app.resolve(rest_api_event(method, path), lambda_context())
    status: int = response["statusCode"]
    return status


def test_a_declared_route_answers_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    app = app_with_an_open_route(monkeypatch)

    assert status_without_token(app, "GET", "/open") == 200


def test_every_other_route_and_method_still_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    app = app_with_an_open_route(monkeypatch)

    # A route in the same router, another method on the open path, and no route at all
    assert status_without_token(app, "GET", "/closed") == 401
    assert status_without_token(app, "POST", "/open") == 401
    assert status_without_token(app, "GET", "/nowhere") == 401


def test_the_caller_is_identified_once_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a route that needs the caller, and a count of identifications
    app = app_with_an_open_route(monkeypatch)
    identified: list[str | None] = []
    identify = resolver.identify_caller

    def counting(request: object) -> Caller:
        caller = identify(request)  # type: ignore[arg-type]
        identified.append(caller.user_id)
        return caller

    monkeypatch.setattr(resolver, "identify_caller", counting)

    # When alice calls it
    event = rest_api_event("GET", "/closed", headers={"Authorization": f"Bearer {issuer().token('alice')}"})
    response = app.resolve(event, lambda_context())

    # Then the middleware's check and the route's caller were one identification
    assert response["statusCode"] == 200
    assert identified == ["alice"]
