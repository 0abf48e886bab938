"""Warm latency and throughput of every route, against the echo floor; cold start to first answer.

    make bench-latency      # sections 1 (latency) and 2 (throughput)
    make bench-coldstart    # section 3, time to first response of a fresh execution environment

Latency: ``--rounds`` interleaved rounds (``bench.stats.interleaved``) of the echo function and
every route, each request timed by the client; p50/p95/p99 and each p50 over the echo's. Beside
them, each function's own ``Duration`` from its REPORT lines over the same requests: the
client's time minus the function's is what the path to it costs (API Gateway, the Lambda
service, the local cloud), which the echo measures on its own.

Throughput: 1, 4 and 8 concurrent clients for the echo and each read route, ``--runs`` runs
interleaved; each measurement starts with an unmeasured burst at its concurrency, so that
every execution environment it needs is warm (the local cloud starts one per concurrent call).
Everything it creates it deletes. Bounded in requests and in time; loopback only.
"""

from __future__ import annotations

import argparse
import functools
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import boto3
import requests

from bench.api import (
    Service,
    floor_url,
    localcloud_cpu_seconds,
    now_ms,
    reported_durations,
    service_functions,
)
from bench.report import Section, Stopwatch, Target, publish, table
from bench.stats import Summary, median, ratio, run_interleaved

LATENCY_TARGET = 1.3
THROUGHPUT_TARGET = 0.8
TIME_LIMIT_SECONDS = 300
CLIENTS = (1, 4, 8)
REQUESTS_PER_CLIENT = 15
ECHO = "echo function (floor)"


@dataclass(frozen=True)
class Operation:
    name: str
    handler: str | None  # the function answering it (None: the echo)
    call: Callable[[], requests.Response]
    expected: int
    read: bool = False


def operations(service: Service, image_id: str) -> list[Operation]:
    api, session = service.api, service.session
    echo = floor_url("echo")
    pending: list[str] = []

    def request_upload() -> requests.Response:
        response = session.post(f"{api}images/upload", params={"content_type": "image/png"})
        if response.status_code == 201:
            pending.append(response.json()["image_id"])
        return response

    def delete_pending() -> requests.Response:
        # Each round deletes an upload requested (and left pending) by an earlier one.
        target = pending.pop(0) if pending else image_id
        return session.delete(f"{api}images/{target}")

    edit_body = {"tags": ["bench", "edited"], "description": "bench"}
    return [
        Operation(ECHO, None, lambda: session.get(echo), 200, read=True),
        Operation(
            "GET /images/{id}",
            "image_api.get_image.handler",
            lambda: session.get(f"{api}images/{image_id}"),
            200,
            True,
        ),
        Operation(
            "GET /images", "image_api.list_images.handler", lambda: session.get(f"{api}images"), 200, True
        ),
        Operation(
            "GET /images?tag=&from=",
            "image_api.list_images.handler",
            lambda: session.get(f"{api}images", params={"tag": "bench", "from": "2000-01-01"}),
            200,
            True,
        ),
        Operation(
            "GET /images?visibility=public",
            "image_api.list_images.handler",
            lambda: session.get(f"{api}images", params={"visibility": "public"}),
            200,
            True,
        ),
        Operation(
            "GET /images/{id}/download",
            "image_api.download.handler",
            lambda: session.get(f"{api}images/{image_id}/download"),
            200,
            True,
        ),
        Operation("POST /images/upload", "image_api.upload.handler", request_upload, 201),
        Operation(
            "PATCH /images/{id}",
            "image_api.edit_image.handler",
            lambda: session.patch(f"{api}images/{image_id}", json=edit_body),
            200,
        ),
        Operation("DELETE /images/{id} (pending)", "image_api.delete_image.handler", delete_pending, 204),
        Operation(
            "GET /openapi.json",
            "image_api.contract.handler",
            lambda: session.get(f"{api}openapi.json"),
            200,
            True,
        ),
    ]


