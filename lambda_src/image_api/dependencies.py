"""The API functions' collaborators, built on first use and kept for the warm container.

Routes receive the service through Powertools' ``Depends(image_service)`` and the caller
through ``Depends(current_caller)`` (``image_api.resolver``); tests swap the service with
``app.dependency_overrides[image_service]``.

What only some requests need is imported when they first need it, not with the handler:
PyJWT and ``cryptography`` (``image_api.auth``) by the first request that verifies a token,
which a request for the API's own description never does, and the AWS clients by the first
request that reaches the service (``docs/benchmarks.md``, cold start).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from image_api.identity import Caller
from image_api.settings import get_auth_settings
from image_api.use_cases import ImageService
from image_core.environment import AuthMode

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Request

    from image_api.auth import SigningKeys, TokenVerifier
    from image_api.settings import AuthSettings

# Well inside the functions' timeout, so that an issuer that does not answer is a 503, not a timeout.
JWKS_FETCH_TIMEOUT_SECONDS = 3
# How long a fetched JWKS is trusted before it is fetched again: a key the issuer withdraws
# stops verifying within this time. An unknown kid refreshes sooner (once per cooldown).
JWKS_CACHE_SECONDS = 300
JWKS_REFRESH_COOLDOWN_SECONDS = 30
# After a fetch that failed, the issuer is not asked again for this long: requests meanwhile
# are answered 503 at once instead of each waiting for the same failure.
JWKS_FAILURE_COOLDOWN_SECONDS = 10


@cache
def image_service() -> ImageService:
    # Clients are created here, lazily, rather than at import: importing the handler module
    # stays cheap and free of AWS calls, and a container creates each client once.
    from image_core.clients import image_repository, image_storage
    from image_core.settings import get_settings
    from image_core.storage import presigning_client

    settings = get_settings()
    return ImageService(
        repository=image_repository(settings),
        storage=image_storage(settings, presigning=presigning_client(settings.s3_public_endpoint)),
        settings=settings,
    )


@cache
def token_verifier() -> TokenVerifier:
    """Kept for the warm container, and with it the issuer's JWKS once fetched."""
    from image_api.auth import TokenVerifier

    settings = get_auth_settings()
    # AuthSettings guarantees these in jwt mode, the only mode that verifies tokens.
    assert settings.issuer is not None
    return TokenVerifier(
        issuer=settings.issuer,
        audiences=settings.audiences,
        keys=_signing_keys(settings),
        identity_claim=settings.identity_claim,
        leeway_seconds=settings.leeway_seconds,
    )


def _signing_keys(settings: AuthSettings) -> SigningKeys:
    from image_api.auth import CoolingDownJwksClient, InlineJwks, JwksEndpoint

    if settings.jwks is not None:
        return InlineJwks(settings.jwks)
    assert settings.jwks_url is not None
    return JwksEndpoint(
        CoolingDownJwksClient(
            settings.jwks_url,
            failure_cooldown=JWKS_FAILURE_COOLDOWN_SECONDS,
            # The whole set is cached (for the lifespan), not single keys: an LRU of keys would
            # keep trusting a withdrawn key for as long as the container lives.
            cache_jwk_set=True,
            lifespan=JWKS_CACHE_SECONDS,
            cache_keys=False,
            timeout=JWKS_FETCH_TIMEOUT_SECONDS,
            cooldown_duration=JWKS_REFRESH_COOLDOWN_SECONDS,
        )
    )


def identify_caller(request: Request) -> Caller:
    """Who the request acts for: the bearer token's subject, or with ``AUTH_MODE=none`` whom
    the ``user_id`` query parameter names. Raises ``Unauthorized`` without a valid token.

    Every request runs it once, before its route (``image_api.resolver.request_caller``).
    """
    user_id = (request.query_parameters or {}).get("user_id")
    if get_auth_settings().mode is AuthMode.NONE:
        return Caller.named(user_id)
    return token_verifier().caller_from(request.headers.get("Authorization")).acting_as(user_id)
