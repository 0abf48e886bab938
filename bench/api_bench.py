"""Latency and throughput of the deployed API on the local cloud, against a floor.

    make bench            # deploys if needed, then runs this

Timings on a shared machine say little on their own, so every figure is also given as a
ratio to a floor measured in the same run, interleaved with the operations: a request to
the local cloud's own health endpoint, which crosses the same loopback HTTP gateway but
no API Gateway, Lambda, DynamoDB or S3. The ratio is what to compare between runs and
commits. Bounded in requests and in time; loopback only. Whatever it creates it deletes.
Requests carry a bearer token of the local development issuer, as every client's must.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from PIL import Image

from localcloud.dev_issuer import DevIssuer
from localcloud.outputs import api_url, stack_outputs

ROUNDS = 60  # requests per operation, interleaved round-robin with the floor
TIME_LIMIT_SECONDS = 120
CONCURRENCY = 4
CONCURRENT_REQUESTS = 80


@dataclass
class Series:
    name: str
    seconds: list[float]

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def timed(call: Callable[[], requests.Response], expected: int) -> float:
    started = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - started
    if response.status_code != expected:
        raise SystemExit(
            f"bench: {response.request.method} {response.url} -> {response.status_code}: {response.text}"
        )
    return elapsed


def upload_image(session: requests.Session, api: str) -> str:
    """One available image to read, through the real upload path (the session's user owns it)."""
    grant = session.post(f"{api}images/upload", params={"tags": "bench", "content_type": "image/png"})
    grant.raise_for_status()
    body = grant.json()
    data = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(data, "PNG")
    upload = body["upload"]
    posted = requests.post(
        upload["url"], data=upload["fields"], files={"file": ("bench.png", data.getvalue())}, timeout=30
    )
    posted.raise_for_status()
    image_id: str = body["image_id"]
    deadline = time.monotonic() + 30
    while session.get(f"{api}images/{image_id}").json().get("status") != "available":
        if time.monotonic() > deadline:
            raise SystemExit("bench: the uploaded image did not become available within 30 s")
        time.sleep(0.2)
    return image_id


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--outputs", type=Path, default=Path(".localcloud/outputs.json"))
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    api = api_url(stack_outputs(args.outputs))
    origin = api.split("/_aws/")[0]
    session = requests.Session()
    user = f"bench-{uuid.uuid4().hex[:8]}"
    # Valid for an hour; the bench is bounded to a few minutes.
    session.headers["Authorization"] = f"Bearer {DevIssuer.load().token(user)}"
    created: list[str] = []
    try:
        image_id = upload_image(session, api)
        created.append(image_id)

        def request_upload() -> requests.Response:
            response = session.post(f"{api}images/upload", params={"content_type": "image/png"})
            if response.status_code == 201:
                created.append(response.json()["image_id"])
            return response

        operations: dict[str, tuple[Callable[[], requests.Response], int]] = {
            "floor: gateway health": (lambda: session.get(f"{origin}/_localstack/health"), 200),
            "GET /images/{id}": (lambda: session.get(f"{api}images/{image_id}"), 200),
            "GET /images (own)": (lambda: session.get(f"{api}images"), 200),
            "GET /images?tag&from": (
                lambda: session.get(f"{api}images", params={"tag": "bench", "from": "2000-01-01"}),
                200,
            ),
            "GET /images/{id}/download": (lambda: session.get(f"{api}images/{image_id}/download"), 200),
            "POST /images/upload": (request_upload, 201),
        }
        # Warm every function once: cold starts are not what this measures.
        for call, expected in operations.values():
            timed(call, expected)

        series = {name: Series(name, []) for name in operations}
        deadline = time.monotonic() + TIME_LIMIT_SECONDS
        for _ in range(args.rounds):
            if time.monotonic() > deadline:
                break
            for name, (call, expected) in operations.items():
                series[name].seconds.append(timed(call, expected))

        throughput = {
            "floor: gateway health": concurrent_rate(lambda: session.get(f"{origin}/_localstack/health")),
            "GET /images/{id}": concurrent_rate(
                lambda: requests.get(f"{api}images/{image_id}", headers=session.headers, timeout=30)
            ),
        }
        report(series, throughput, args.json)
    finally:
        for created_id in created:
            session.delete(f"{api}images/{created_id}")


def concurrent_rate(call: Callable[[], requests.Response]) -> float:
    """Requests per second with CONCURRENCY clients in parallel."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        statuses = list(pool.map(lambda _: call().status_code, range(CONCURRENT_REQUESTS)))
    elapsed = time.perf_counter() - started
    if any(status >= 400 for status in statuses):
        raise SystemExit(f"bench: concurrent requests failed: {sorted(set(statuses))}")
    return CONCURRENT_REQUESTS / elapsed


def report(series: dict[str, Series], throughput: dict[str, float], json_path: Path | None) -> None:
    floor = series["floor: gateway health"]
    floor_p50 = statistics.median(floor.seconds)
    rows: list[dict[str, Any]] = []
    print(f"{'operation':30} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'p50 / floor':>12}")
    for item in series.values():
        p50 = statistics.median(item.seconds)
        row = {
            "operation": item.name,
            "n": len(item.seconds),
            "p50_ms": round(p50 * 1000, 2),
            "p95_ms": round(item.percentile(0.95) * 1000, 2),
            "p99_ms": round(item.percentile(0.99) * 1000, 2),
            "p50_ratio_to_floor": round(p50 / floor_p50, 1),
        }
        rows.append(row)
        print(
            f"{row['operation']:30} {row['n']:>4} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['p99_ms']:>8} "
            f"{row['p50_ratio_to_floor']:>11}x"
        )
    floor_rate = throughput["floor: gateway health"]
    print(f"\nthroughput with {CONCURRENCY} parallel clients, {CONCURRENT_REQUESTS} requests each series:")
    for name, rate in throughput.items():
        print(f"  {name:30} {rate:8.1f} req/s   {rate / floor_rate:6.2f} of floor")
    if json_path:
        json_path.write_text(json.dumps({"latency": rows, "throughput_rps": throughput}, indent=2) + "\n")


if __name__ == "__main__":
    main()
