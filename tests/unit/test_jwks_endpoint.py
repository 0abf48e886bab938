"""Keys from the issuer's JWKS URL (Cognito, any OIDC provider): cached, refreshed, and never a 500.

No network: PyJWT's client fetches through ``urllib.request.build_opener``, which these tests
replace with an endpoint they control.
"""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from jwt import api_jwk, jwk_set_cache, jwks_client

from image_api import auth, dependencies
from image_api.settings import get_auth_settings
from tests.unit.conftest import Aws, UploadImage
from tests.unit.harness import ApiClient, HttpResult
from tests.unit.test_authentication import ROUTES, Route, snapshot
from tests.unit.tokens import SigningKey, issuer

JWKS_URL = "https://issuer.example.test/.well-known/jwks.json"


class JwksEndpoint:
    """Answers the function's JWKS requests with ``answer``: a document, raw bytes, or an error to raise."""

    def __init__(self, answer: dict[str, Any] | bytes | Exception) -> None:
        self.answer = answer
        self.requests: list[str] = []

    def build_opener(self, *_handlers: Any) -> Any:
        return SimpleNamespace(open=self._open)

    def _open(self, request: urllib.request.Request, **_: Any) -> io.BytesIO:
        self.requests.append(request.full_url)
        if isinstance(self.answer, Exception):
            raise self.answer
        body = self.answer if isinstance(self.answer, bytes) else json.dumps(self.answer).encode()
        return io.BytesIO(body)


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> JwksEndpoint:
    """The functions configured with a JWKS URL instead of inline keys, served by a fake endpoint."""
    monkeypatch.setenv("AUTH_JWKS", "")
    monkeypatch.setenv("AUTH_JWKS_URL", JWKS_URL)
    served = JwksEndpoint(issuer().jwks())
    monkeypatch.setattr(urllib.request, "build_opener", served.build_opener)
    return served


