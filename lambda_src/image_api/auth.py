"""Bearer tokens: who is calling, proven by a token the configured issuer signed.

Identity is verified here, in the functions, rather than by an API Gateway authorizer: the
local cloud runs no authorizers and has no Cognito, so a check that only held in AWS would
leave the local cloud and its tests blind. Any OpenID Connect or OAuth issuer works: its
tokens must be signed with RS256 or ES256 by a key of its JWKS, name it as ``iss``, name
this service as audience, carry ``exp``, ``iat`` and the identity claim (``sub`` unless
configured otherwise), and be within their validity (with a small leeway).

Needs PyJWT (with ``cryptography``), which only the API functions bundle.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Final, Protocol

import jwt
from jwt.types import Options
from pydantic import TypeAdapter, ValidationError

from image_api.identity import Caller
from image_api.parameters import UserId
from image_core.errors import Unauthorized, Unavailable

# Asymmetric only: with an HMAC algorithm allowed, a token "signed" with the issuer's public
# key as the shared secret would verify. "none" is never in the list.
ALLOWED_ALGORITHMS: Final = ("RS256", "ES256")


class Refusal(StrEnum):
    """What a caller is told when its request is not authenticated (the details go to the log)."""

    MISSING = "sign in: send 'Authorization: Bearer <token>'"
    MALFORMED = "the Authorization header must be 'Bearer <token>'"
    INVALID = "the bearer token is not valid"
    EXPIRED = "the bearer token has expired"


_user_id = TypeAdapter(UserId)


# --- the issuer's keys ---------------------------------------------------------------------


class SigningKeys(Protocol):
    def key_for(self, kid: str) -> jwt.PyJWK:
        """The issuer's key with this id; ``Unauthorized`` if there is none, ``Unavailable`` if unknowable."""
        ...


