"""Identity and ownership against the deployed service: no valid token, no data; nobody touches
another user's private images.

Tokens come from the local development issuer, whose public keys the deployed functions
hold; forged ones are signed with other keys, or with its own key but wrong claims, or
assembled by hand (PyJWT refuses to make ``alg: none`` or HS256 keyed with a public key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from image_core import schema
from localcloud.dev_issuer import DevIssuer
from tests.integration.conftest import (
    HTTP_TIMEOUT,
    ROOT,
    Backend,
    ImageApi,
    assert_error,
    png_bytes,
    unique_tag,
    unique_user,
    upload_image,
    wait_until_available,
)

pytestmark = pytest.mark.integration

UNKNOWN_ID = "0123456789abcdef0123456789abcdef"
PNG = png_bytes(seed=5)


def counts(backend: Backend, owner: ImageApi, image_ids: list[str]) -> tuple[int, int]:
    """What a refused request could have changed: the owner's items, and their images' objects.

    Scoped to one test user, so that processing or expiry of other tests' images, which goes
    on in the background, cannot make a refused request look as if it wrote something.
    """
    pages = backend.dynamodb.get_paginator("scan").paginate(
        TableName=backend.table,
        Select="COUNT",
        ConsistentRead=True,
        FilterExpression="user_id = :owner",
        ExpressionAttributeValues={":owner": {"S": str(owner.user)}},
    )
    items = sum(page["Count"] for page in pages)
    objects = sum(
        backend.s3.list_objects_v2(Bucket=backend.bucket, Prefix=prefix).get("KeyCount", 0)
        for image_id in image_ids
        for prefix in (
            schema.incoming_object_key(image_id),
            schema.originals_prefix(image_id),
            schema.variants_prefix(image_id),
        )
    )
    return items, objects


@pytest.fixture(scope="module")
def alice(deployed_api: ImageApi) -> ImageApi:
    return deployed_api.as_user(unique_user())


@pytest.fixture(scope="module")
def bob(deployed_api: ImageApi) -> ImageApi:
    return deployed_api.as_user(unique_user())


@pytest.fixture(scope="module")
def images(alice: ImageApi, bob: ImageApi) -> dict[str, str]:
    """alice's private and public images, and bob's public one, all available."""
    dog = unique_tag("dog")
    plan = {
        "alice private": (alice, ["cat"], "private"),
        "alice public": (alice, ["cat"], "public"),
        "bob public": (bob, [dog], "public"),
    }
    ids = {}
    for name, (owner, tags, visibility) in plan.items():
        ids[name] = upload_image(owner, str(owner.user), tags, "image/png", PNG, visibility=visibility)
        wait_until_available(owner, ids[name])
    ids["bob's tag"] = dog
    return ids


# --- requests without a valid token ----------------------------------------------------------------

# route -> (method, path) for an image id
Route = Callable[[str], tuple[str, str]]
ROUTES: dict[str, Route] = {
    "POST /images/upload": lambda _: ("POST", "images/upload"),
    "GET /images": lambda _: ("GET", "images"),
    "GET /images/{id}": lambda image_id: ("GET", f"images/{image_id}"),
    "GET /images/{id}/download": lambda image_id: ("GET", f"images/{image_id}/download"),
    "DELETE /images/{id}": lambda image_id: ("DELETE", f"images/{image_id}"),
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _unsigned(issuer: DevIssuer, user: str) -> str:
    """``alg: none``, with an empty signature."""
    return f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': issuer.kid})}.{_segment(issuer.claims(user))}."


def _hs256_keyed_with_the_public_key(issuer: DevIssuer, user: str) -> str:
    pem = issuer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        f"{_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': issuer.kid})}.{_segment(issuer.claims(user))}"
    )
    return f"{signing_input}.{_b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())}"


def _rewritten(token: str, **changes: Any) -> str:
    """The token's payload changed, its signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{_segment({**claims, **changes})}.{signature}"


def _signed_by_another_key(issuer: DevIssuer, user: str, kid: str) -> str:
    return jwt.encode(issuer.claims(user), ec.generate_private_key(ec.SECP256R1()), "ES256", {"kid": kid})


def _with_claims(issuer: DevIssuer, user: str, **changes: Any) -> str:
    return issuer.sign({**issuer.claims(user), **changes})


