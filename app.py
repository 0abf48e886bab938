"""CDK app: ``cdk synth -c stage=local|dev|prod [-c cors_origins=https://a.example,https://b.example]``.

``-c processing_fault_tag=<tag>`` replaces the tag that makes processing fail on purpose;
only test stages accept one (the local stage has one by default).
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

from stacks.image_service_stack import ImageServiceStack  # noqa: E402
from stacks.settings import stage_settings  # noqa: E402

DEFAULT_STAGE = "local"


def cdk_json_context() -> dict[str, Any]:
    """cdk.json's context (the feature flags), which only the CDK CLI passes to the app by itself.

    Given to ``App(context=...)`` as defaults, so that ``python app.py`` and the tests synthesize
    with the same flags as ``cdk synth``; context from the CLI still takes precedence.
    """
    context: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    return context


def _origins(value: object) -> list[str] | None:
    """``-c cors_origins=a,b`` arrives as a string; cdk.json may hold a list."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    return [str(item).strip() for item in items if str(item).strip()]


def build(app: App) -> ImageServiceStack:
    """Adds the stage chosen by the app's context; the only place that reads context."""
    settings = stage_settings(
        str(app.node.try_get_context("stage") or DEFAULT_STAGE),
        cors_origins=_origins(app.node.try_get_context("cors_origins")),
        s3_public_endpoint=app.node.try_get_context("s3_public_endpoint"),
        processing_fault_tag=app.node.try_get_context("processing_fault_tag"),
    )
    stack = ImageServiceStack(app, settings.stack_name, settings=settings)
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
