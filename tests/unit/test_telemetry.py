"""What the functions report besides their log lines: EMF metrics of what happened, and traces.

Each EMF line is a JSON object on stdout; CloudWatch turns ``_aws``'s metrics into metrics.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from image_core import schema
from image_processing import handler as processing_handler
from tests import images
from tests.unit.conftest import BUCKET_NAME, FAULT_TAG, Aws, UploadImage
from tests.unit.harness import ApiClient, deliver_object_created, deliver_processing_failure

LAMBDA_SRC = Path(__file__).resolve().parents[2] / "lambda_src"


def metrics(output: str) -> list[dict[str, Any]]:
    """``{"name", "value", "unit", "dimensions", "metadata"}`` of every EMF line in ``output``."""
    found = []
    for text in output.splitlines():
        if not text.startswith("{") or '"_aws"' not in text:
            continue
        line = json.loads(text)
        for directive in line["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "ImageService"
            (dimension_names,) = directive["Dimensions"]
            for metric in directive["Metrics"]:
                found.append(
                    {
                        "name": metric["Name"],
                        "unit": metric["Unit"],
                        "value": line[metric["Name"]],
                        "dimensions": {name: line[name] for name in dimension_names},
                        "correlation_id": line.get("correlation_id"),
                    }
                )
    return found


def named(output: str, name: str) -> list[dict[str, Any]]:
    return [metric for metric in metrics(output) if metric["name"] == name]


def test_given_an_upload_request_when_granted_then_one_upload_is_counted_under_the_request_id(
    api: ApiClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    assert api.upload().status_code == 201

    (uploads,) = named(capsys.readouterr().out, "UploadsRequested")
    assert (uploads["value"], uploads["unit"]) == ([1.0], "Count")
    assert uploads["dimensions"] == {"service": "image-service"}
    assert uploads["correlation_id"]


@pytest.mark.parametrize(
    ("call", "route", "code"),
    [
        (lambda api: api.get("f" * 32), "GET /images/{image_id}", "not_found"),
        (lambda api: api.list(limit="0"), "GET /images", "invalid_parameter"),
        (
            lambda _api: ApiClient(authorization=None).delete("f" * 32),
            "DELETE /images/{image_id}",
            "unauthorized",
        ),
    ],
)
def test_given_an_error_answer_when_answered_then_it_is_counted_by_route_and_code(
    api: ApiClient, capsys: pytest.CaptureFixture[str], call: Any, route: str, code: str
) -> None:
    capsys.readouterr()

    result = call(api)

    assert result.status_code >= 400
    (error,) = named(capsys.readouterr().out, "ApiErrors")
    assert error["dimensions"] == {"service": "image-service", "route": route, "code": code}
    assert error["value"] == [1.0]


def test_given_a_successful_answer_when_answered_then_no_error_is_counted(
    api: ApiClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    assert api.list().status_code == 200

    assert named(capsys.readouterr().out, "ApiErrors") == []


def test_given_a_delete_when_done_then_it_is_counted(
    api: ApiClient, available_image: UploadImage, capsys: pytest.CaptureFixture[str]
) -> None:
    image_id = available_image()
    capsys.readouterr()

    assert api.delete(image_id).status_code == 204

    assert [metric["value"] for metric in named(capsys.readouterr().out, "ImagesDeleted")] == [[1.0]]


def test_given_an_upload_processed_when_available_then_its_bytes_duration_and_duplicate_hint_are_counted(
    aws: Aws, pending_image: UploadImage, capsys: pytest.CaptureFixture[str]
) -> None:
    data = images.jpeg(seed=7)
    for image_id in (pending_image(), pending_image()):
        key = schema.incoming_object_key(image_id)
        capsys.readouterr()
        deliver_object_created(BUCKET_NAME, key, len(data), aws.put(key, data, "image/jpeg"))
        output = capsys.readouterr().out

    # The second is the first one's duplicate.
    assert [metric["value"] for metric in named(output, "ImagesAvailable")] == [[1.0]]
    assert [metric["value"] for metric in named(output, "DuplicateHints")] == [[1.0]]
    (size,) = named(output, "ProcessedBytes")
    assert (size["value"], size["unit"]) == ([float(len(data))], "Bytes")
    (duration,) = named(output, "ProcessingDuration")
    assert duration["unit"] == "Milliseconds"
    assert duration["value"][0] > 0


def test_given_an_upload_refused_when_processed_then_it_is_counted_by_reason(
    aws: Aws, pending_image: UploadImage, capsys: pytest.CaptureFixture[str]
) -> None:
    image_id = pending_image()
    key = schema.incoming_object_key(image_id)
    data = b"not an image at all"
    capsys.readouterr()

    deliver_object_created(BUCKET_NAME, key, len(data), aws.put(key, data, "image/jpeg"))

    output = capsys.readouterr().out
    (rejected,) = named(output, "ImagesRejected")
    assert rejected["dimensions"] == {"service": "image-service", "reason": "unsupported_format"}
    assert named(output, "ImagesAvailable") == []


def test_given_an_upload_that_failed_for_good_when_recorded_then_it_is_counted(
    aws: Aws, pending_image: UploadImage, capsys: pytest.CaptureFixture[str]
) -> None:
    image_id = pending_image(tags=[FAULT_TAG])
    key = schema.incoming_object_key(image_id)
    data = images.jpeg()
    etag = aws.put(key, data, "image/jpeg")
    capsys.readouterr()

    deliver_processing_failure(BUCKET_NAME, key, len(data), etag)

    assert [metric["value"] for metric in named(capsys.readouterr().out, "ImagesFailed")] == [[1.0]]


def _imports_after_one_call(module: str, tracing_disabled: str, *, storage: bool = True) -> set[str]:
    """Which of the X-Ray SDK's modules a fresh interpreter holds after importing ``module`` and
    calling a traced handler once (``storage``: with a table and a bucket configured)."""
    names = 'TABLE_NAME="t", BUCKET_NAME="b", ' if storage else ""
    script = f"""
