"""An identity provider for the tests: signing keys made in this test run, tokens good and forged.

The functions under test trust this issuer's JWKS (``conftest`` hands it to them inline, the
way the local development issuer's reaches the deployed functions). Forgeries PyJWT refuses
to make (``alg: none``, HS256 keyed with the public key) are assembled by hand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://issuer.example.test/"
AUDIENCE = "image-service-test"
LIFETIME_SECONDS = 3600

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str  # "ES256" or "RS256"
    private_key: PrivateKey

    @classmethod
    def generate(cls, algorithm: str, kid: str) -> SigningKey:
        if algorithm == "ES256":
            return cls(kid, algorithm, ec.generate_private_key(ec.SECP256R1()))
        return cls(kid, algorithm, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class Issuer:
    """Issues tokens the way an OpenID Connect provider does (ES256 by default, RS256 too)."""

    def __init__(self) -> None:
        self.ec_key = SigningKey.generate("ES256", "test-ec-1")
        self.rsa_key = SigningKey.generate("RS256", "test-rsa-1")

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.ec_key.public_jwk(), self.rsa_key.public_jwk()]}

    def claims(self, user: str = "alice", **changes: Any) -> dict[str, Any]:
        """An ID-token-like claim set for ``user``; a change to None removes that claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": user,
            "iat": now,
            "exp": now + LIFETIME_SECONDS,
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def token(
        self,
        user: str = "alice",
        *,
        key: SigningKey | None = None,
        kid: str | None = None,
        **changes: Any,
    ) -> str:
        """A token signed with ``key`` (this issuer's ES256 key by default), its header naming ``kid``."""
        key = key or self.ec_key
        return jwt.encode(
            self.claims(user, **changes),
            key.private_key,
            algorithm=key.algorithm,
            headers={"kid": kid or key.kid},
        )

    def cognito_access_token(self, user: str = "alice", *, client_id: str = AUDIENCE, **changes: Any) -> str:
        """The shape of a Cognito access token: no ``aud``; the app client in ``client_id``."""
        return self.token(
            user,
            aud=None,
            client_id=client_id,
            token_use="access",
            scope="aws.cognito.signin.user.admin",
            username=user,
            **changes,
        )


@cache
def issuer() -> Issuer:
    """One issuer per test run: key generation (RSA especially) is the slow part."""
    return Issuer()


# --- forgeries built by hand -------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unsigned_token(claims: dict[str, Any], kid: str) -> str:
    """``alg: none``: a token anybody can write, with an empty signature."""
    return f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_segment(claims)}."


def hs256_keyed_with_public_key(claims: dict[str, Any], key: SigningKey) -> str:
    """The algorithm-confusion forgery: HMAC-SHA256 with the issuer's *public* key as the secret.

    A verifier that let the token choose the algorithm would use the public key it holds as
    the HMAC secret, and this would verify.
    """
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}.{_segment(claims)}"
    signature = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def with_claims_replaced(token: str, **changes: Any) -> str:
    """The token with its payload rewritten and its original signature kept (a bad signature)."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{_segment({**claims, **changes})}.{signature}"
