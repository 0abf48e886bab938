"""Every route refuses requests without a valid bearer token, before it touches any data.

The functions trust the test issuer (``tokens``); every forgery below is refused with a 401
``unauthorized`` and a ``WWW-Authenticate: Bearer`` challenge, and not one DynamoDB or S3
call is made for it. A valid token of another user gets nothing of alice's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from image_api import get_image
from image_api.settings import AuthSettings
from tests.unit import tokens
from tests.unit.conftest import Aws, UploadImage
from tests.unit.harness import ApiClient, HttpResult, lambda_context, rest_api_event
from tests.unit.tokens import SigningKey, issuer

# route -> how to call it for alice's image
Route = Callable[[ApiClient, str], HttpResult]
ROUTES: dict[str, Route] = {
    "POST /images/upload": lambda client, _: client.upload(query={"tags": "cats"}),
    "GET /images": lambda client, _: client.list(),
    "GET /images/{id}": lambda client, image_id: client.get(image_id),
    "GET /images/{id}/download": lambda client, image_id: client.download(image_id),
    "GET /images/{id}/download?variant=thumbnail": lambda client, image_id: client.download(
        image_id, "thumbnail"
    ),
    "DELETE /images/{id}": lambda client, image_id: client.delete(image_id),
}


def _key(algorithm: str, kid: str) -> SigningKey:
    return SigningKey.generate(algorithm, kid)


def _other_es384_token() -> str:
    return jwt.encode(issuer().claims(), ec.generate_private_key(ec.SECP384R1()), "ES384", {"kid": "es384"})


# name -> the Authorization header it sends (None: none at all)
BAD_CREDENTIALS: dict[str, Callable[[], str | None]] = {
    "no Authorization header": lambda: None,
    "empty Authorization header": lambda: "",
    "another scheme": lambda: "Basic YWxpY2U6c2VjcmV0",
    "Bearer without a token": lambda: "Bearer",
    "a token without the Bearer scheme": lambda: issuer().token(),
    "two words after Bearer": lambda: f"Bearer {issuer().token()} extra",
    "malformed token": lambda: "Bearer not-a-jwt",
    "three junk segments": lambda: "Bearer aaaa.bbbb.cccc",
    "bad signature (bob's token rewritten to alice)": lambda: (
        f"Bearer {tokens.with_claims_replaced(issuer().token('bob'), sub='alice')}"
    ),
    "signed by another key under the issuer's kid": lambda: (
        f"Bearer {issuer().token(key=_key('ES256', 'intruder'), kid=issuer().ec_key.kid)}"
    ),
    "signed by a key the issuer does not have": lambda: (
        f"Bearer {issuer().token(key=_key('ES256', 'intruder'))}"
    ),
    "RS256 key's signature under the ES256 key's kid": lambda: (
        f"Bearer {issuer().token(key=issuer().rsa_key, kid=issuer().ec_key.kid)}"
    ),
    "an algorithm not accepted (ES384)": lambda: f"Bearer {_other_es384_token()}",
    "wrong issuer": lambda: f"Bearer {issuer().token(iss='https://evil.example.test/')}",
    "wrong audience": lambda: f"Bearer {issuer().token(aud='another-service')}",
    "audiences that are all others": lambda: f"Bearer {issuer().token(aud=['a-service', 'b-service'])}",
    "expired": lambda: f"Bearer {issuer().token(iat=int(time.time()) - 7200, exp=int(time.time()) - 120)}",
    "not yet valid": lambda: f"Bearer {issuer().token(nbf=int(time.time()) + 600)}",
    "issued in the future": lambda: f"Bearer {issuer().token(iat=int(time.time()) + 600)}",
    "without exp": lambda: f"Bearer {issuer().token(exp=None)}",
    "without iat": lambda: f"Bearer {issuer().token(iat=None)}",
    "without sub": lambda: f"Bearer {issuer().token(sub=None)}",
    "a sub that is no user id": lambda: f"Bearer {issuer().token('alice smith')}",
    "alg none": lambda: f"Bearer {tokens.unsigned_token(issuer().claims(), issuer().ec_key.kid)}",
    "HS256 keyed with the EC public key": lambda: (
        f"Bearer {tokens.hs256_keyed_with_public_key(issuer().claims(), issuer().ec_key)}"
    ),
    "HS256 keyed with the RSA public key": lambda: (
        f"Bearer {tokens.hs256_keyed_with_public_key(issuer().claims(), issuer().rsa_key)}"
    ),
    "no aud and not an access token": lambda: f"Bearer {issuer().token(aud=None, token_use='id')}",
    "an access token of another app client": lambda: (
        f"Bearer {issuer().cognito_access_token(client_id='another-client')}"
    ),
    "an access token's client_id without token_use": lambda: (
        f"Bearer {issuer().token(aud=None, client_id=tokens.AUDIENCE)}"
    ),
}


def snapshot(aws: Aws) -> tuple[list[dict[str, Any]], list[str]]:
    return sorted(aws.table_items(), key=lambda item: (item["pk"], item["sk"])), aws.object_keys()


@pytest.fixture
def alices_image(available_image: UploadImage) -> str:
    """An available private image of alice's, tagged cats."""
    return available_image(user_id="alice", tags=["cats"])


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
@pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
def test_a_request_without_a_valid_token_is_unauthorized_and_touches_nothing(
    api: ApiClient,
    aws: Aws,
    alices_image: str,
    route: Route,
    credentials: Callable[[], str | None],
) -> None:
    # Given alice's image, and a request with bad or no credentials
    before = snapshot(aws)
    aws.dynamodb_calls.clear()
    client = ApiClient(authorization=credentials())

    # When it is sent to the route
    result = route(client, alices_image)

    # Then it is refused as unauthorized, with a challenge to sign in
    assert result.status_code == 401, result.body
    assert result.error["code"] == "unauthorized"
    assert result.headers["WWW-Authenticate"][0].startswith("Bearer ")
    # And no data was read or written
    assert aws.dynamodb_calls == []
    assert snapshot(aws) == before