def timed(operation: Operation) -> float:
    started = time.perf_counter()
    response = operation.call()
    elapsed = time.perf_counter() - started
    if response.status_code != operation.expected:
        raise SystemExit(f"bench: {operation.name} -> {response.status_code}: {response.text[:300]}")
    return elapsed * 1000


def bench_latency(
    ops: Sequence[Operation], rounds: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Client-side ms of each operation per round, and each function's reported durations."""
    for op in ops:  # warm every function: cold starts are measured on their own
        timed(op)
    # The DELETE round needs a pending upload made before it; one spare per round.
    upload = next(op for op in ops if op.name == "POST /images/upload")
    for _ in range(rounds):
        timed(upload)
    since = now_ms()
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    series = run_interleaved(
        {op.name: functools.partial(timed, op) for op in ops},
        rounds,
        deadline=lambda: time.monotonic() > deadline,
    )
    time.sleep(2)  # the last REPORT lines reach CloudWatch Logs
    by_function: dict[str, list[float]] = {}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in _floor_stack_outputs()}
    deployed = service_functions()
    for name in {op.handler for op in ops if op.handler} | {None}:
        function = outputs["EchoFunctionName"] if name is None else deployed[name]
        by_function[name or "echo"] = reported_durations(function, since)
    return series, by_function


def _floor_stack_outputs() -> list[dict[str, str]]:
    outputs: list[dict[str, str]] = boto3.client("cloudformation").describe_stacks(StackName="BenchFloor")[
        "Stacks"
    ][0]["Outputs"]
    return outputs


def rate(call: Callable[[], requests.Response], clients: int) -> tuple[float, float, float]:
    """Requests per second of ``clients`` concurrent clients, after a burst that warms them all; and
    the CPU milliseconds per request of the local cloud's process and of its function processes."""
    total = clients * REQUESTS_PER_CLIENT

    def one(_: int) -> int:
        return call().status_code

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one, range(clients * 2)))  # warm: one environment per concurrent call
        cpu_before = localcloud_cpu_seconds()
        started = time.perf_counter()
        statuses = list(pool.map(one, range(total)))
        elapsed = time.perf_counter() - started
        cpu_after = localcloud_cpu_seconds()
    if any(status >= 400 for status in statuses):
        raise SystemExit(f"bench: concurrent requests failed: {sorted(set(statuses))}")
    gateway_ms, functions_ms = (
        (after - before) * 1000 / total for before, after in zip(cpu_before, cpu_after, strict=True)
    )
    return total / elapsed, gateway_ms, functions_ms


def bench_throughput(
    service: Service, image_id: str, runs: int
) -> tuple[dict[tuple[str, int], list[float]], dict[str, list[tuple[float, float]]]]:
    """Requests/s of each (operation, clients) over the runs; CPU ms per request at 4 clients."""
    headers = dict(service.session.headers)
    api = service.api

    def get(url: str, **params: str) -> Callable[[], requests.Response]:
        # A fresh connection per call, as independent clients would make.
        return lambda: requests.get(url, headers=headers, params=params, timeout=30)

    targets = {
        ECHO: get(floor_url("echo")),
        "GET /images/{id}": get(f"{api}images/{image_id}"),
        "GET /images": get(f"{api}images"),
        "GET /images/{id}/download": get(f"{api}images/{image_id}/download"),
    }
    results: dict[tuple[str, int], list[float]] = {}
    cpu: dict[str, list[tuple[float, float]]] = {}
    for run in range(runs):
        for clients in CLIENTS:
            names = list(targets)
            shift = run % len(names)
            for name in names[shift:] + names[:shift]:
                requests_per_second, gateway_ms, functions_ms = rate(targets[name], clients)
                results.setdefault((name, clients), []).append(requests_per_second)
                if clients == 4:
                    cpu.setdefault(name, []).append((gateway_ms, functions_ms))
    return results, cpu


