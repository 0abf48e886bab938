"""The functions' metrics reach CloudWatch Logs as embedded metric format (EMF) lines, which
CloudWatch turns into metrics in AWS: each line a JSON object whose ``_aws`` names the
namespace, the dimensions and the metrics, with their values beside it."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from localcloud.reconcile import reconcile
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration

NAMESPACE = "ImageService"


def log_groups_of(function: str) -> list[str]:
    """Where the function's lines may go: the log group the stack made for it (AWS), or Lambda's
    default one, which the local cloud writes to whatever the function's logging config says."""
    config = boto3.client("lambda").get_function_configuration(FunctionName=function)
    configured = config.get("LoggingConfig", {}).get("LogGroup")
    return [group for group in (configured, f"/aws/lambda/{function}") if group]


def emf_lines(groups: list[str], since_millis: int) -> list[dict[str, Any]]:
    logs = boto3.client("logs")
    lines = []
    for group in groups:
        pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group, startTime=since_millis)
        for event in (event for page in pages for event in page["events"]):
            message = event["message"].strip()
            if message.startswith("{") and '"_aws"' in message:
                lines.append(json.loads(message))
    return lines


def assert_emf_shape(line: dict[str, Any]) -> None:
    """CloudWatch's embedded metric format: every dimension and metric named in ``_aws`` has a value."""
    metadata = line["_aws"]
    assert isinstance(metadata["Timestamp"], int)
    for directive in metadata["CloudWatchMetrics"]:
        assert directive["Namespace"] == NAMESPACE
        for dimension_set in directive["Dimensions"]:
            assert all(isinstance(line[dimension], str) for dimension in dimension_set)
        for metric in directive["Metrics"]:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}
            values = line[metric["Name"]]
            assert all(
                isinstance(value, int | float) for value in (values if isinstance(values, list) else [values])
            )


def test_reconciliation_metrics_reach_cloudwatch_logs_in_emf_shape(outputs: dict[str, str]) -> None:
    function = outputs["ReconcileFunctionName"]
    since = int(time.time() * 1000) - 1000

    reconcile(function, repair=False, min_age=None)

    groups = log_groups_of(function)
    lines = wait_for(
        lambda: [line for line in emf_lines(groups, since) if "ReconcileFindings" in line],
        timeout=30,
        interval=1,
        what=f"EMF lines in {groups}",
    )
    for line in lines:
        assert_emf_shape(line)
    assert {line["check"] for line in lines} >= {
        "stuck_deleting",
        "missing_original",
        "variant_without_image",
    }
    (directive,) = lines[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["check", "service"]]
    assert lines[0]["service"] == "image-service"
    assert directive["Metrics"] == [{"Name": "ReconcileFindings", "Unit": "Count"}]
