"""Cold start, part two: time to first response of a fresh execution environment.

    make bench-coldstart

For the echo function, a bare handler that imports only boto3 (``bench/app.py``) and each
API route: a configuration change (the description, which nothing reads) makes the Lambda
service start a new environment for the function, and the next request is timed by the
client: process start, imports, the first request's own work (clients, keys) and the path.
``--attempts`` per function, interleaved; the description is restored afterwards.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import requests

from bench.api import Service, floor_outputs, floor_url, service_functions
from bench.latency import first_response_ms
from bench.report import Section, Stopwatch, Target, publish, table
from bench.stats import median


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--attempts", type=int, default=3)
    args = parser.parse_args()
    watch = Stopwatch()
    service = Service.signed_in()
    try:
        image_id = service.upload()
        api, session = service.api, service.session
        functions = service_functions()
        floor = floor_outputs()
        cases: dict[str, tuple[str, Callable[[], requests.Response]]] = {
            "echo function (floor)": (floor["EchoFunctionName"], lambda: session.get(floor_url("echo"))),
            "bare handler importing boto3": (
                floor["Boto3OnlyFunctionName"],
                lambda: session.get(floor_url("boto3")),
            ),
            "GET /images/{id}": (
                functions["image_api.get_image.handler"],
                lambda: session.get(f"{api}images/{image_id}"),
            ),
            "GET /images": (functions["image_api.list_images.handler"], lambda: session.get(f"{api}images")),
            "GET /images/{id}/download": (
                functions["image_api.download.handler"],
                lambda: session.get(f"{api}images/{image_id}/download"),
            ),
            "GET /openapi.json": (
                functions["image_api.contract.handler"],
                lambda: session.get(f"{api}openapi.json"),
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.attempts):
            for name, (function, call) in cases.items():
                times[name] += first_response_ms(function, call, 1)
    finally:
        service.close()
    floor_ms = median(times["bare handler importing boto3"])
    rows = [
        (
            name,
            *(f"{value:.0f}" for value in values),
            f"{median(values):.0f}",
            f"{median(values) / floor_ms:.2f}x",
        )
        for name, values in times.items()
    ]
    body = "\n".join(
        [
            f"Time to first response, ms, of a fresh execution environment ({args.attempts} attempts each, "
            "interleaved), as the client sees it; ratio to the bare handler that imports only boto3. "
            "On the local cloud a fresh environment is a new host process of the Lambda Python, with "
            "the bundle on its path (as /var/task).",
            "",
            table(("function", *(f"#{n + 1}" for n in range(args.attempts)), "median", "/ boto3 only"), rows),
        ]
    )
    worst = max(
        (name for name in times if name.startswith(("GET", "POST"))), key=lambda name: median(times[name])
    )
    targets = [
        Target(
            name="time to first response (informative)",
            target="reported beside a bare handler importing boto3",
            measured=f"slowest route {worst}: {median(times[worst]):.0f} ms vs {floor_ms:.0f} ms",
            met=True,
        )
    ]
    publish(
        Section(
            key="cold_start",
            title="3b. Cold start: time to first response",
            machine=watch.machine(),
            commands=["make bench-coldstart"],
            body=body,
            targets=targets,
        )
    )


if __name__ == "__main__":
    main()
