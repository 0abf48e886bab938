"""The functions' environment: every variable the CDK constructs set and the functions read.

Named once, here: the constructs (``stacks/``) import these names the way they import
``schema``, and the functions read them only through their typed settings
(``image_core.settings``, ``image_api.settings``). Standard library only, so that the CDK app
imports it without any of the functions' dependencies. What each variable means is in
``docs/design-brief.md``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

# --- every function ---------------------------------------------------------------------------
TABLE_NAME: Final = "TABLE_NAME"
BUCKET_NAME: Final = "BUCKET_NAME"
# Read by Powertools itself (the logger's service name and level).
POWERTOOLS_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_LOG_LEVEL: Final = "POWERTOOLS_LOG_LEVEL"
# Read by Powertools' metrics: the CloudWatch namespace of the functions' EMF lines.
POWERTOOLS_METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"
# Read by Powertools' tracer, and by image_core.telemetry: "true" where the function is not traced.
POWERTOOLS_TRACE_DISABLED: Final = "POWERTOOLS_TRACE_DISABLED"

# --- every function that reads or writes the table -------------------------------------------
# The stage's schema.ListingLayout: how many shards new items of the indexes spanning users go
# to, and how many a listing reads (at least every count ever written with). AUTH_MODE (below)
# says whether the all-users indexes are written: only where they are read (auth_mode=none).
LISTING_SHARDS: Final = "LISTING_SHARDS"
LISTING_READ_SHARDS: Final = "LISTING_READ_SHARDS"

# --- the API functions ------------------------------------------------------------------------
S3_PUBLIC_ENDPOINT: Final = "S3_PUBLIC_ENDPOINT"
UPLOAD_URL_EXPIRES_SECONDS: Final = "UPLOAD_URL_EXPIRES_SECONDS"
DOWNLOAD_URL_EXPIRES_SECONDS: Final = "DOWNLOAD_URL_EXPIRES_SECONDS"
MAX_UPLOAD_BYTES: Final = "MAX_UPLOAD_BYTES"
PENDING_GRACE_SECONDS: Final = "PENDING_GRACE_SECONDS"
CORS_ALLOWED_ORIGINS: Final = "CORS_ALLOWED_ORIGINS"
AUTH_MODE: Final = "AUTH_MODE"
AUTH_ISSUER: Final = "AUTH_ISSUER"
AUTH_AUDIENCE: Final = "AUTH_AUDIENCE"
AUTH_JWKS_URL: Final = "AUTH_JWKS_URL"
AUTH_JWKS: Final = "AUTH_JWKS"
AUTH_IDENTITY_CLAIM: Final = "AUTH_IDENTITY_CLAIM"
AUTH_LEEWAY_SECONDS: Final = "AUTH_LEEWAY_SECONDS"

# --- the processing functions -----------------------------------------------------------------
MAX_IMAGE_PIXELS: Final = "MAX_IMAGE_PIXELS"
PROCESSING_FAULT_TAG: Final = "PROCESSING_FAULT_TAG"

# --- the reconciliation function --------------------------------------------------------------
RECONCILE_MIN_AGE_SECONDS: Final = "RECONCILE_MIN_AGE_SECONDS"
RECONCILE_MAX_REPAIRS: Final = "RECONCILE_MAX_REPAIRS"
RECONCILE_MAX_ITEMS: Final = "RECONCILE_MAX_ITEMS"


class AuthMode(StrEnum):
    """How the API functions know who calls (``AUTH_MODE``)."""

    # Every request must carry a bearer token of the configured issuer, verified by the functions.
    JWT = "jwt"
    # Nothing is verified: the ``user_id`` parameter names the actor. For demos; never in prod.
    NONE = "none"
