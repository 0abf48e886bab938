"""The local development issuer: bearer tokens for the image service on the local cloud.

    python -m localcloud.dev_issuer init               # once: a key pair (make up runs it)
    python -m localcloud.dev_issuer token alice        # a token for alice (make token USER=alice)

The local cloud has no Cognito, so this stands in for it. ``init`` creates an ES256 key pair
once, under ``.localcloud/dev-issuer/`` (git-ignored; the private key readable by its owner
only), and writes ``issuer.json``: the issuer, the audience and the public JWKS, which
``make up`` hands to the CDK app (``-c dev_issuer=...``) and so to the functions, inline.
``token`` prints a token shaped like an OpenID Connect ID token (``iss``, ``aud``, ``sub``,
``iat``, ``nbf``, ``exp``, ``jti``), valid for an hour, on the last line of its output.

Whoever holds the key can sign in as anybody: it is for the local cloud only, and the
``prod`` stage refuses an inline JWKS. Runs in the project's virtualenv (PyJWT, cryptography).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIRECTORY = ROOT / ".localcloud" / "dev-issuer"
KEY_FILE = "signing-key.pem"
DESCRIPTION_FILE = "issuer.json"

# Not a URL anybody could fetch: the functions get the keys inline, never from the issuer.
ISSUER = "urn:image-service:local-dev-issuer"
AUDIENCE = "image-service"
ALGORITHM = "ES256"
TOKEN_LIFETIME_SECONDS = 3600
# The rule the service applies to user ids (image_api.parameters.UserId), checked here so that a
# mistyped name fails with a clear message instead of a token the API refuses.
_USER_ID = re.compile(r"[A-Za-z0-9._@-]{1,128}")


@dataclass(frozen=True)
class DevIssuer:
    key: ec.EllipticCurvePrivateKey
    issuer: str = ISSUER
    audience: str = AUDIENCE

    @classmethod
    def create_or_load(cls, directory: Path = DEFAULT_DIRECTORY) -> tuple[DevIssuer, bool]:
        """The issuer whose key is in ``directory``, made there first if there is none; (issuer, created)."""
        directory.mkdir(parents=True, exist_ok=True)
        key_path = directory / KEY_FILE
        created = not key_path.exists()
        if created:
            _write_private(key_path, ec.generate_private_key(ec.SECP256R1()))
        issuer = cls.load(directory)
        description = json.dumps(issuer.description(), indent=2) + "\n"
        description_path = directory / DESCRIPTION_FILE
        # Rewritten only when it changes, so that make and CDK see an unchanged file as such.
        if not description_path.exists() or description_path.read_text() != description:
            description_path.write_text(description)
        return issuer, created

    @classmethod
    def load(cls, directory: Path = DEFAULT_DIRECTORY) -> DevIssuer:
        key_path = directory / KEY_FILE
        if not key_path.exists():
            raise SystemExit(
                f"{key_path} does not exist: create the issuer with `make dev-issuer` (make up does)"
            )
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise SystemExit(f"{key_path} is not an EC private key")
        return cls(key)

    @property
    def kid(self) -> str:
        """The public key's RFC 7638 thumbprint: stable for the key, different for any other."""
        jwk = self._public_jwk()
        members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
        digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**self._public_jwk(), "kid": self.kid, "use": "sig", "alg": ALGORITHM}]}

    def description(self) -> dict[str, Any]:
        """What the functions need to verify this issuer's tokens (``issuer.json``)."""
        return {"issuer": self.issuer, "audience": self.audience, "jwks": self.jwks()}

    def claims(self, user: str, *, expires_in: int = TOKEN_LIFETIME_SECONDS) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user,
            "iat": now,
            "nbf": now,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
        }

    def token(self, user: str, *, expires_in: int = TOKEN_LIFETIME_SECONDS) -> str:
        if not _USER_ID.fullmatch(user):
            raise SystemExit(f"not a user id: {user!r} (1-128 of A-Z a-z 0-9 . _ @ -)")
        return self.sign(self.claims(user, expires_in=expires_in))

    def sign(self, claims: dict[str, Any], *, headers: dict[str, Any] | None = None) -> str:
        """Any claims, signed with this issuer's key (tests use it to make tokens the API must refuse)."""
        return jwt.encode(claims, self.key, algorithm=ALGORITHM, headers={"kid": self.kid, **(headers or {})})

    def _public_jwk(self) -> dict[str, Any]:
        return ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Created with owner-only permissions from the start, never readable by others even briefly.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m localcloud.dev_issuer", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIRECTORY, help="where the key pair lives")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init", help="create the key pair once, and issuer.json")
    token = commands.add_parser("token", help="print a token for USER")
    token.add_argument("user")
    token.add_argument("--expires-in", type=int, default=TOKEN_LIFETIME_SECONDS, metavar="SECONDS")
    arguments = parser.parse_args(argv)

    issuer, created = DevIssuer.create_or_load(arguments.dir)
    if created:
        # On stderr: a token is the only thing `token` prints on stdout.
        print(f"dev issuer: created a signing key in {arguments.dir}", file=sys.stderr)
    if arguments.command == "token":
        print(issuer.token(arguments.user, expires_in=arguments.expires_in))


if __name__ == "__main__":
    main()
