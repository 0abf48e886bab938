"""The reconciliation function's collaborators, built on first use and kept for the warm container."""

from __future__ import annotations

from functools import cache

from image_core.clients import image_repository, image_storage
from image_core.clock import utc_now
from image_core.settings import get_settings
from image_reconcile.reconciler import Limits, Reconciler
from image_reconcile.settings import get_reconcile_settings


@cache
def reconciler() -> Reconciler:
    settings, bounds = get_settings(), get_reconcile_settings()
    return Reconciler(
        repository=image_repository(settings),
        storage=image_storage(settings),
        clock=utc_now,
        limits=Limits(
            max_records=bounds.max_items, max_objects=bounds.max_items, max_repairs=bounds.max_repairs
        ),
    )
