"""Where a route's own time goes: its handler run in this process against the local cloud.

    make bench-latency      # runs this after the latency rounds

Each function's REPORT ``Duration`` says how long it ran, not on what. Here the deployed
function's own configuration (its environment: table, bucket, token issuer) is loaded into
this process, its handler module imported from ``lambda_src/`` and called with API Gateway
events as the deployed function gets them, ``--rounds`` times after a warm-up call. Timed
apart: token verification (``TokenVerifier.caller_from``) and each AWS call (every botocore
operation, by name); the rest is routing, validation, our code and serialization.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.client import BaseClient

from bench.api import Service, service_functions
from bench.report import Section, Stopwatch, publish, table
from bench.stats import median

LAMBDA_SRC = Path(__file__).resolve().parent.parent / "lambda_src"


class Clock:
    """Milliseconds spent in each named part during one call."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = defaultdict(float)

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.parts[name] += (time.perf_counter() - started) * 1000


def instrumented(clock_of: Callable[[], Clock]) -> None:
    """Time every botocore call and every token verification into the current ``Clock``."""
    original_call = BaseClient._make_api_call  # type: ignore[attr-defined]

    def timed_call(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        with clock_of().part(f"AWS {self.meta.service_model.service_name}.{operation}"):
            return original_call(self, operation, params)

    BaseClient._make_api_call = timed_call  # type: ignore[attr-defined]
    from image_api.auth import TokenVerifier

    original_verify = TokenVerifier.caller_from

    def timed_verify(self: TokenVerifier, authorization: str | None) -> Any:
        with clock_of().part("token verification"):
            return original_verify(self, authorization)

    TokenVerifier.caller_from = timed_verify  # type: ignore[method-assign]


def rest_event(method: str, resource: str, path: str, token: str, **extra: Any) -> dict[str, Any]:
    """An API Gateway REST proxy event (payload 1.0), as the deployed function receives one."""
    headers = {"Authorization": f"Bearer {token}", "Host": "127.0.0.1", "Content-Type": "application/json"}
    query = extra.get("query")
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": extra.get("path_parameters"),
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/local{path}",
            "stage": "local",
            "requestId": os.urandom(8).hex(),
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": extra.get("body"),
        "isBase64Encoded": False,
    }


