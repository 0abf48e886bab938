"""Identity and ownership against the service deployed on the local cloud (``make test-integration``).

Tokens come from the local development issuer (``localcloud/dev_issuer.py``), whose public
keys the deployed functions hold; forged ones are signed with other keys, or with its own
key but wrong claims, or assembled by hand. Users are named per run, so that the tests
neither see nor disturb what earlier runs or the README walkthrough left behind.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from localcloud.dev_issuer import DevIssuer
from localcloud.outputs import api_url, stack_outputs

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RUN = uuid.uuid4().hex[:8]
ALICE, BOB = f"alice-{RUN}", f"bob-{RUN}"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGM8ISfHwMDAxMDAwMDAAAANBAEIfXHKZgAAAABJRU5ErkJggg=="
)
UNKNOWN_ID = "0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class Service:
    url: str
    table: str
    bucket: str
    issuer: DevIssuer

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return self.call_with_header(method, path, headers, **kwargs)

    def call_with_header(
        self, method: str, path: str, headers: dict[str, str], **kwargs: Any
    ) -> requests.Response:
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def token(self, user: str) -> str:
        return self.issuer.token(user)

    def upload(self, user: str, *, visibility: str = "private", tags: str = "cat") -> str:
        """Register an image of ``user``'s, send its bytes to S3, and wait until it is available."""
        answer = self.call(
            "POST",
            "images/upload",
            self.token(user),
            params={"tags": tags, "content_type": "image/png", "visibility": visibility},
        )
        assert answer.status_code == 201, answer.text
        grant = answer.json()
        form = grant["upload"]
        sent = requests.post(form["url"], data=form["fields"], files={"file": ("a.png", PNG)}, timeout=30)
        assert sent.status_code == 204, sent.text
        image_id: str = grant["image_id"]
        deadline = time.monotonic() + 60
        while self.call("GET", f"images/{image_id}", self.token(user)).json().get("status") != "available":
            assert time.monotonic() < deadline, "the uploaded image never became available"
            time.sleep(0.5)
        return image_id

    def snapshot(self) -> tuple[int, int]:
        """How many items the table and objects the bucket hold (a test may scan; the service never does)."""
        items = boto3.client("dynamodb").scan(TableName=self.table, Select="COUNT")["Count"]
        objects = boto3.client("s3").list_objects_v2(Bucket=self.bucket).get("KeyCount", 0)
        return items, objects


@pytest.fixture(scope="module")
def service() -> Service:
    outputs = stack_outputs(ROOT / ".localcloud" / "outputs.json")
    if outputs.get("AuthMode") != "jwt":
        pytest.skip("the service is deployed with AUTH_MODE=none; deploy it with `make up`")
    issuer = DevIssuer.load(ROOT / ".localcloud" / "dev-issuer")
    assert outputs["TokenIssuer"] == issuer.issuer
    return Service(
        url=api_url(outputs), table=outputs["TableName"], bucket=outputs["BucketName"], issuer=issuer
    )


@pytest.fixture(scope="module")
def images(service: Service) -> Iterator[dict[str, str]]:
    """alice's private and public images (available), and bob's public one."""
    ids = {
        "alice private": service.upload(ALICE),
        "alice public": service.upload(ALICE, visibility="public"),
        "bob public": service.upload(BOB, visibility="public", tags=f"dog-{RUN}"),
    }
    yield ids
    for name, image_id in ids.items():
        owner = ALICE if name.startswith("alice") else BOB
        service.call("DELETE", f"images/{image_id}", service.token(owner))


# route -> (method, path) for alice's private image
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


def _forged_hs256(issuer: DevIssuer) -> str:
    """HMAC-SHA256 keyed with the issuer's public key, which PyJWT refuses to make."""
    pem = issuer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        f"{_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': issuer.kid})}.{_segment(issuer.claims(ALICE))}"
    )
    return f"{signing_input}.{_b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())}"


def _unsigned(issuer: DevIssuer) -> str:
    """``alg: none``, with an empty signature."""
    return f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': issuer.kid})}.{_segment(issuer.claims(ALICE))}."