def test_a_missing_token_is_challenged_without_an_error_code(api: ApiClient, alices_image: str) -> None:
    result = ApiClient(authorization=None).get(alices_image)

    assert result.headers["WWW-Authenticate"] == ['Bearer realm="image-service"']
    assert result.error["message"] == "sign in: send 'Authorization: Bearer <token>'"


def test_a_refused_token_is_challenged_as_invalid_without_saying_why(
    api: ApiClient, alices_image: str
) -> None:
    result = ApiClient.with_token(issuer().token(iss="https://evil.example.test/")).get(alices_image)

    assert result.headers["WWW-Authenticate"] == ['Bearer realm="image-service", error="invalid_token"']
    # Which check failed is for the log, not for whoever forged the token.
    assert result.error["message"] == "the bearer token is not valid"


def test_an_expired_token_says_so_so_that_clients_know_to_refresh(api: ApiClient, alices_image: str) -> None:
    now = int(time.time())
    result = ApiClient.with_token(issuer().token(iat=now - 7200, exp=now - 120)).get(alices_image)

    assert result.status_code == 401
    assert result.error["message"] == "the bearer token has expired"


def test_an_unknown_route_without_a_token_is_unauthorized_too(api: ApiClient) -> None:
    # Authentication comes first: not even which routes exist is told to strangers.
    event = rest_api_event("GET", "/admin", path_parameters=None)
    response = get_image.handler(event, lambda_context())

    assert response["statusCode"] == 401


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda: issuer().token("alice"), id="ES256 ID token"),
        pytest.param(lambda: issuer().token("alice", key=issuer().rsa_key), id="RS256 ID token"),
        pytest.param(lambda: issuer().cognito_access_token("alice"), id="Cognito access token"),
        pytest.param(
            lambda: issuer().token("alice", aud=["another-service", tokens.AUDIENCE]),
            id="one of several audiences",
        ),
        pytest.param(
            lambda: issuer().token("alice", iat=int(time.time()) - 3600, exp=int(time.time()) - 10),
            id="expired within the leeway",
        ),
        pytest.param(
            lambda: issuer().token("alice", nbf=int(time.time()) + 10), id="valid within the leeway"
        ),
    ],
)
@pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
def test_a_valid_token_of_the_owner_is_accepted_on_every_route(
    api: ApiClient, alices_image: str, route: Route, make_token: Callable[[], str]
) -> None:
    result = route(ApiClient.with_token(make_token()), alices_image)

    assert result.status_code in {200, 201, 204}, result.body


