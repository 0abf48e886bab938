"""Browsers on the configured origins may read the API's answers."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from image_api.resolver import cors_config, create_resolver
from tests.unit.harness import lambda_context, rest_api_event
from tests.unit.tokens import issuer


def signed_in(origin: str) -> dict[str, str]:
    return {"Origin": origin, "Authorization": f"Bearer {issuer().token('alice')}"}


def resolver_answering_ok(monkeypatch: pytest.MonkeyPatch, origins: str) -> APIGatewayRestResolver:
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", origins)
    app = create_resolver()

    @app.get("/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


def test_a_listed_origin_is_echoed_on_the_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an API for two origins
    app = resolver_answering_ok(monkeypatch, "https://a.example, https://b.example")

    # When a browser on the second one calls it
    event = rest_api_event("GET", "/ping", headers=signed_in("https://b.example"))
    response = app.resolve(event, lambda_context())

    # Then the answer allows that origin
    assert response["statusCode"] == 200
    assert response["multiValueHeaders"]["Access-Control-Allow-Origin"] == ["https://b.example"]


def test_an_unlisted_origin_gets_no_cors_header(monkeypatch: pytest.MonkeyPatch) -> None:
    app = resolver_answering_ok(monkeypatch, "https://a.example")

    event = rest_api_event("GET", "/ping", headers=signed_in("https://evil.example"))
    response = app.resolve(event, lambda_context())

    assert response["statusCode"] == 200
    assert "Access-Control-Allow-Origin" not in response["multiValueHeaders"]


def test_a_browser_may_read_why_it_was_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an API for one origin
    app = resolver_answering_ok(monkeypatch, "https://a.example")

    # When a browser there calls it without a token
    event = rest_api_event("GET", "/ping", headers={"Origin": "https://a.example"})
    response = app.resolve(event, lambda_context())

    # Then the 401 is readable by it, challenge included
    assert response["statusCode"] == 401
    headers = response["multiValueHeaders"]
    assert headers["Access-Control-Allow-Origin"] == ["https://a.example"]
    assert "WWW-Authenticate" in headers["Access-Control-Expose-Headers"][0]


def test_no_configured_origins_means_no_cors() -> None:
    assert cors_config("") is None
    assert cors_config(" , ") is None
