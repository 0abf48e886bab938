"""The functions' configuration: the environment set by the CDK constructs, parsed once.

The variable names are defined in ``image_core.environment`` (which the constructs import
too) and explained in ``docs/design-brief.md``. A missing or malformed variable fails the
first request loudly instead of surfacing later as a confusing AWS error. The API functions
read their token and CORS settings in ``image_api.settings``.
"""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from image_core import environment as env
from image_core.environment import AuthMode
from image_core.schema import DEFAULT_LISTING_SHARDS, ListingLayout


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    table_name: str = Field(validation_alias=env.TABLE_NAME, min_length=1)
    bucket_name: str = Field(validation_alias=env.BUCKET_NAME, min_length=1)
    # The endpoint that clients outside AWS reach S3 at, e.g. the local cloud on the host.
    s3_public_endpoint: str | None = Field(default=None, validation_alias=env.S3_PUBLIC_ENDPOINT)
    upload_url_expires_seconds: PositiveInt = Field(900, validation_alias=env.UPLOAD_URL_EXPIRES_SECONDS)
    download_url_expires_seconds: PositiveInt = Field(300, validation_alias=env.DOWNLOAD_URL_EXPIRES_SECONDS)
    max_upload_bytes: PositiveInt = Field(20 * 1024 * 1024, validation_alias=env.MAX_UPLOAD_BYTES)
    # How long after its upload window a pending record lives on: longer than processing may
    # take to get to a late upload (retries included), so no upload outlives its record.
    pending_grace_seconds: PositiveInt = Field(2 * 3600, validation_alias=env.PENDING_GRACE_SECONDS)
    # Width x height x frames an upload may declare; checked before anything is decoded.
    max_image_pixels: PositiveInt = Field(50_000_000, validation_alias=env.MAX_IMAGE_PIXELS)
    # Test stages only: processing fails on purpose for images carrying this tag.
    processing_fault_tag: str | None = Field(default=None, validation_alias=env.PROCESSING_FAULT_TAG)

    # The listing layout (schema.ListingLayout): the shards written and read, and, from the auth
    # mode, whether the all-users indexes are written. Every function of a stage gets the same.
    listing_shards: PositiveInt = Field(DEFAULT_LISTING_SHARDS, validation_alias=env.LISTING_SHARDS)
    listing_read_shards: PositiveInt | None = Field(default=None, validation_alias=env.LISTING_READ_SHARDS)
    auth_mode: AuthMode = Field(AuthMode.JWT, validation_alias=env.AUTH_MODE)

    @field_validator("s3_public_endpoint", "processing_fault_tag")
    @classmethod
    def _empty_means_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _layout_is_valid(self) -> Settings:
        self.listing_layout  # noqa: B018 - raises ValueError (a validation error) when it is not
        return self

    @property
    def listing_layout(self) -> ListingLayout:
        return ListingLayout(
            shards=self.listing_shards,
            read_shards=self.listing_read_shards or self.listing_shards,
            all_users_indexes=self.auth_mode is AuthMode.NONE,
        )


class TelemetrySettings(BaseModel):
    """What every function reads, the OpenAPI document's too (which has no table or bucket)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # Powertools' own switch, read here too: an untraced function never imports the X-Ray SDK.
    tracing_disabled: bool = Field(default=False, validation_alias=env.POWERTOOLS_TRACE_DISABLED)

    @property
    def tracing(self) -> bool:
        return not self.tracing_disabled


@cache
def get_telemetry_settings() -> TelemetrySettings:
    return TelemetrySettings.model_validate(dict(os.environ))


@cache
def get_settings() -> Settings:
    """The settings of this warm container; the environment does not change while it lives."""
    return Settings.model_validate(dict(os.environ))