import json, os, sys
for name in ("TABLE_NAME", "BUCKET_NAME"):
    os.environ.pop(name, None)
os.environ.update({names}POWERTOOLS_TRACE_DISABLED="{tracing_disabled}")
from image_core.telemetry import traced
import {module}
before = "aws_xray_sdk" in sys.modules
traced(lambda event, context: "answered")(None, None)
print(json.dumps([before, "aws_xray_sdk" in sys.modules]))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=LAMBDA_SRC, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    before, after = json.loads(result.stdout.splitlines()[-1])
    return {name for name, loaded in (("at import", before), ("after a call", after)) if loaded}


@pytest.mark.parametrize(
    "module",
    ["image_api.upload", "image_api.list_images", "image_processing.handler", "image_reconcile.handler"],
)
def test_given_an_untraced_function_when_it_runs_then_the_xray_sdk_is_never_imported(module: str) -> None:
    assert _imports_after_one_call(module, tracing_disabled="true") == set()


@pytest.mark.parametrize("tracing_disabled", ["true", "false"])
def test_given_a_function_without_table_or_bucket_when_traced_then_it_runs(tracing_disabled: str) -> None:
    # The OpenAPI document's function has neither: found by fuzzing, every GET /openapi.json was 502
    assert "at import" not in _imports_after_one_call(
        "image_api.contract", tracing_disabled=tracing_disabled, storage=False
    )


def test_given_a_traced_function_when_it_first_runs_then_the_tracer_wraps_it_and_only_then_loads_xray() -> (
    None
):
    assert _imports_after_one_call("image_api.get_image", tracing_disabled="false") == {"after a call"}


def log_lines(output: str, message: str) -> list[dict[str, Any]]:
    lines = [json.loads(text) for text in output.splitlines() if text.startswith("{") and '"message"' in text]
    return [line for line in lines if line.get("message") == message]


def test_given_an_upload_request_when_its_bytes_are_processed_then_processing_logs_under_the_requests_id(
    aws: Aws, api: ApiClient, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The logger writes to the stream it was made with; its lines are read here.
    logged = io.StringIO()
    monkeypatch.setattr(processing_handler.logger.registered_handler, "stream", logged)
    capsys.readouterr()
    result = api.upload()
    (uploads,) = named(capsys.readouterr().out, "UploadsRequested")
    request_id = uploads["correlation_id"]
    image_id = result.json()["image_id"]
    key = schema.incoming_object_key(image_id)
    data = images.jpeg(seed=3)

    deliver_object_created(BUCKET_NAME, key, len(data), aws.put(key, data, "image/jpeg"))
    deliver_object_created(BUCKET_NAME, "incoming/" + "0" * 32, 3, aws.put("incoming/" + "0" * 32, b"abc"))

    output = capsys.readouterr().out
    first, orphan = log_lines(logged.getvalue(), "Processed uploaded object")
    assert (first["key"], first["correlation_id"]) == (key, request_id)
    # An object of no record's is logged under no request's id, not the previous one's.
    assert orphan.get("correlation_id") is None
    assert {metric["correlation_id"] for metric in named(output, "ImagesAvailable")} == {request_id}
    assert "request_id" not in api.get(image_id).json()