@pytest.fixture
def jwks_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Moves PyJWT's client's monotonic clock (its cache lifespan and refresh cooldown) forward."""
    offset = [0.0]
    real = time.monotonic
    moved = SimpleNamespace(monotonic=lambda: real() + offset[0])
    for module in (jwks_client, jwk_set_cache, api_jwk, auth):  # where PyJWT (and auth) read the time
        monkeypatch.setattr(module, "time", moved)

    def advance(seconds: float) -> None:
        offset[0] += seconds

    return advance


@pytest.fixture
def alices_image(available_image: UploadImage, endpoint: JwksEndpoint) -> str:
    return available_image(user_id="alice", tags=["cats"])


def test_keys_are_fetched_from_the_url_once_per_warm_function(
    api: ApiClient, alices_image: str, endpoint: JwksEndpoint
) -> None:
    # Given the image uploaded (one fetch of the keys)
    assert endpoint.requests == [JWKS_URL]

    # When alice makes more requests, with fresh tokens
    for _ in range(3):
        assert api.as_user("alice").get(alices_image).status_code == 200

    # Then the keys were not fetched again
    assert endpoint.requests == [JWKS_URL]


def test_a_token_of_a_rotated_in_key_refreshes_the_keys(
    api: ApiClient, alices_image: str, endpoint: JwksEndpoint, jwks_clock: Callable[[float], None]
) -> None:
    # Given the issuer rotated in a new key after the function fetched the set
    new_key = SigningKey.generate("ES256", "rotated-in")
    endpoint.answer = {"keys": [*issuer().jwks()["keys"], new_key.public_jwk()]}
    jwks_clock(31)  # past PyJWT's cooldown between forced refreshes

    # When a token signed with it arrives
    result = ApiClient.with_token(issuer().token("alice", key=new_key)).get(alices_image)

    # Then the function fetched the set again and accepted it
    assert result.status_code == 200
    assert endpoint.requests == [JWKS_URL, JWKS_URL]


def test_made_up_key_ids_cannot_make_the_function_hammer_the_issuer(
    api: ApiClient, alices_image: str, endpoint: JwksEndpoint
) -> None:
    # When tokens with unknown kids keep arriving right after a fetch
    for number in range(5):
        stranger = SigningKey.generate("ES256", f"made-up-{number}")
        assert ApiClient.with_token(issuer().token(key=stranger)).get(alices_image).status_code == 401

    # Then the set was not fetched once per token (PyJWT's cooldown)
    assert len(endpoint.requests) == 1


def test_a_key_the_issuer_withdrew_stops_verifying_once_the_cache_expires(
    api: ApiClient, alices_image: str, endpoint: JwksEndpoint, jwks_clock: Callable[[float], None]
) -> None:
    # Given the issuer withdrew its EC key, and the cached set's lifespan passed
    endpoint.answer = {"keys": [issuer().rsa_key.public_jwk()]}
    jwks_clock(301)

    # Then a token signed with it is refused, and one signed with the remaining key accepted
    assert ApiClient.with_token(issuer().token("alice")).get(alices_image).status_code == 401
    assert (
        ApiClient.with_token(issuer().token("alice", key=issuer().rsa_key)).get(alices_image).status_code
        == 200
    )


UNREACHABLE = {
    "connection refused": urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")),
    "timeout": TimeoutError("timed out"),
    "HTTP 503": urllib.error.HTTPError(JWKS_URL, 503, "Service Unavailable", None, io.BytesIO(b"")),  # type: ignore[arg-type]
    "not JSON": b"<html>maintenance</html>",
    "JSON but not a JWKS": b"[1, 2, 3]",
    "a JWKS without usable keys": b'{"keys": [{"kty": "unknown"}]}',
}


@pytest.mark.parametrize("answer", UNREACHABLE.values(), ids=UNREACHABLE.keys())
@pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
def test_keys_that_cannot_be_fetched_make_the_service_unavailable_not_the_caller_unauthorized(
    api: ApiClient,
    aws: Aws,
    available_image: UploadImage,
    monkeypatch: pytest.MonkeyPatch,
    route: Route,
    answer: Exception | bytes,
) -> None:
    # Given alice's image, and a new warm function whose issuer's JWKS endpoint fails
    image_id = available_image(user_id="alice")
    before = snapshot(aws)
    aws.dynamodb_calls.clear()
    monkeypatch.setenv("AUTH_JWKS", "")
    monkeypatch.setenv("AUTH_JWKS_URL", JWKS_URL)
    monkeypatch.setattr(urllib.request, "build_opener", JwksEndpoint(answer).build_opener)
    get_auth_settings.cache_clear()
    dependencies.token_verifier.cache_clear()

    # When alice calls the route with a perfectly good token
    result: HttpResult = route(api, image_id)

    # Then she is asked to retry later, and nothing was read or written
    assert result.status_code == 503, result.body
    assert result.error == {"code": "unavailable", "message": "cannot verify tokens right now; retry later"}
    assert aws.dynamodb_calls == []
    assert snapshot(aws) == before


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(urllib.error.URLError("down"), id="unreachable"),
        pytest.param(b"<html>maintenance</html>", id="not JSON"),
        pytest.param(b'{"keys": [{"kty": "unknown"}]}', id="no usable keys"),
    ],
)
def test_a_failed_refresh_for_an_unknown_kid_is_unavailable_too(
    api: ApiClient,
    alices_image: str,
    endpoint: JwksEndpoint,
    jwks_clock: Callable[[float], None],
    answer: Exception | bytes,
) -> None:
    # Given the set cached, and the endpoint failing when a token with a new kid arrives
    endpoint.answer = answer
    jwks_clock(31)

    result = ApiClient.with_token(issuer().token(key=SigningKey.generate("ES256", "new"))).get(alices_image)

    assert result.status_code == 503


def test_an_expired_cache_that_cannot_be_refreshed_is_unavailable(
    api: ApiClient, alices_image: str, endpoint: JwksEndpoint, jwks_clock: Callable[[float], None]
) -> None:
    # Given the cached set's lifespan over, and the endpoint down
    endpoint.answer = TimeoutError("timed out")
    jwks_clock(301)

    assert api.get(alices_image).status_code == 503


def test_while_the_issuer_is_down_unknown_key_ids_cause_one_fetch_per_cooldown_each_answered_at_once(
    api: ApiClient, alices_image: str, endpoint: JwksEndpoint, jwks_clock: Callable[[float], None]
) -> None:
    # Given the set cached, PyJWT's refresh cooldown over, and the issuer's endpoint now down
    endpoint.answer = urllib.error.URLError("down")
    jwks_clock(31)
    fetches_before = len(endpoint.requests)

    # When tokens with unknown key ids keep arriving
    answers = [
        ApiClient.with_token(issuer().token(key=SigningKey.generate("ES256", f"unknown-{n}"))).get(
            alices_image
        )
        for n in range(5)
    ]

    # Then each is told to retry later, and the failing endpoint was asked once, not once each
    assert [answer.status_code for answer in answers] == [503] * 5
    assert len(endpoint.requests) - fetches_before == 1
    # And known keys still verify meanwhile, from the cache
    assert api.get(alices_image).status_code == 200

    # When the failure cooldown is over and the issuer is back, Then it is asked again
    endpoint.answer = issuer().jwks()
    jwks_clock(dependencies.JWKS_FAILURE_COOLDOWN_SECONDS)
    token = issuer().token(key=SigningKey.generate("ES256", "unknown-later"))
    assert ApiClient.with_token(token).get(alices_image).status_code == 401
    assert len(endpoint.requests) - fetches_before == 2


def test_a_cold_function_whose_issuer_is_down_fetches_once_per_cooldown(
    api: ApiClient, alices_image: str, endpoint: JwksEndpoint, jwks_clock: Callable[[float], None]
) -> None:
    # Given the cached set expired and the issuer down
    endpoint.answer = TimeoutError("timed out")
    jwks_clock(301)
    fetches_before = len(endpoint.requests)

    # When alice keeps calling with good tokens
    answers = [api.get(alices_image).status_code for _ in range(4)]

    # Then each call is a 503, after a single attempt to fetch
    assert answers == [503] * 4
    assert len(endpoint.requests) - fetches_before == 1