class InlineJwks:
    """A JWKS given in the settings (the local development issuer, whose keys never change)."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = {key.key_id: key for key in _signing_keys(jwt.PyJWKSet.from_dict(dict(jwks)))}

    def key_for(self, kid: str) -> jwt.PyJWK:
        try:
            return self._keys[kid]
        except KeyError:
            raise Unauthorized(Refusal.INVALID, reason=f"no key with kid {kid!r}") from None


class CoolingDownJwksClient(jwt.PyJWKClient):
    """PyJWT's JWKS client, which also holds back after a fetch that failed.

    PyJWT's cooldown between refreshes starts only with a *successful* fetch: while the
    issuer is down (or its set empty and expired), every request would fetch again and wait
    up to the timeout for its failure. Here a failed fetch is not tried again for
    ``failure_cooldown`` seconds; meanwhile, a request that needs one fails at once (keys
    already cached keep verifying, since they need no fetch).
    """

    def __init__(self, uri: str, *, failure_cooldown: float, **options: Any) -> None:
        super().__init__(uri, **options)
        self._failure_cooldown = failure_cooldown
        self._failed_at: float | None = None

    def fetch_data(self) -> Any:
        if self._failed_at is not None and time.monotonic() - self._failed_at < self._failure_cooldown:
            raise jwt.PyJWKClientConnectionError("the JWKS fetch failed moments ago; not asked again yet")
        try:
            data = super().fetch_data()
        except (jwt.PyJWTError, ValueError):
            # Unreachable, timed out, not JSON (a ValueError PyJWT lets through), not a JWKS.
            self._failed_at = time.monotonic()
            raise
        self._failed_at = None
        return data


class JwksEndpoint:
    """The issuer's JWKS, fetched from its URL by PyJWT's client and kept by the warm container.

    The set is cached for ``PyJWKClient``'s lifespan; a token naming a key the cached set lacks
    makes the client fetch the set again (at most once per cooldown, so that tokens with made-up
    key ids cannot make this function hammer the issuer; with ``CoolingDownJwksClient``, failed
    fetches count too). A set that cannot be fetched or read is the service's problem,
    ``Unavailable``, not the caller's.
    """

    def __init__(self, client: jwt.PyJWKClient) -> None:
        self._client = client

    def key_for(self, kid: str) -> jwt.PyJWK:
        try:
            # Served from the cache while it is fresh; failures here are the issuer's side.
            self._client.get_signing_keys()
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, ValueError) as error:
            raise Unavailable("cannot verify tokens right now; retry later") from error
        try:
            return self._client.get_signing_key(kid)
        except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError, ValueError) as error:
            # Refreshing the set for an unknown kid failed, or brought back no usable set.
            raise Unavailable("cannot verify tokens right now; retry later") from error
        except jwt.PyJWKClientError as error:  # no key with this kid, even after a refresh
            raise Unauthorized(Refusal.INVALID, reason=str(error)) from error


def _signing_keys(jwk_set: jwt.PyJWKSet) -> list[jwt.PyJWK]:
    # As PyJWKClient does: keys meant for signatures (or for anything), with an id to find them by.
    return [key for key in jwk_set.keys if key.public_key_use in ("sig", None) and key.key_id]


# --- verification --------------------------------------------------------------------------


class TokenVerifier:
    """Turns an ``Authorization`` header into a verified ``Caller``, or refuses it."""

    def __init__(
        self,
        *,
        issuer: str,
        audiences: Sequence[str],
        keys: SigningKeys,
        identity_claim: str = "sub",
        leeway_seconds: int = 30,
    ) -> None:
        self._issuer = issuer
        self._audiences = frozenset(audiences)
        self._keys = keys
        self._identity_claim = identity_claim
        self._leeway_seconds = leeway_seconds

    def caller_from(self, authorization: str | None) -> Caller:
        token = _bearer_token(authorization)
        key = self._keys.key_for(_key_id(token))
        options: Options = {
            "require": ["exp", "iat", "iss", self._identity_claim],
            # Checked below: Cognito's access tokens name their audience in another claim.
            "verify_aud": False,
            "enforce_minimum_key_length": True,
        }
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALLOWED_ALGORITHMS),
                issuer=self._issuer,
                leeway=self._leeway_seconds,
                options=options,
            )
        except jwt.ExpiredSignatureError as error:
            raise Unauthorized(Refusal.EXPIRED, reason=str(error)) from error
        except jwt.PyJWTError as error:
            raise Unauthorized(Refusal.INVALID, reason=f"{type(error).__name__}: {error}") from error
        self._check_audience(claims)
        return Caller.signed_in(self._identity(claims))

    def _check_audience(self, claims: Mapping[str, Any]) -> None:
        """The token must be meant for this service: ``aud`` names it, or, in a Cognito access
        token (which has no ``aud``), ``client_id`` names its app client with ``token_use=access``.
        """
        if "aud" in claims:
            audience = claims["aud"]
            named = audience if isinstance(audience, list) else [audience]
            if not any(isinstance(name, str) and name in self._audiences for name in named):
                raise Unauthorized(Refusal.INVALID, reason=f"audience {audience!r} is not this service")
            return
        client_id = claims.get("client_id")
        is_access_token = claims.get("token_use") == "access"
        if is_access_token and isinstance(client_id, str) and client_id in self._audiences:
            return
        raise Unauthorized(Refusal.INVALID, reason="no aud, and not an access token for this app client")

    def _identity(self, claims: Mapping[str, Any]) -> str:
        value = claims[self._identity_claim]
        try:
            # The id goes into keys and listings: it must follow the same rules as any user id.
            return _user_id.validate_python(value, strict=True)
        except ValidationError:
            reason = f"claim {self._identity_claim!r} is not a usable user id"
            raise Unauthorized(Refusal.INVALID, reason=reason) from None


def _bearer_token(authorization: str | None) -> str:
    if authorization is None or not authorization.strip():
        raise Unauthorized(Refusal.MISSING, reason="no Authorization header", token_presented=False)
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    # The scheme is case-insensitive (RFC 7235); the token is one word.
    if scheme.lower() != "bearer" or not token or " " in token:
        reason = f"Authorization scheme {scheme[:16]!r} or its token malformed"
        raise Unauthorized(Refusal.MALFORMED, reason=reason)
    return token


def _key_id(token: str) -> str:
    """The ``kid`` of an acceptable header; read unverified, only to pick the key that must verify it.

    Refused before any key is looked up, so that junk tokens never make the function fetch keys.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise Unauthorized(Refusal.INVALID, reason=f"unreadable token: {error}") from error
    algorithm, kid = header.get("alg"), header.get("kid")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise Unauthorized(Refusal.INVALID, reason=f"algorithm {algorithm!r} is not accepted")
    if not isinstance(kid, str) or not kid:
        raise Unauthorized(Refusal.INVALID, reason="no kid in the token header")
    return kid
