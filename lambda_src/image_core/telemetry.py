"""How every function tells what it did beyond its log lines: metrics and traces (Powertools).

The one module of the core that speaks Powertools: the functions' edge, not their logic (the
use cases return what happened; the handlers report it here).

* **Metrics** are CloudWatch embedded metric format (EMF) lines on stdout, which CloudWatch
  turns into metrics: no API call, nothing to wait for. Each ``count`` is one line, in the
  namespace ``POWERTOOLS_METRICS_NAMESPACE`` with the ``service`` dimension
  (``POWERTOOLS_SERVICE_NAME``) and its own; a correlation id goes along as metadata.
* **Traces**: ``traced`` puts a handler under Powertools' Tracer (X-Ray: the invocation, its
  AWS calls, the cold start) when the function is traced (AWS stages). Where it is not (the
  local cloud), the X-Ray SDK is never even imported: it costs a cold start tens of milliseconds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from image_core.settings import get_telemetry_settings

__all__ = ["MetricUnit", "count", "traced"]

Handler = Callable[[Any, Any], Any]


def count(
    name: str,
    value: float = 1,
    *,
    unit: MetricUnit = MetricUnit.Count,
    correlation_id: str | None = None,
    **dimensions: str,
) -> None:
    """Publish one value of the metric ``name`` with these dimensions (besides ``service``)."""
    with single_metric(name=name, unit=unit, value=value) as metric:
        for dimension, dimension_value in dimensions.items():
            metric.add_dimension(name=dimension, value=dimension_value)
        if correlation_id is not None:
            metric.add_metadata(key="correlation_id", value=correlation_id)


def traced[H: Handler](handler: H) -> H:
    """``handler``, traced by Powertools' Tracer when the function is (decided at its first call)."""
    chosen: list[Handler] = []

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        if not chosen:
            chosen.append(_with_tracer(handler) if get_telemetry_settings().tracing else handler)
        return chosen[0](event, context)

    return run  # type: ignore[return-value]  # the same signature as handler's


def _with_tracer(handler: Handler) -> Handler:
    # Imported here: only a traced function pays for the X-Ray SDK.
    from aws_lambda_powertools import Tracer

    traced_handler: Handler = Tracer().capture_lambda_handler(handler)
    return traced_handler
