"""Reconciliation as a function: on a schedule in AWS stages (report and repair), or invoked.

The event is a ``ReconcileRequest``: ``{}`` reports only, ``{"repair": true}`` repairs too;
``min_age_seconds`` may raise the configured minimum age (never lower it); ``resume`` carries
on from a report that stopped early. Each finding is one log line; the report is the answer.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from image_core.telemetry import count, traced
from image_reconcile import dependencies
from image_reconcile.checks import Finding
from image_reconcile.reconciler import Report, Resume
from image_reconcile.settings import ReconcileRequest, get_reconcile_settings

logger = Logger()

# Stop walking with this much of the function's time left, to answer with the report.
_TIME_RESERVE_MILLIS: Final = 30_000


def publish_metrics(report: Report) -> None:
    """Findings and repairs of each check, every run (zeros too: a graph without gaps), as
    CloudWatch embedded metric format lines (``POWERTOOLS_METRICS_NAMESPACE``)."""
    for check, counts in report.checks.items():
        count("ReconcileFindings", counts.found, check=check)
        count("ReconcileRepairs", counts.repaired, check=check)


def _log_finding(finding: Finding, outcome: str) -> None:
    logger.warning("Reconciliation finding", extra={**finding.as_dict(), "outcome": outcome})


@traced
@logger.inject_lambda_context
def handler(event: dict[str, Any] | None, context: LambdaContext) -> dict[str, Any]:
    request = ReconcileRequest.model_validate(event or {})
    settings = get_reconcile_settings()
    min_age = max(settings.min_age_seconds, request.min_age_seconds or 0)
    resume = (
        Resume(records_after=request.resume.records_after, objects_after=dict(request.resume.objects_after))
        if request.resume is not None
        else None
    )
    report = dependencies.reconciler().run(
        repair=request.repair,
        min_age=timedelta(seconds=min_age),
        resume=resume,
        out_of_time=lambda: context.get_remaining_time_in_millis() < _TIME_RESERVE_MILLIS,
        on_finding=_log_finding,
    )
    publish_metrics(report)
    answer = report.as_dict()
    logger.info(
        "Reconciled",
        repair=report.repair,
        complete=answer["complete"],
        found=report.found,
        counts={
            name: {k: v for k, v in check.items() if k != "findings"}
            for name, check in answer["checks"].items()
        },
    )
    return answer