# name -> the Authorization header it sends for alice (None: none at all), given the dev issuer
Credentials = Callable[[DevIssuer, str], str | None]
BAD_CREDENTIALS: dict[str, Credentials] = {
    "no token": lambda _, __: None,
    "another scheme": lambda _, __: "Basic YWxpY2U6c2VjcmV0",
    "malformed token": lambda _, __: "Bearer not-a-jwt",
    "bad signature": lambda issuer, user: f"Bearer {_rewritten(issuer.token('somebody-else'), sub=user)}",
    "another key under the issuer's kid": lambda issuer, user: (
        f"Bearer {_signed_by_another_key(issuer, user, issuer.kid)}"
    ),
    "a key the issuer does not have": lambda issuer, user: (
        f"Bearer {_signed_by_another_key(issuer, user, 'x')}"
    ),
    "wrong issuer": lambda issuer, user: f"Bearer {_with_claims(issuer, user, iss='https://evil.example/')}",
    "wrong audience": lambda issuer, user: f"Bearer {_with_claims(issuer, user, aud='another-service')}",
    "expired": lambda issuer, user: f"Bearer {issuer.token(user, expires_in=-120)}",
    "not yet valid": lambda issuer, user: f"Bearer {_with_claims(issuer, user, nbf=int(time.time()) + 600)}",
    "alg none": lambda issuer, user: f"Bearer {_unsigned(issuer, user)}",
    "HS256 keyed with the public key": lambda issuer, user: (
        f"Bearer {_hs256_keyed_with_the_public_key(issuer, user)}"
    ),
}


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
@pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
def test_a_request_without_a_valid_token_is_unauthorized_and_changes_nothing(
    deployed_api: ImageApi,
    alice: ImageApi,
    backend: Backend,
    images: dict[str, str],
    route: Route,
    credentials: Credentials,
) -> None:
    # Given alice's private image, and a request for it with bad or no credentials
    alices = [images["alice private"], images["alice public"]]
    before = counts(backend, alice, alices)
    authorization = credentials(deployed_api.issuer, str(alice.user))
    method, path = route(images["alice private"])

    # When it reaches the deployed API
    response = deployed_api.request(
        method, path, headers={"Authorization": authorization} if authorization else {}
    )

    # Then it is refused with a challenge, in the error envelope, and nothing changed
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert counts(backend, alice, alices) == before
    assert alice.get(images["alice private"]).status_code == 200


def test_the_old_user_id_parameter_is_refused(alice: ImageApi) -> None:
    response = alice.list_images({"user_id": str(alice.user)})

    assert_error(response, 400, "invalid_parameter", "user_id")
    assert response.json()["error"]["message"].endswith("who you are comes from your bearer token")


# --- ownership -----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["GET /images/{id}", "GET /images/{id}/download", "DELETE /images/{id}"])
def test_another_users_private_image_is_answered_like_an_unknown_one(
    alice: ImageApi, bob: ImageApi, backend: Backend, images: dict[str, str], route: str
) -> None:
    alices = [images["alice private"], images["alice public"]]
    before = counts(backend, alice, alices)
    method, path = ROUTES[route](images["alice private"])
    _, unknown_path = ROUTES[route](UNKNOWN_ID)

    response = bob.request(method, path)
    unknown = bob.request(method, unknown_path)

    assert (response.status_code, response.json()) == (404, unknown.json())
    assert counts(backend, alice, alices) == before


def test_another_users_public_image_is_seen_and_downloaded_but_not_deleted(
    alice: ImageApi, bob: ImageApi, images: dict[str, str]
) -> None:
    image_id = images["alice public"]

    assert bob.get(image_id).json()["user_id"] == alice.user
    link = bob.download(image_id).json()["url"]
    assert requests.get(link, timeout=HTTP_TIMEOUT).content == PNG
    assert_error(bob.delete(image_id), 403, "forbidden")
    assert alice.get(image_id).status_code == 200


def test_each_user_lists_their_own_images_and_anybody_the_public_ones(
    deployed_api: ImageApi, alice: ImageApi, bob: ImageApi, images: dict[str, str]
) -> None:
    carol = deployed_api.as_user(unique_user())

    assert alice.listed_ids({}) == [images["alice public"], images["alice private"]]
    assert bob.listed_ids({}) == [images["bob public"]]
    assert carol.listed_ids({}) == []
    public = carol.listed_ids({"visibility": "public", "limit": "100"})
    assert images["alice public"] in public
    assert images["alice private"] not in public
    assert carol.listed_ids({"visibility": "public", "tag": images["bob's tag"]}) == [images["bob public"]]


def test_an_uploader_owns_the_image_whatever_the_request_says(alice: ImageApi, bob: ImageApi) -> None:
    assert_error(bob.request_upload(json_body={"user_id": alice.user}), 400, "invalid_parameter", "user_id")

    image_id = bob.request_upload().json()["image_id"]

    assert bob.get(image_id).json()["user_id"] == bob.user
    assert_error(alice.get(image_id), 404, "not_found")


def test_make_token_prints_a_token_the_service_accepts(deployed_api: ImageApi) -> None:
    user = unique_user()
    printed = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "token", f"USER={user}"], capture_output=True, text=True, check=True
    )
    token = printed.stdout.strip().splitlines()[-1]

    response = deployed_api.request("GET", "images", headers={"Authorization": f"Bearer {token}"})

    assert (response.status_code, response.json()["items"]) == (200, [])