@pytest.mark.parametrize(
    "route", [ROUTES["GET /images/{id}"], ROUTES["GET /images/{id}/download"], ROUTES["DELETE /images/{id}"]]
)
def test_a_valid_token_of_another_user_finds_nothing_and_changes_nothing(
    api: ApiClient, aws: Aws, alices_image: str, route: Route
) -> None:
    # Given alice's private image
    before = snapshot(aws)

    # When bob, properly signed in, asks for it
    result = route(api.as_user("bob"), alices_image)

    # Then it does not exist for him, exactly like an id nobody uploaded
    unknown = route(api.as_user("bob"), "0123456789abcdef0123456789abcdef")
    assert (result.status_code, result.body) == (404, unknown.body)
    assert snapshot(aws) == before


def test_a_valid_token_of_another_user_lists_and_uploads_only_for_that_user(
    api: ApiClient, aws: Aws, alices_image: str
) -> None:
    bob = api.as_user("bob")

    uploaded = bob.upload(query={"tags": "cats"}).json()["image_id"]

    assert bob.list().json()["items"] == []
    assert bob.list(tag="cats").json()["items"] == []
    assert bob.get(uploaded).json()["user_id"] == "bob"
    assert [item["image_id"] for item in api.list().json()["items"]] == [alices_image]


NAMING_ALICE = {"user_id": "alice"}
# route -> how to call it for alice's image with the old user_id parameter in the query string
ROUTES_NAMING_A_USER: dict[str, Route] = {
    "POST /images/upload": lambda client, _: client.upload(query=NAMING_ALICE),
    "GET /images": lambda client, _: client.list(**NAMING_ALICE),
    "GET /images/{id}": lambda client, image_id: client.get(image_id, query=NAMING_ALICE),
    "GET /images/{id}/download": lambda client, image_id: client.download(image_id, query=NAMING_ALICE),
    "DELETE /images/{id}": lambda client, image_id: client.delete(image_id, query=NAMING_ALICE),
}


@pytest.mark.parametrize("route", ROUTES_NAMING_A_USER.values(), ids=ROUTES_NAMING_A_USER.keys())
def test_the_old_user_id_parameter_is_refused_on_every_route(
    api: ApiClient, aws: Aws, alices_image: str, route: Route
) -> None:
    # Given alice's image
    before = snapshot(aws)

    # When alice, signed in but with a client written for the API without identities, names
    # herself in the query string
    result = route(api, alices_image)

    # Then she is told that identity comes from the token, and nothing happens
    assert result.status_code == 400
    assert result.error == {
        "code": "invalid_parameter",
        "message": "invalid 'user_id': is not accepted: who you are comes from your bearer token",
    }
    assert snapshot(aws) == before


