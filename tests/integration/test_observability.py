"""What the deployed functions tell besides their answers, on the local cloud.

Their metrics reach CloudWatch Logs as embedded metric format (EMF) lines, which CloudWatch
turns into metrics in AWS: each line a JSON object whose ``_aws`` names the namespace, the
dimensions and the metrics, with their values beside it. And one id, the API request's (the
``x-amzn-RequestId`` its caller gets), is on the lines of the request and of what became of
the bytes it registered."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import pytest

from localcloud.reconcile import reconcile
from tests.integration.conftest import (
    ImageApi,
    grant_from,
    png_bytes,
    send_bytes,
    unique_tag,
    upload_image,
    wait_for,
    wait_until_available,
)

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


def test_an_upload_reports_its_request_and_its_outcome_as_emf_lines(
    api: ImageApi, user: str, outputs: dict[str, str]
) -> None:
    since = int(time.time() * 1000) - 1000
    data = png_bytes()

    image_id = upload_image(api, user, [unique_tag("metrics")], "image/png", data)
    wait_until_available(api, image_id)

    processing = wait_for(
        lambda: [line for line in emf_lines(log_groups_of(outputs["ProcessingFunctionName"]), since)],
        timeout=30,
        interval=1,
        what="processing's EMF lines",
    )
    names = {
        metric["Name"]
        for line in processing
        for directive in line["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    assert {"ImagesAvailable", "ProcessedBytes", "ProcessingDuration"} <= names
    for line in processing:
        assert_emf_shape(line)
    assert float(len(data)) in [
        value for line in processing if "ProcessedBytes" in line for value in line["ProcessedBytes"]
    ]


def function_named_by_handler(handler: str, outputs: dict[str, str]) -> str:
    """The deployed function of this image service (the one using its table) whose handler is ``handler``."""
    names = [
        function["FunctionName"]
        for page in boto3.client("lambda").get_paginator("list_functions").paginate()
        for function in page["Functions"]
        if function.get("Handler") == handler
        and function.get("Environment", {}).get("Variables", {}).get("TABLE_NAME") == outputs["TableName"]
    ]
    assert len(names) == 1, names
    return names[0]


def test_an_error_answer_is_counted_under_the_request_id_the_caller_got(
    api: ImageApi, outputs: dict[str, str]
) -> None:
    since = int(time.time() * 1000) - 1000

    response = api.get(uuid.uuid4().hex)

    assert response.status_code == 404
    request_id = response.headers["x-amzn-RequestId"]
    function = function_named_by_handler("image_api.get_image.handler", outputs)
    (error,) = wait_for(
        lambda: [
            line
            for line in emf_lines(log_groups_of(function), since)
            if line.get("correlation_id") == request_id
        ],
        timeout=30,
        interval=1,
        what=f"an ApiErrors line of request {request_id}",
    )
    assert_emf_shape(error)
    assert (error["route"], error["code"], error["ApiErrors"]) == (
        "GET /images/{image_id}",
        "not_found",
        [1.0],
    )


def log_lines(groups: list[str], since_millis: int, message: str) -> list[dict[str, Any]]:
    logs = boto3.client("logs")
    lines = []
    for group in groups:
        pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group, startTime=since_millis)
        for event in (event for page in pages for event in page["events"]):
            text = event["message"].strip()
            if text.startswith("{") and f'"message":"{message}"' in text:
                lines.append(json.loads(text))
    return lines


def test_processing_logs_what_became_of_an_upload_under_the_id_of_the_request_that_registered_it(
    api: ImageApi, user: str, outputs: dict[str, str]
) -> None:
    since = int(time.time() * 1000) - 1000
    response = api.as_user(user).request_upload({"content_type": "image/png"})
    request_id = response.headers["x-amzn-RequestId"]
    grant = grant_from(response)

    send_bytes(grant, png_bytes(), "image/png")
    wait_until_available(api, grant.image_id)

    key = f"incoming/{grant.image_id}"
    (line,) = wait_for(
        lambda: [
            line
            for line in log_lines(
                log_groups_of(outputs["ProcessingFunctionName"]), since, "Processed uploaded object"
            )
            if line.get("key") == key
        ],
        timeout=30,
        interval=1,
        what=f"processing's line about {key}",
    )
    assert (line["correlation_id"], line["outcome"]) == (request_id, "available")