# Until section 1b has measured where a route's own duration goes (bench.breakdown, which
# make bench-latency runs next, replaces this with its figures: explain_latency_misses).
LATENCY_MISS_CAUSE = (
    "**The API routes' p50**: a route's own duration is the echo's plus its handler's; section 1b "
    "breaks the handler down (`python -m bench.breakdown`)."
)


def latency_section(
    series: Mapping[str, list[float]],
    by_function: Mapping[str, list[float]],
    ops: Sequence[Operation],
    rounds: int,
    watch: Stopwatch,
) -> Section:
    floor = Summary.of(series[ECHO])
    echo_own = median(by_function["echo"]) if by_function.get("echo") else 0.0
    echo_path = floor.p50 - echo_own
    rows = []
    targets = []
    shared = Counter(op.handler for op in ops)
    for op in ops:
        summary = Summary.of(series[op.name])
        own_values = by_function.get(op.handler or "echo") or []
        own = median(own_values) if own_values else float("nan")
        over = summary.p50 - floor.p50
        rows.append(
            (
                op.name if op.handler is None else f"`{op.name}`",
                summary.n,
                f"{summary.p50:.1f}",
                f"{summary.p95:.1f}",
                f"{summary.p99:.1f}",
                f"{ratio(summary.p50, floor.p50):.2f}x",
                f"{own:.1f}",
                f"{summary.p50 - own:.1f}",
                f"{over:+.1f}",
            )
        )
        if op.handler is None:
            continue
        measured_ratio = ratio(summary.p50, floor.p50)
        met = measured_ratio <= LATENCY_TARGET
        path_extra = (summary.p50 - own) - echo_path
        targets.append(
            Target(
                name=f"p50 `{op.name}`",
                target=f"<= {LATENCY_TARGET}x echo",
                measured=f"{summary.p50:.1f} ms, {measured_ratio:.2f}x",
                met=met,
                miss_reason=""
                if met
                else (
                    f"{over:.1f} ms over the echo: its own duration {own:.1f} ms (the echo's "
                    f"{echo_own:.1f}), the path to it {path_extra:+.1f} ms from the echo's"
                    if shared[op.handler] == 1
                    # REPORT lines do not say which route a call answered: the median is the
                    # function's, over all its routes, and cannot split this route's p50.
                    else f"{over:.1f} ms over the echo; its function answers {shared[op.handler]} of the "
                    f"routes above, its own duration over all of them {own:.1f} ms (the echo's "
                    f"{echo_own:.1f})"
                ),
            )
        )
    body = "\n".join(
        [
            f"{rounds} interleaved rounds (each operation once per round, the order rotated each round), "
            "one signed-in client, keep-alive connections; times in ms. *own*: the function's `Duration` "
            "from its REPORT lines over the same requests (median; one function answers all the list "
            "shapes); *path*: p50 minus own, what API Gateway, the Lambda service and the local cloud "
            "add; *over echo*: p50 minus the echo's p50.",
            "",
            table(("operation", "n", "p50", "p95", "p99", "p50 / echo", "own", "path", "over echo"), rows),
        ]
    )
    return Section(
        key="latency",
        title="1. Warm latency against the echo floor",
        machine=watch.machine(),
        commands=["make up", "make bench-latency   # deploys the BenchFloor stack (make bench-floor) first"],
        body=body,
        targets=targets,
        miss_cause=LATENCY_MISS_CAUSE,
    )