class Context:
    function_name = "bench"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    watch = Stopwatch()
    service = Service.signed_in()
    try:
        image_id = service.upload()
        token = str(service.session.headers["Authorization"]).removeprefix("Bearer ")
        functions = service_functions()
        # Every API function has the same environment; the get-image one stands for all.
        config = boto3.client("lambda").get_function_configuration(
            FunctionName=functions["image_api.get_image.handler"]
        )
        os.environ.update(config.get("Environment", {}).get("Variables", {}))
        os.environ["POWERTOOLS_LOG_LEVEL"] = os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING")
        sys.path.insert(0, str(LAMBDA_SRC))
        current: list[Clock] = [Clock()]
        instrumented(lambda: current[0])
        cases = {
            "GET /images/{id}": (
                "image_api.get_image",
                rest_event(
                    "GET",
                    "/images/{image_id}",
                    f"/images/{image_id}",
                    token,
                    path_parameters={"image_id": image_id},
                ),
            ),
            "GET /images": ("image_api.list_images", rest_event("GET", "/images", "/images", token)),
            "GET /images?tag=&from=": (
                "image_api.list_images",
                rest_event("GET", "/images", "/images", token, query={"tag": "bench", "from": "2000-01-01"}),
            ),
            "GET /images/{id}/download": (
                "image_api.download",
                rest_event(
                    "GET",
                    "/images/{image_id}/download",
                    f"/images/{image_id}/download",
                    token,
                    path_parameters={"image_id": image_id},
                ),
            ),
            "POST /images/upload": (
                "image_api.upload",
                rest_event(
                    "POST", "/images/upload", "/images/upload", token, query={"content_type": "image/png"}
                ),
            ),
            "PATCH /images/{id}": (
                "image_api.edit_image",
                rest_event(
                    "PATCH",
                    "/images/{image_id}",
                    f"/images/{image_id}",
                    token,
                    path_parameters={"image_id": image_id},
                    body=json.dumps({"tags": ["bench", "edited"], "description": "bench"}),
                ),
            ),
        }
        results: dict[str, list[Clock]] = defaultdict(list)
        for name, (module_name, event) in cases.items():
            handler = importlib.import_module(module_name).handler
            answer = handler(event, Context())  # warm: clients, keys, routes
            if answer["statusCode"] >= 300:
                raise SystemExit(f"bench: {name} answered {answer['statusCode']}: {answer['body'][:300]}")
        for _ in range(args.rounds):
            for name, (module_name, event) in cases.items():
                handler = sys.modules[module_name].handler
                current[0] = Clock()
                with current[0].part("total"):
                    answer = handler(event, Context())
                if name == "POST /images/upload":
                    uploaded = json.loads(answer["body"])["image_id"]
                    service.created.append(uploaded)
                results[name].append(current[0])
            # The upload this round requested, still pending, deleted as a client would.
            delete = rest_event(
                "DELETE",
                "/images/{image_id}",
                f"/images/{uploaded}",
                token,
                path_parameters={"image_id": uploaded},
            )
            current[0] = Clock()
            with current[0].part("total"):
                answer = importlib.import_module("image_api.delete_image").handler(delete, Context())
            if answer["statusCode"] != 204:
                raise SystemExit(f"bench: DELETE answered {answer['statusCode']}: {answer['body'][:300]}")
            results["DELETE /images/{id} (pending)"].append(current[0])
    finally:
        service.close()
    publish(breakdown_section(results, args.rounds, watch))


def breakdown_section(results: dict[str, list[Clock]], rounds: int, watch: Stopwatch) -> Section:
    rows = []
    for name, clocks in results.items():
        parts = sorted({part for clock in clocks for part in clock.parts} - {"total"})
        total = median([clock.parts["total"] for clock in clocks])
        medians = {part: median([clock.parts.get(part, 0.0) for clock in clocks]) for part in parts}
        rest = median(
            [
                clock.parts["total"] - sum(v for k, v in clock.parts.items() if k != "total")
                for clock in clocks
            ]
        )
        described = ", ".join(f"{part} {value:.2f}" for part, value in medians.items())
        rows.append((f"`{name}`", f"{total:.2f}", described, f"{rest:.2f}"))
    body = "\n".join(
        [
            f"The handler of each route run in the bench's own process ({rounds} rounds after a warm-up, "
            "medians in ms), with the deployed function's environment, against the same local cloud. "
            "*rest*: routing, validation, our code and serialization (Powertools and Pydantic).",
            "",
            table(("route", "handler total", "timed parts", "rest"), rows),
            "",
            "Our own code (token verification and *rest*) is 1-2 ms of every route; the AWS calls are the "
            "remainder, each an HTTP request to the local cloud served by moto. Two of them cost more "
            "than DynamoDB or S3 would: moto's `TransactWriteItems` deep-copies every table it writes to, "
            "once per item of the transaction, before it writes (to roll back on failure), so its time "
            "grows with the table (a pending delete's two-item transaction above); and moto answers a "
            "`Query` on an index by going over every item of the table (section 4). Both are the local "
            "cloud's costs, not the service's: snapshotting only the items a transaction touches, in the "
            "DynamoDB provider (`localcloud/plugins/localcloud_plugins/dynamodb_moto.py`), would remove the "
            "first; it is noted here, not built.",
        ]
    )
    return Section(
        key="breakdown",
        title="1b. Where a route's own time goes",
        machine=watch.machine(),
        commands=["make bench-latency   # python -m bench.breakdown"],
        body=body,
    )


if __name__ == "__main__":
    main()
