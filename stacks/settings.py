"""What differs between the stages, as typed values.

``app.py`` picks one stage with ``-c stage=<name>`` and hands the resulting ``StageSettings``
to the stack, which passes plain values on to its constructs. Nothing below the app reads
CDK context, so a construct can be built in a test with any settings at all.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aws_cdk import RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from image_core.environment import AuthMode
from image_core.schema import DEFAULT_LISTING_SHARDS, ListingLayout

ALL_ORIGINS: tuple[str, ...] = ("*",)
MIB = 1024 * 1024
# Stages that exist to be tested, and so may carry test-only settings.
TEST_STAGES = frozenset({"local"})
# Images tagged so fail processing on purpose in the local stage (the failure path's tests).
LOCAL_FAULT_TAG = "inject-processing-failure"
# Lambda allows 4 KB of environment per function; an inline JWKS must leave room for the rest.
MAX_INLINE_JWKS_BYTES = 2048


@dataclass(frozen=True, kw_only=True)
class TokenIssuer:
    """An OpenID Connect / OAuth issuer whose tokens the API accepts.

    ``issuer`` is the tokens' ``iss``; ``audiences`` the ids a token must name (``aud``, or a
    Cognito access token's ``client_id``); the keys are at ``jwks_url``, or inline in ``jwks``
    (the local development issuer's, whose private key never leaves the developer's machine).
    The values may be CDK tokens (the stack's own Cognito user pool).
    """

    issuer: str
    audiences: tuple[str, ...]
    jwks_url: str = ""
    jwks: str = ""
    identity_claim: str = "sub"

    def __post_init__(self) -> None:
        if not self.issuer or not self.audiences or not all(self.audiences):
            raise ValueError("a token issuer needs its issuer (iss) and at least one audience")
        if bool(self.jwks_url) == bool(self.jwks):
            raise ValueError("a token issuer needs exactly one of a JWKS URL and an inline JWKS")
        if self.jwks:
            if len(self.jwks.encode()) > MAX_INLINE_JWKS_BYTES:
                raise ValueError(f"an inline JWKS must stay under {MAX_INLINE_JWKS_BYTES} bytes")
            keys = json.loads(self.jwks).get("keys")
            if not isinstance(keys, list) or not keys:
                raise ValueError("an inline JWKS must be a JSON object with a non-empty 'keys' list")


@dataclass(frozen=True, kw_only=True)
class Authentication:
    """Who may call the API: ``token_issuer``'s users, or, when None, those of a Cognito user
    pool the stack creates; with ``mode`` NONE, anybody (see ``AuthMode``)."""

    mode: AuthMode = AuthMode.JWT
    token_issuer: TokenIssuer | None = None
    # The web gallery's client id at ``token_issuer`` (authorization code + PKCE); None: its
    # first audience. Its ID tokens name it in ``aud``, so it must be one of the audiences.
    gallery_client_id: str | None = None

    def __post_init__(self) -> None:
        if self.gallery_client_id is not None:
            if self.token_issuer is None:
                raise ValueError("a gallery client id is for an external token issuer (auth_issuer)")
            if self.gallery_client_id not in self.token_issuer.audiences:
                raise ValueError(
                    f"the gallery's client id {self.gallery_client_id!r} must be one of the issuer's "
                    "audiences (auth_audience), or the API would refuse the gallery's tokens"
                )

    @property
    def gallery_client(self) -> str | None:
        """The client id the gallery signs in with at an external issuer."""
        if self.token_issuer is None:
            return None
        return self.gallery_client_id or self.token_issuer.audiences[0]

    @property
    def creates_user_pool(self) -> bool:
        return self.mode is AuthMode.JWT and self.token_issuer is None


@dataclass(frozen=True, kw_only=True)
class FunctionSizing:
    memory_mb: int
    timeout_seconds: int


@dataclass(frozen=True, kw_only=True)
class WebAcl:
    """A WAF web ACL on the API stage: AWS's managed common rule set, and a rate limit per client IP."""

    # Requests one client IP may send in any 5 minutes (WAF's window) before it is blocked
    # until its rate falls again. Well above what one person's browser or script sends.
    requests_per_ip_per_5_minutes: int = 2000

    def __post_init__(self) -> None:
        # WAF's own bounds for a rate-based rule's limit.
        if not 10 <= self.requests_per_ip_per_5_minutes <= 2_000_000_000:
            raise ValueError("a WAF rate limit is between 10 and 2,000,000,000 requests per 5 minutes")


@dataclass(frozen=True, kw_only=True)
class AlarmThresholds:
    """When the alarms of ``stacks/monitoring.py`` go off (README, Operations, says what each means)."""

    # Share of the API's requests answered 5xx in 5 minutes, in percent, once at least
    # api_min_requests came (a single 500 among three requests is not an outage).
    api_5xx_percent: float = 1.0
    api_min_requests: int = 20
    # 99th percentile of API Gateway's latency over 5 minutes, three periods in a row.
    api_p99_latency_ms: int = 3000
    # Failed or throttled invocations of any one function in 5 minutes.
    function_errors: int = 1
    function_throttles: int = 1
    # Uploads that failed for good (the failure destination's invocations) in 5 minutes.
    processing_failures: int = 1
    # Throttled DynamoDB requests in 5 minutes.
    dynamodb_throttles: int = 1


@dataclass(frozen=True, kw_only=True)
class StageSettings:
    name: str
    removal_policy: RemovalPolicy
    point_in_time_recovery: bool
    lambda_architecture: lambda_.Architecture
    # Browser origins allowed to call the API and to upload to the bucket directly (the web
    # gallery's own origin is added by the stack, where it deploys one).
    cors_allowed_origins: tuple[str, ...]
    api_throttling_rate_limit: float  # steady requests per second, per stage
    api_throttling_burst_limit: int
    # Endpoint the API signs presigned URLs against; "" means the AWS default.
    s3_public_endpoint: str
    log_retention: logs.RetentionDays
    log_level: str
    upload_url_expires_seconds: int = 900
    download_url_expires_seconds: int = 300
    max_upload_bytes: int = 20 * MIB
    # Width x height x frames an upload may have; checked from its header before decoding.
    max_image_pixels: int = 50_000_000
    # How long a pending record outlives its upload window (then it expires with the table's TTL).
    pending_grace_seconds: int = 2 * 3600
    # S3 delivers uploads to processing asynchronously: Lambda retries a failed event this
    # often and drops it (to the dead-letter queue) once it is older than the maximum age.
    processing_retry_attempts: int = 2
    processing_max_event_age_seconds: int = 3600
    # Uploads still tagged unverified this long after they were stored are deleted by S3: the
    # backstop for bytes that processing never finished with.
    unverified_upload_expiration_days: int = 1
    # Test stages only: processing fails on purpose for images with this tag.
    processing_fault_tag: str | None = None
    api_function: FunctionSizing = FunctionSizing(memory_mb=256, timeout_seconds=10)
    # Decoding up to the pixel limit (50 MP as RGBA is 200 MB) needs memory; Lambda's CPU
    # share grows with it.
    processing_function: FunctionSizing = FunctionSizing(memory_mb=1536, timeout_seconds=60)
    failure_function: FunctionSizing = FunctionSizing(memory_mb=256, timeout_seconds=30)
    # Concurrent executions reserved for (and so the most ever taken by) the processing
    # function, or None for no reservation. A cap keeps a flood of uploads from taking the
    # account's whole concurrency; off by default because a new account's quota (often 10)
    # leaves nothing to reserve: Lambda keeps 10 unreserved. Uploads beyond the cap wait in
    # Lambda's asynchronous queue (up to processing_max_event_age_seconds), they are not lost.
    processing_reserved_concurrency: int | None = None
    authentication: Authentication = field(default_factory=Authentication)
    # Deployed to AWS, where anybody may reach it: tokens must be verified, by an issuer whose
    # keys are not on a laptop. Only a stage that never leaves the machine (local) may do without.
    requires_verified_identity: bool = True
    # The local cloud has no Cognito: such a stage needs a token issuer of its own.
    has_cognito: bool = True
    # Active X-Ray tracing of the API stage and every function. The local cloud has no X-Ray.
    tracing: bool = True
    # API Gateway access logs (one JSON line per request, kept log_retention) and execution logs
    # of errors. Both need the account's API Gateway CloudWatch role (one per account and region).
    api_access_logs: bool = True
    # Whether this stack creates that role (AWS::ApiGateway::Account). A fresh account has none;
    # where an account baseline owns it, -c api_gateway_cloudwatch_role=false leaves it alone.
    api_gateway_cloudwatch_role: bool = True
    # S3 server access logs of the image bucket, to a log bucket of their own.
    bucket_access_logs: bool = False
    # The web gallery (stacks/gallery.py): its site in a private bucket behind CloudFront. The
    # local cloud has no CloudFront; there `make up` serves the site itself.
    web_gallery: bool = True
    # A WAF web ACL on the API stage, or None for none.
    web_acl: WebAcl | None = None
    # Alarms go to an SNS topic; this address is subscribed to it when given (it must confirm).
    alarm_email: str | None = None
    alarm_thresholds: AlarmThresholds = AlarmThresholds()
    # Reconciliation touches nothing younger: longer than any upload can take to be processed.
    reconcile_min_age_seconds: int = 6 * 3600
    # How often it runs on its own (report and repair), or None: only when invoked.
    reconcile_every_hours: int | None = 6
    reconcile_function: FunctionSizing = FunctionSizing(memory_mb=512, timeout_seconds=900)
    # The shards of the indexes spanning users (every user's public images, by tag; with auth
    # off, everyone's): new items are spread over listing_shards, a listing reads
    # listing_read_shards (None: as many), which must stay at least every count ever deployed
    # with, or older items drop out of listings (README, Changing the listing shards).
    listing_shards: int = DEFAULT_LISTING_SHARDS
    listing_read_shards: int | None = None

    def __post_init__(self) -> None:
        if not self.cors_allowed_origins:
            raise ValueError(f"stage {self.name!r}: cors_allowed_origins must name at least one origin")
        if "*" in self.cors_allowed_origins and len(self.cors_allowed_origins) > 1:
            raise ValueError(f"stage {self.name!r}: '*' must be the only CORS origin when used")
        if self.processing_fault_tag and self.name not in TEST_STAGES:
            raise ValueError(
                f"stage {self.name!r}: processing_fault_tag makes processing fail on purpose; "
                f"only {', '.join(sorted(TEST_STAGES))} may set it"
            )
        # A late upload must still find its record: every attempt (and its timeout) ends
        # before the grace period does.
        longest_processing = self.processing_max_event_age_seconds + self.processing_function.timeout_seconds
        if self.pending_grace_seconds <= longest_processing:
            raise ValueError(
                f"stage {self.name!r}: pending_grace_seconds must exceed the longest processing "
                f"({longest_processing} s)"
            )
        if self.processing_reserved_concurrency is not None and self.processing_reserved_concurrency < 1:
            raise ValueError(
                f"stage {self.name!r}: processing_reserved_concurrency must be at least 1 (0 would stop it)"
            )
        if self.name in TEST_STAGES:
            if (
                self.web_acl is not None
                or self.tracing
                or self.api_access_logs
                or self.api_gateway_cloudwatch_role
                or self.web_gallery
            ):
                raise ValueError(
                    f"stage {self.name!r} runs on the local cloud, which has no WAF, X-Ray, API Gateway "
                    "logging role or CloudFront"
                )
        elif self.reconcile_min_age_seconds <= longest_processing:
            raise ValueError(
                f"stage {self.name!r}: reconcile_min_age_seconds must exceed the longest processing "
                f"({longest_processing} s), or uploads in flight would be taken for debris"
            )
        if self.alarm_email is not None and "@" not in self.alarm_email:
            raise ValueError(
                f"stage {self.name!r}: alarm_email {self.alarm_email!r} is not an e-mail address"
            )
        try:
            self.listing_layout  # noqa: B018 - validates the shard counts
        except ValueError as error:
            raise ValueError(f"stage {self.name!r}: {error}") from None
        self._check_authentication()

    @property
    def listing_layout(self) -> ListingLayout:
        """The table's listing layout; whether the all-users indexes are written follows from the
        auth mode, in the functions (``image_core.settings``)."""
        return ListingLayout(
            shards=self.listing_shards,
            read_shards=self.listing_read_shards or self.listing_shards,
            all_users_indexes=self.authentication.mode is AuthMode.NONE,
        )

    def _check_authentication(self) -> None:
        auth = self.authentication
        if self.requires_verified_identity and auth.mode is AuthMode.NONE:
            raise ValueError(f"stage {self.name!r} must verify tokens: auth_mode=none is for demos only")
        if self.requires_verified_identity and auth.token_issuer is not None and auth.token_issuer.jwks:
            raise ValueError(
                f"stage {self.name!r} accepts only issuers that publish a JWKS URL, not an inline JWKS"
            )
        if auth.creates_user_pool and not self.has_cognito:
            raise ValueError(
                f"stage {self.name!r} has no Cognito: give it a token issuer (make up passes the local "
                "development issuer: -c dev_issuer=.localcloud/dev-issuer/issuer.json), or -c auth_mode=none"
            )

    @property
    def stack_name(self) -> str:
        return f"ImageService-{self.name}"

    @property
    def destroy_data_with_stack(self) -> bool:
        """Whether deleting the stack also deletes the bucket's objects and the table."""
        return self.removal_policy == RemovalPolicy.DESTROY


def host_architecture(machine: str | None = None) -> lambda_.Architecture:
    """The Lambda architecture matching this machine, so the local cloud runs functions natively."""
    machine = (machine or platform.machine()).lower()
    if machine in {"arm64", "aarch64"}:
        return lambda_.Architecture.ARM_64
    if machine in {"x86_64", "amd64"}:
        return lambda_.Architecture.X86_64
    raise ValueError(f"no Lambda architecture for this machine ({machine!r})")


def _local(cors_origins: tuple[str, ...] | None, authentication: Authentication) -> StageSettings:
    return StageSettings(
        name="local",
        removal_policy=RemovalPolicy.DESTROY,
        point_in_time_recovery=False,
        lambda_architecture=host_architecture(),
        cors_allowed_origins=cors_origins or ALL_ORIGINS,
        api_throttling_rate_limit=100,
        api_throttling_burst_limit=200,
        # Presigned URLs must point at the local cloud as the host sees it.
        s3_public_endpoint="http://127.0.0.1:4566",
        log_retention=logs.RetentionDays.ONE_DAY,
        log_level="DEBUG",
        processing_fault_tag=LOCAL_FAULT_TAG,
        authentication=authentication,
        # The local cloud is reachable from this machine only: demos without tokens
        # (auth_mode=none) and the development issuer's inline keys are for it alone.
        requires_verified_identity=False,
        has_cognito=False,
        tracing=False,
        api_access_logs=False,
        api_gateway_cloudwatch_role=False,
        web_gallery=False,
        # Short, so that its tests see debris become old enough; run by `make reconcile`.
        reconcile_min_age_seconds=20,
        reconcile_every_hours=None,
    )


def _dev(cors_origins: tuple[str, ...] | None, authentication: Authentication) -> StageSettings:
    return StageSettings(
        name="dev",
        removal_policy=RemovalPolicy.DESTROY,
        point_in_time_recovery=False,
        lambda_architecture=lambda_.Architecture.ARM_64,
        # The usual local front-end dev servers (CRA/Next, Vite); override with -c cors_origins=...
        cors_allowed_origins=cors_origins or ("http://localhost:3000", "http://localhost:5173"),
        api_throttling_rate_limit=50,
        api_throttling_burst_limit=100,
        s3_public_endpoint="",
        log_retention=logs.RetentionDays.ONE_WEEK,
        log_level="INFO",
        authentication=authentication,
    )


def _prod(cors_origins: tuple[str, ...] | None, authentication: Authentication) -> StageSettings:
    if not cors_origins:
        # No default: which sites may call the production API is a deliberate decision.
        raise ValueError("stage 'prod' needs its browser origins: -c cors_origins=https://a.example,...")
    return StageSettings(
        name="prod",
        removal_policy=RemovalPolicy.RETAIN,
        point_in_time_recovery=True,
        lambda_architecture=lambda_.Architecture.ARM_64,
        cors_allowed_origins=cors_origins,
        api_throttling_rate_limit=100,
        api_throttling_burst_limit=200,
        s3_public_endpoint="",
        log_retention=logs.RetentionDays.THREE_MONTHS,
        log_level="INFO",
        authentication=authentication,
        bucket_access_logs=True,
        web_acl=WebAcl(),
        # No processing_reserved_concurrency by default: deploy with
        # -c processing_reserved_concurrency=<n> once the account's quota ("Concurrent
        # executions" in Service Quotas) leaves room for it (see StageSettings).
    )


_STAGES: dict[str, Callable[[tuple[str, ...] | None, Authentication], StageSettings]] = {
    "local": _local,
    "dev": _dev,
    "prod": _prod,
}
STAGE_NAMES: tuple[str, ...] = tuple(_STAGES)


def stage_settings(
    name: str,
    *,
    cors_origins: Sequence[str] | None = None,
    s3_public_endpoint: str | None = None,
    processing_fault_tag: str | None = None,
    processing_reserved_concurrency: int | None = None,
    authentication: Authentication | None = None,
    alarm_email: str | None = None,
    api_gateway_cloudwatch_role: bool | None = None,
    web_acl_rate_limit: int | None = None,
    web_gallery: bool | None = None,
) -> StageSettings:
    """The settings of stage ``name``.

    ``cors_origins`` replaces the stage's default origins; ``s3_public_endpoint`` its S3
    endpoint for presigned URLs (the local cloud on another port: ``make`` passes it);
    ``processing_fault_tag`` its fault tag, which only test stages accept;
    ``processing_reserved_concurrency`` a reservation for processing; ``authentication``
    its default (tokens of a Cognito user pool the stack creates); ``alarm_email`` who the
    alarms mail; ``api_gateway_cloudwatch_role`` False where the account's baseline owns that
    role; ``web_acl_rate_limit`` the WAF's requests per client IP per 5 minutes, 0 for no WAF;
    ``web_gallery`` False to deploy no web gallery (an AWS stage has one by default).
    """
    try:
        build = _STAGES[name]
    except KeyError:
        raise ValueError(f"unknown stage {name!r}; choose one of: {', '.join(STAGE_NAMES)}") from None
    settings = build(tuple(cors_origins) if cors_origins else None, authentication or Authentication())
    if s3_public_endpoint:
        settings = dataclasses.replace(settings, s3_public_endpoint=s3_public_endpoint)
    if processing_fault_tag:
        settings = dataclasses.replace(settings, processing_fault_tag=processing_fault_tag)
    if processing_reserved_concurrency is not None:
        settings = dataclasses.replace(
            settings, processing_reserved_concurrency=processing_reserved_concurrency
        )
    if alarm_email:
        settings = dataclasses.replace(settings, alarm_email=alarm_email)
    if api_gateway_cloudwatch_role is not None:
        settings = dataclasses.replace(settings, api_gateway_cloudwatch_role=api_gateway_cloudwatch_role)
    if web_gallery is not None:
        settings = dataclasses.replace(settings, web_gallery=web_gallery)
    if web_acl_rate_limit is not None:
        web_acl = WebAcl(requests_per_ip_per_5_minutes=web_acl_rate_limit) if web_acl_rate_limit else None
        settings = dataclasses.replace(settings, web_acl=web_acl)
    return settings