def throughput_section(
    results: Mapping[tuple[str, int], list[float]],
    cpu: Mapping[str, list[tuple[float, float]]],
    runs: int,
    watch: Stopwatch,
) -> Section:
    names = list(dict.fromkeys(name for name, _ in results))
    rows = []
    targets = []
    for name in names:
        cells: list[str] = []
        for clients in CLIENTS:
            values = results[(name, clients)]
            echo = median(results[(ECHO, clients)])
            each_run = ", ".join(f"{value:.0f}" for value in values)
            cells.append(f"{median(values):.1f} ({each_run}) {median(values) / echo:.2f}x")
        rows.append((name if name == ECHO else f"`{name}`", *cells))
        if name in ("GET /images/{id}", "GET /images"):
            value = median(results[(name, 4)])
            echo4 = median(results[(ECHO, 4)])
            met = value / echo4 >= THROUGHPUT_TARGET
            targets.append(
                Target(
                    name=f"`{name}` at 4 clients",
                    target=f">= {THROUGHPUT_TARGET}x echo's requests/s",
                    measured=f"{value:.1f} vs {echo4:.1f} req/s ({value / echo4:.2f}x)",
                    met=met,
                    miss_reason=""
                    if met
                    else "on 2 cores shared by the client, the local cloud and its function processes, "
                    "requests per second are CPU time per request: each request of this route is two "
                    "requests through the one LocalStack process (the API call and the function's "
                    "DynamoDB call, section 1b) where the echo's is one, and DynamoDB calls run one at a "
                    "time (moto is not thread-safe). A faster local DynamoDB would fix it, not the route",
                )
            )
    body = "\n".join(
        [
            f"Requests per second: median of {runs} runs (each run's figure in brackets), then the ratio "
            f"to the echo at the same concurrency. Each client makes {REQUESTS_PER_CLIENT} requests on "
            "fresh connections, after an unmeasured burst that warms one execution environment per client.",
            "",
            table(
                ("operation", *(f"{clients} client{'s' if clients > 1 else ''}" for clients in CLIENTS)), rows
            ),
            "",
            "What limits it: CPU milliseconds per request at 4 clients (median of the runs), of the local "
            "cloud's one process (API Gateway, the Lambda service, and DynamoDB and S3 for the functions' "
            "calls) and of the function processes, on 2 cores that the client shares:",
            "",
            table(
                ("operation", "local cloud CPU ms / request", "function CPU ms / request"),
                [
                    (
                        name if name == ECHO else f"`{name}`",
                        f"{median([gateway for gateway, _ in values]):.1f}",
                        f"{median([functions for _, functions in values]):.1f}",
                    )
                    for name, values in cpu.items()
                ],
            ),
        ]
    )
    return Section(
        key="throughput",
        title="2. Throughput",
        machine=watch.machine(),
        commands=["make bench-latency"],
        body=body,
        targets=targets,
    )


# --- cold start: time to first response -----------------------------------------------------------


def first_response_ms(
    function_name: str, call: Callable[[], requests.Response], attempts: int
) -> list[float]:
    """Time to first response of a fresh execution environment, ``attempts`` times.

    Changing a function's configuration makes the Lambda service start new environments for
    it (in AWS as on the local cloud); the description is the one setting nothing reads.
    """
    client = boto3.client("lambda")
    original = client.get_function_configuration(FunctionName=function_name).get("Description", "")
    times = []
    try:
        for _ in range(attempts):
            client.update_function_configuration(
                FunctionName=function_name, Description=f"bench {uuid.uuid4().hex[:8]}"
            )
            client.get_waiter("function_updated_v2").wait(FunctionName=function_name)
            started = time.perf_counter()
            response = call()
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code >= 400:
                raise SystemExit(f"bench: cold call of {function_name} -> {response.status_code}")
    finally:
        client.update_function_configuration(FunctionName=function_name, Description=original)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    service = Service.signed_in()
    try:
        image_id = service.upload()
        service.session.patch(
            f"{service.api}images/{image_id}", json={"visibility": "public"}
        ).raise_for_status()
        ops = operations(service, image_id)
        watch = Stopwatch()
        series, by_function = bench_latency(ops, args.rounds)
        publish(latency_section(series, by_function, ops, args.rounds, watch))
        if not args.skip_throughput:
            watch = Stopwatch()
            results, cpu = bench_throughput(service, image_id, args.runs)
            publish(throughput_section(results, cpu, args.runs, watch))
    finally:
        service.close()


if __name__ == "__main__":
    main()
