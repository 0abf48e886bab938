"""CDK app: ``cdk synth -c stage=local|dev|prod [-c cors_origins=https://a.example,https://b.example]``.

``-c processing_fault_tag=<tag>`` replaces the tag that makes processing fail on purpose;
only test stages accept one (the local stage has one by default).
``-c processing_reserved_concurrency=<n>`` reserves (and caps) the processing function's
concurrency; no stage reserves any by default.

Operations (README, Operations): ``-c alarm_email=ops@example.com`` subscribes an address to the
alarms; ``-c api_gateway_cloudwatch_role=false`` where the account's baseline owns API Gateway's
logging role; ``-c web_acl_rate_limit=<n>`` sets the WAF's requests per client IP per 5 minutes
(prod has a WAF by default; 0 removes it).

Who may call the API (``-c`` context, all optional):

* ``auth_mode=jwt|none``: verify bearer tokens (the default), or trust a ``user_id``
  parameter (demos; refused for prod);
* ``auth_issuer=... auth_audience=a,b auth_jwks_url=... [auth_identity_claim=sub]``: accept
  tokens of that OpenID Connect provider instead of a Cognito user pool the stack creates;
* ``auth_client_id=...``: with ``auth_issuer``, the client id the web gallery signs in with
  (one of ``auth_audience``; the first of them by default);
* ``dev_issuer=.localcloud/dev-issuer/issuer.json``: the local development issuer, whose
  public keys go to the functions inline (``make up`` passes it; ``localcloud/dev_issuer.py``).

The stages deployed to AWS include the web gallery, built into ``web/dist`` by ``make
gallery-build`` (``make synth`` and ``make deploy-aws`` build it first);
``-c gallery_site=<folder>`` names another build; ``-c web_gallery=false`` deploys none.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent

# The stacks import the table layout from lambda_src/image_core/schema.py, the module the
# functions use; lambda_src is the functions' asset root, so it goes on the path as it is
# on theirs (pytest and mypy do the same through pyproject.toml).
sys.path.insert(0, str(PROJECT_ROOT / "lambda_src"))

from aws_cdk import App, Validations  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from image_core.environment import AuthMode  # noqa: E402
from stacks.image_service_stack import ImageServiceStack  # noqa: E402
from stacks.settings import Authentication, TokenIssuer, stage_settings  # noqa: E402

DEFAULT_STAGE = "local"
GALLERY_SITE = PROJECT_ROOT / "web" / "dist"


def cdk_json_context() -> dict[str, Any]:
    """cdk.json's context (the feature flags), which only the CDK CLI passes to the app by itself.

    Given to ``App(context=...)`` as defaults, so that ``python app.py`` and the tests synthesize
    with the same flags as ``cdk synth``; context from the CLI still takes precedence.
    """
    context: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    return context


def _origins(value: object) -> list[str] | None:
    """``-c cors_origins=a,b`` arrives as a string; cdk.json may hold a list (so may ``auth_audience``)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    return [str(item).strip() for item in items if str(item).strip()]


def _positive_int(app: App, name: str) -> int | None:
    """A whole-number context value (``-c name=50`` arrives as a string), or None when not given."""
    value = app.node.try_get_context(name)
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None


def _optional_bool(app: App, name: str) -> bool | None:
    """``-c name=true|false`` (a string from the CLI, a boolean from cdk.json), or None when not given."""
    value = app.node.try_get_context(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in {"true", "false"}:
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return text == "true"


def _authentication(app: App) -> Authentication:
    """``auth_mode``, and the token issuer named by ``dev_issuer`` or the ``auth_*`` values."""
    context = app.node.try_get_context
    mode_name = str(context("auth_mode") or AuthMode.JWT.value)
    try:
        mode = AuthMode(mode_name)
    except ValueError:
        raise ValueError(f"unknown auth_mode {mode_name!r}; choose jwt or none") from None
    dev_issuer, external_issuer = context("dev_issuer"), context("auth_issuer")
    if dev_issuer and external_issuer:
        raise ValueError("give either dev_issuer or auth_issuer, not both")
    issuer: TokenIssuer | None = None
    if dev_issuer:
        issuer = _dev_issuer(Path(str(dev_issuer)))
    elif external_issuer:
        issuer = TokenIssuer(
            issuer=str(external_issuer),
            audiences=tuple(_origins(context("auth_audience")) or ()),
            jwks_url=str(context("auth_jwks_url") or ""),
            identity_claim=str(context("auth_identity_claim") or "sub"),
        )
    client_id = context("auth_client_id")
    if client_id and not external_issuer:
        raise ValueError("auth_client_id names the gallery's client at auth_issuer: give auth_issuer too")
    return Authentication(
        mode=mode, token_issuer=issuer, gallery_client_id=str(client_id) if client_id else None
    )


def _dev_issuer(path: Path) -> TokenIssuer:
    """The local development issuer as its ``issuer.json`` describes it (issuer, audience, public JWKS)."""
    path = path if path.is_absolute() else PROJECT_ROOT / path
    if not path.is_file():
        raise ValueError(f"{path} does not exist: create the development issuer with `make dev-issuer`")
    described = json.loads(path.read_text())
    return TokenIssuer(
        issuer=described["issuer"], audiences=(described["audience"],), jwks=json.dumps(described["jwks"])
    )


def build(app: App) -> ImageServiceStack:
    """Adds the stage chosen by the app's context; the only place that reads context."""
    settings = stage_settings(
        str(app.node.try_get_context("stage") or DEFAULT_STAGE),
        cors_origins=_origins(app.node.try_get_context("cors_origins")),
        s3_public_endpoint=app.node.try_get_context("s3_public_endpoint"),
        processing_fault_tag=app.node.try_get_context("processing_fault_tag"),
        processing_reserved_concurrency=_positive_int(app, "processing_reserved_concurrency"),
        authentication=_authentication(app),
        alarm_email=app.node.try_get_context("alarm_email"),
        api_gateway_cloudwatch_role=_optional_bool(app, "api_gateway_cloudwatch_role"),
        web_acl_rate_limit=_positive_int(app, "web_acl_rate_limit"),
        web_gallery=_optional_bool(app, "web_gallery"),
    )
    gallery_site: Path | None = None
    if settings.web_gallery:
        gallery_site = Path(str(app.node.try_get_context("gallery_site") or GALLERY_SITE))
        gallery_site = gallery_site if gallery_site.is_absolute() else PROJECT_ROOT / gallery_site
        if not (gallery_site / "index.html").is_file():
            raise ValueError(
                f"stage {settings.name!r} deploys the web gallery, but {gallery_site} holds no built site: "
                "run `make gallery-build` (make synth and make deploy-aws do)"
            )
    stack = ImageServiceStack(app, settings.stack_name, settings=settings, gallery_site=gallery_site)
    # Every finding is an error at synth unless acknowledged, with its reason, next to its cause.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return stack


def main() -> None:
    app = App(context=cdk_json_context())
    try:
        build(app)
    except ValueError as error:
        sys.exit(f"app.py: {error}")
    app.synth()


if __name__ == "__main__":
    main()