def test_the_identity_claim_is_configurable(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an issuer whose subject is opaque, and a deployment that names users by "username"
    monkeypatch.setenv("AUTH_IDENTITY_CLAIM", "username")
    token = issuer().cognito_access_token("alice", sub="9f1c2e4a-0000-4000-8000-000000000001")

    # When alice uploads
    result = ApiClient.with_token(token).upload()

    # Then the image is hers by that claim
    assert result.status_code == 201
    assert ApiClient.with_token(token).get(result.json()["image_id"]).json()["user_id"] == "alice"
    # And a token without the claim is refused
    assert ApiClient.with_token(issuer().token("alice")).list().status_code == 401


# --- settings -----------------------------------------------------------------------------


def test_without_any_auth_settings_the_api_fails_closed() -> None:
    with pytest.raises(ValueError, match="AUTH_ISSUER"):
        AuthSettings.model_validate({})


@pytest.mark.parametrize(
    ("environment", "problem"),
    [
        pytest.param(
            {"AUTH_AUDIENCE": "a", "AUTH_JWKS_URL": "https://x/jwks"}, "AUTH_ISSUER", id="no issuer"
        ),
        pytest.param(
            {"AUTH_ISSUER": "https://x", "AUTH_JWKS_URL": "https://x/jwks"}, "AUTH_AUDIENCE", id="no aud"
        ),
        pytest.param({"AUTH_ISSUER": "https://x", "AUTH_AUDIENCE": "a"}, "exactly one", id="no keys"),
        pytest.param(
            {
                "AUTH_ISSUER": "https://x",
                "AUTH_AUDIENCE": "a",
                "AUTH_JWKS_URL": "https://x/j",
                "AUTH_JWKS": "{}",
            },
            "exactly one",
            id="two sources of keys",
        ),
    ],
)
def test_incomplete_jwt_settings_fail_loudly(environment: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        AuthSettings.model_validate({"AUTH_MODE": "jwt", **environment})


def test_settings_read_audiences_as_a_list_and_the_inline_jwks_as_json() -> None:
    settings = AuthSettings.model_validate(
        {
            "AUTH_ISSUER": "https://x",
            "AUTH_AUDIENCE": "web, mobile",
            "AUTH_JWKS": '{"keys": []}',
            "AUTH_JWKS_URL": "",
        }
    )

    assert settings.audiences == ("web", "mobile")
    assert settings.jwks == {"keys": []}
    assert settings.jwks_url is None
    assert (settings.identity_claim, settings.leeway_seconds) == ("sub", 30)


def test_authentication_off_needs_no_issuer() -> None:
    assert AuthSettings.model_validate({"AUTH_MODE": "none"}).issuer is None


@pytest.mark.parametrize(
    "request_with_a_bad_parameter",
    [
        pytest.param(lambda client: client.list(limit="0"), id="list with limit 0"),
        pytest.param(lambda client: client.upload({"content_type": "text/plain"}), id="upload of text"),
    ],
)
def test_a_request_with_a_bad_parameter_and_no_valid_token_is_unauthorized_first(
    api: ApiClient, aws: Aws, request_with_a_bad_parameter: Callable[[ApiClient], HttpResult]
) -> None:
    # Given a request that is wrong twice: no token, and a parameter out of range
    before = snapshot(aws)

    # When it arrives without a token, and with a forged one
    missing = request_with_a_bad_parameter(ApiClient(authorization=None))
    forged = request_with_a_bad_parameter(
        ApiClient.with_token(issuer().token(iss="https://evil.example.test/"))
    )

    # Then who is asking is refused before what was asked is judged, and nothing changed
    assert (missing.status_code, missing.error["code"]) == (401, "unauthorized")
    assert (forged.status_code, forged.error["code"]) == (401, "unauthorized")
    assert snapshot(aws) == before


def test_a_bad_parameter_with_a_valid_token_is_still_named(api: ApiClient) -> None:
    result = api.list(limit="0")

    assert result.status_code == 400
    assert "'limit'" in result.error["message"]


def test_a_bad_parameter_with_the_old_user_id_and_a_valid_token_is_a_400_not_a_500(api: ApiClient) -> None:
    result = api.list(limit="0", user_id="alice")

    assert result.status_code == 400
    assert result.error["code"] == "invalid_parameter"
