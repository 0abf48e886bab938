"""The API functions' own settings: whose tokens they accept, and which browsers may read them.

Parsed from the environment like ``image_core.settings``, with the names of
``image_core.environment``; only the API functions read these.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Json, NonNegativeInt, model_validator

from image_core import environment as env
from image_core.environment import AuthMode


class CorsSettings(BaseModel):
    """The browser origins the answers carry CORS headers for.

    Read when a function's resolver is built, at import, so it needs no other variable.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    # Comma-separated, as the API construct sets it; empty: no CORS headers.
    allowed_origins: str = Field("", validation_alias=env.CORS_ALLOWED_ORIGINS)


def get_cors_settings() -> CorsSettings:
    return CorsSettings.model_validate(dict(os.environ))


def _list_from_comma_separated(value: object) -> object:
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


def _empty_as_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


class AuthSettings(BaseModel):
    """Whose tokens the API accepts; only the API functions read these.

    With ``AUTH_MODE=jwt`` (also when unset: the service fails closed) tokens must come from
    ``AUTH_ISSUER``, name one of ``AUTH_AUDIENCE``, and be signed by a key of the JWKS at
    ``AUTH_JWKS_URL`` or of the JWKS document in ``AUTH_JWKS`` (the local development issuer).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    mode: AuthMode = Field(AuthMode.JWT, validation_alias=env.AUTH_MODE)
    issuer: Annotated[str | None, BeforeValidator(_empty_as_none)] = Field(
        None, validation_alias=env.AUTH_ISSUER
    )
    audiences: Annotated[tuple[str, ...], BeforeValidator(_list_from_comma_separated)] = Field(
        (), validation_alias=env.AUTH_AUDIENCE
    )
    jwks_url: Annotated[str | None, BeforeValidator(_empty_as_none)] = Field(
        None, validation_alias=env.AUTH_JWKS_URL
    )
    jwks: Annotated[Json[dict[str, Any]] | None, BeforeValidator(_empty_as_none)] = Field(
        None, validation_alias=env.AUTH_JWKS
    )
    # The claim naming the caller; "sub" is stable and unique per issuer (e-mail addresses change).
    identity_claim: str = Field("sub", validation_alias=env.AUTH_IDENTITY_CLAIM, min_length=1)
    # Tolerated clock difference between the issuer and this function for exp, nbf and iat.
    leeway_seconds: NonNegativeInt = Field(30, validation_alias=env.AUTH_LEEWAY_SECONDS, le=300)

    @model_validator(mode="after")
    def _complete_for_jwt(self) -> Self:
        if self.mode is AuthMode.NONE:
            return self
        if self.issuer is None or not self.audiences:
            raise ValueError("AUTH_MODE=jwt needs AUTH_ISSUER and AUTH_AUDIENCE")
        if (self.jwks_url is None) == (self.jwks is None):
            raise ValueError("AUTH_MODE=jwt needs exactly one of AUTH_JWKS_URL and AUTH_JWKS")
        return self


@cache
def get_auth_settings() -> AuthSettings:
    """The API functions' token settings, parsed once per warm container like ``get_settings``."""
    return AuthSettings.model_validate(dict(os.environ))