def _tampered(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{_segment({**claims, **changes})}.{signature}"


def _other_key_token(issuer: DevIssuer, kid: str) -> str:
    return jwt.encode(issuer.claims(ALICE), ec.generate_private_key(ec.SECP256R1()), "ES256", {"kid": kid})


# name -> the Authorization header it sends (None: none)
BAD_CREDENTIALS: dict[str, Callable[[DevIssuer], str | None]] = {
    "no token": lambda _: None,
    "another scheme": lambda _: "Basic YWxpY2U6c2VjcmV0",
    "malformed token": lambda _: "Bearer not-a-jwt",
    "bad signature": lambda issuer: f"Bearer {_tampered(issuer.token(BOB), sub=ALICE)}",
    "another key under the issuer's kid": lambda issuer: f"Bearer {_other_key_token(issuer, issuer.kid)}",
    "a key the issuer does not have": lambda issuer: f"Bearer {_other_key_token(issuer, 'intruder')}",
    "wrong issuer": lambda issuer: (
        f"Bearer {issuer.sign({**issuer.claims(ALICE), 'iss': 'https://evil.example/'})}"
    ),
    "wrong audience": lambda issuer: (
        f"Bearer {issuer.sign({**issuer.claims(ALICE), 'aud': 'another-service'})}"
    ),
    "expired": lambda issuer: f"Bearer {issuer.token(ALICE, expires_in=-120)}",
    "not yet valid": lambda issuer: (
        f"Bearer {issuer.sign({**issuer.claims(ALICE), 'nbf': int(time.time()) + 600})}"
    ),
    "alg none": lambda issuer: f"Bearer {_unsigned(issuer)}",
    "HS256 keyed with the public key": lambda issuer: f"Bearer {_forged_hs256(issuer)}",
}


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
@pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())
def test_a_request_without_a_valid_token_is_unauthorized_and_changes_nothing(
    service: Service,
    images: dict[str, str],
    route: Route,
    credentials: Callable[[DevIssuer], str | None],
) -> None:
    # Given alice's private image, and a request with bad or no credentials
    before = service.snapshot()
    authorization = credentials(service.issuer)
    headers = {"Authorization": authorization} if authorization is not None else {}
    method, path = route(images["alice private"])

    # When it reaches the deployed API
    answer = service.call_with_header(method, path, headers)

    # Then it is refused with a challenge, in the error envelope, and nothing changed
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthorized"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer ")
    assert service.snapshot() == before
    assert service.call("GET", f"images/{images['alice private']}", service.token(ALICE)).status_code == 200


@pytest.mark.parametrize("route", ["GET /images/{id}", "GET /images/{id}/download", "DELETE /images/{id}"])
def test_another_users_private_image_is_answered_like_an_unknown_one(
    service: Service, images: dict[str, str], route: str
) -> None:
    before = service.snapshot()
    method, path = ROUTES[route](images["alice private"])
    _, unknown_path = ROUTES[route](UNKNOWN_ID)

    answer = service.call(method, path, service.token(BOB))
    unknown = service.call(method, unknown_path, service.token(BOB))

    assert (answer.status_code, answer.json()) == (404, unknown.json())
    assert service.snapshot() == before


def test_another_users_public_image_is_seen_and_downloaded_but_not_deleted(
    service: Service, images: dict[str, str]
) -> None:
    image_id = images["alice public"]
    bob = service.token(BOB)

    assert service.call("GET", f"images/{image_id}", bob).json()["user_id"] == ALICE
    link = service.call("GET", f"images/{image_id}/download", bob).json()["url"]
    assert requests.get(link, timeout=30).content == PNG
    refused = service.call("DELETE", f"images/{image_id}", bob)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    assert service.call("GET", f"images/{image_id}", service.token(ALICE)).status_code == 200


def test_each_user_lists_their_own_images_and_everyone_the_public_ones(
    service: Service, images: dict[str, str]
) -> None:
    def listed(user: str, **params: str) -> list[str]:
        answer = service.call("GET", "images", service.token(user), params=params)
        assert answer.status_code == 200, answer.text
        return [item["image_id"] for item in answer.json()["items"]]

    assert listed(ALICE) == [images["alice public"], images["alice private"]]
    assert listed(BOB) == [images["bob public"]]
    public = listed(f"carol-{RUN}", visibility="public", limit="100")
    assert images["alice public"] in public
    assert images["bob public"] in public
    assert images["alice private"] not in public
    assert listed(f"carol-{RUN}", visibility="public", tag=f"dog-{RUN}") == [images["bob public"]]


def test_the_old_user_id_parameter_is_refused(service: Service, images: dict[str, str]) -> None:
    answer = service.call("GET", "images", service.token(ALICE), params={"user_id": ALICE})

    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        "invalid 'user_id': is not accepted: who you are comes from your bearer token"
    )


def test_an_uploader_owns_the_image_whatever_the_request_says(service: Service) -> None:
    answer = service.call("POST", "images/upload", service.token(BOB), json={"user_id": ALICE})
    assert answer.status_code == 400

    image_id = service.call("POST", "images/upload", service.token(BOB)).json()["image_id"]
    try:
        assert service.call("GET", f"images/{image_id}", service.token(BOB)).json()["user_id"] == BOB
        assert service.call("GET", f"images/{image_id}", service.token(ALICE)).status_code == 404
    finally:
        service.call("DELETE", f"images/{image_id}", service.token(BOB))


def test_make_token_prints_a_token_the_service_accepts(service: Service) -> None:
    printed = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "token", f"USER={ALICE}"], capture_output=True, text=True, check=True
    )
    token = printed.stdout.strip().splitlines()[-1]

    assert service.call("GET", "images", token).status_code == 200
