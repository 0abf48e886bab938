"""The reconciliation function's configuration (set by ``stacks/reconciliation.py``), and what an
invocation may ask for."""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt

from image_core import environment as env


class ReconcileSettings(BaseModel):
    """Reconciliation's own bounds; the table and the bucket are ``image_core.settings``'."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # Nothing younger is touched: longer than an upload can take to be processed (retries and
    # the event's maximum age included). An invocation may ask for more, never for less.
    min_age_seconds: NonNegativeInt = Field(6 * 3600, validation_alias=env.RECONCILE_MIN_AGE_SECONDS)
    max_repairs: PositiveInt = Field(500, validation_alias=env.RECONCILE_MAX_REPAIRS)
    max_items: PositiveInt = Field(100_000, validation_alias=env.RECONCILE_MAX_ITEMS)


@cache
def get_reconcile_settings() -> ReconcileSettings:
    return ReconcileSettings.model_validate(dict(os.environ))


class ResumeRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    records_after: dict[str, str] | None = None
    objects_after: dict[str, str] = Field(default_factory=dict)


class ReconcileRequest(BaseModel):
    """The invocation's event: ``{}`` reports; ``{"repair": true}`` (the schedule's) also repairs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    repair: bool = False
    min_age_seconds: NonNegativeInt | None = None
    # A report's "resume", to carry on where a run that stopped early left off.
    resume: ResumeRequest | None = None
