"""The functions' configuration: the environment set by the CDK constructs, parsed once.

The variable names are the contract in ``docs/design-brief.md``. A missing or malformed
variable fails the first request loudly instead of surfacing later as a confusing AWS error.
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Json,
    NonNegativeInt,
    PositiveInt,
    field_validator,
    model_validator,
)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    table_name: str = Field(validation_alias="TABLE_NAME", min_length=1)
    bucket_name: str = Field(validation_alias="BUCKET_NAME", min_length=1)
    # The endpoint that clients outside AWS reach S3 at, e.g. the local cloud on the host.
    s3_public_endpoint: str | None = Field(default=None, validation_alias="S3_PUBLIC_ENDPOINT")
    upload_url_expires_seconds: PositiveInt = Field(900, validation_alias="UPLOAD_URL_EXPIRES_SECONDS")
    download_url_expires_seconds: PositiveInt = Field(300, validation_alias="DOWNLOAD_URL_EXPIRES_SECONDS")
    max_upload_bytes: PositiveInt = Field(20 * 1024 * 1024, validation_alias="MAX_UPLOAD_BYTES")
    # How long after its upload window a pending record lives on: longer than processing may
    # take to get to a late upload (retries included), so no upload outlives its record.
    pending_grace_seconds: PositiveInt = Field(2 * 3600, validation_alias="PENDING_GRACE_SECONDS")
    # Width x height x frames an upload may declare; checked before anything is decoded.
    max_image_pixels: PositiveInt = Field(50_000_000, validation_alias="MAX_IMAGE_PIXELS")
    # Test stages only: processing fails on purpose for images carrying this tag.
    processing_fault_tag: str | None = Field(default=None, validation_alias="PROCESSING_FAULT_TAG")

    @field_validator("s3_public_endpoint", "processing_fault_tag")
    @classmethod
    def _empty_means_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


@cache
def get_settings() -> Settings:
    """The settings of this warm container; the environment does not change while it lives."""
    return Settings.model_validate(dict(os.environ))


class AuthMode(StrEnum):
    # Every request must carry a bearer token that the configured issuer signed.
    JWT = "jwt"
    # Nothing is verified: the ``user_id`` parameter names the actor (demos only; never prod).
    NONE = "none"


def _comma_separated(value: object) -> object:
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

    mode: AuthMode = Field(AuthMode.JWT, validation_alias="AUTH_MODE")
    issuer: Annotated[str | None, BeforeValidator(_empty_as_none)] = Field(
        None, validation_alias="AUTH_ISSUER"
    )
    audiences: Annotated[tuple[str, ...], BeforeValidator(_comma_separated)] = Field(
        (), validation_alias="AUTH_AUDIENCE"
    )
    jwks_url: Annotated[str | None, BeforeValidator(_empty_as_none)] = Field(
        None, validation_alias="AUTH_JWKS_URL"
    )
    jwks: Annotated[Json[dict[str, Any]] | None, BeforeValidator(_empty_as_none)] = Field(
        None, validation_alias="AUTH_JWKS"
    )
    # The claim naming the caller; "sub" is stable and unique per issuer (e-mail addresses change).
    identity_claim: str = Field("sub", validation_alias="AUTH_IDENTITY_CLAIM", min_length=1)
    # Tolerated clock difference between the issuer and this function for exp, nbf and iat.
    leeway_seconds: NonNegativeInt = Field(30, validation_alias="AUTH_LEEWAY_SECONDS", le=300)

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
