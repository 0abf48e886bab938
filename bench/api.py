"""What the benchmarks of the deployed API share: where it is, a signed-in session, the floor.

The floor of every route is ``BenchFloor``'s echo function (``bench/app.py``): a bare Python
function behind a REST API on the same local cloud, so that a route's ratio to it is what
our own code (and the AWS calls it makes) adds to a request.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from PIL import Image

from localcloud.dev_issuer import DevIssuer
from localcloud.outputs import api_url, stack_outputs

SERVICE_OUTPUTS = Path(".localcloud/outputs.json")
FLOOR_OUTPUTS = Path(".localcloud/bench-outputs.json")
FLOOR_STACK = "BenchFloor"
SERVICE_STACK_PREFIX = "ImageService-"


def origin() -> str:
    return f"http://127.0.0.1:{os.environ.get('LOCALCLOUD_PORT', '4566')}"


def floor_outputs(path: Path = FLOOR_OUTPUTS) -> dict[str, str]:
    if not path.exists():
        raise SystemExit(f"{path} does not exist: make bench-floor deploys the bench stack")
    outputs: dict[str, str] = json.loads(path.read_text())[FLOOR_STACK]
    return outputs


def floor_url(path: str, outputs: dict[str, str] | None = None) -> str:
    api_id = (outputs or floor_outputs())["ApiId"]
    return f"{origin()}/_aws/execute-api/{api_id}/bench/{path}"


@dataclass
class Service:
    """The deployed image service, a user signed in to it, and what the bench created (deleted on close)."""

    api: str
    session: requests.Session
    user: str
    created: list[str] = field(default_factory=list)

    @classmethod
    def signed_in(cls, outputs_path: Path = SERVICE_OUTPUTS) -> Service:
        session = requests.Session()
        user = f"bench-{uuid.uuid4().hex[:8]}"
        # Valid for an hour; every benchmark is bounded to minutes.
        session.headers["Authorization"] = f"Bearer {DevIssuer.load().token(user)}"
        return cls(api=api_url(stack_outputs(outputs_path)), session=session, user=user)

    def upload(self, data: bytes | None = None, content_type: str = "image/png", tags: str = "bench") -> str:
        """One image through the real upload path, waited for until available."""
        grant = self.session.post(
            f"{self.api}images/upload", params={"tags": tags, "content_type": content_type}
        )
        grant.raise_for_status()
        body = grant.json()
        image_id: str = body["image_id"]
        self.created.append(image_id)
        if data is None:
            buffer = io.BytesIO()
            Image.new("RGB", (64, 64), (10, 120, 200)).save(buffer, "PNG")
            data = buffer.getvalue()
        upload = body["upload"]
        posted = requests.post(
            upload["url"], data=upload["fields"], files={"file": ("bench", data)}, timeout=60
        )
        posted.raise_for_status()
        deadline = time.monotonic() + 60
        while (
            status := self.session.get(f"{self.api}images/{image_id}").json().get("status")
        ) != "available":
            if status in ("rejected", "failed") or time.monotonic() > deadline:
                raise SystemExit(f"bench: upload {image_id} ended {status}")
            time.sleep(0.2)
        return image_id

    def close(self) -> None:
        for image_id in self.created:
            self.session.delete(f"{self.api}images/{image_id}")


def service_functions() -> dict[str, str]:
    """Handler -> function name of the deployed image service's functions."""
    client = boto3.client("lambda")
    found: dict[str, str] = {}
    for page in client.get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            if function["FunctionName"].startswith(SERVICE_STACK_PREFIX) and "Handler" in function:
                found[function["Handler"]] = function["FunctionName"]
    return found


_REPORT = re.compile(r"REPORT RequestId: (\S+)\s+Duration: ([\d.]+) ms")


def reported_durations(function_name: str, since_ms: int) -> list[float]:
    """The ``Duration`` of each invocation of ``function_name`` since ``since_ms`` (its REPORT lines)."""
    logs = boto3.client("logs")
    durations = []
    for event in log_events(logs, f"/aws/lambda/{function_name}", since_ms, "REPORT"):
        if match := _REPORT.search(event["message"]):
            durations.append(float(match.group(2)))
    return durations


def log_events(logs: Any, group: str, since_ms: int, pattern: str) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"logGroupName": group, "startTime": since_ms, "filterPattern": pattern}
    try:
        while True:
            page = logs.filter_log_events(**kwargs)
            yield from page.get("events", [])
            if not page.get("nextToken"):
                return
            kwargs["nextToken"] = page["nextToken"]
    except logs.exceptions.ResourceNotFoundException:
        return


def now_ms() -> int:
    return int(time.time() * 1000)


LOCALCLOUD_PID_FILE = Path(".localcloud/localstack.pid")
_TICKS = os.sysconf("SC_CLK_TCK")


def _process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime: fields 14 and 15 of stat, 12 and 13 after the command name.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def localcloud_cpu_seconds() -> tuple[float, float]:
    """CPU seconds used so far by the local cloud's process and by its function processes (alive ones)."""
    pid = int(LOCALCLOUD_PID_FILE.read_text())
    return _process_cpu_seconds(pid), sum(_process_cpu_seconds(child) for child in _descendants(pid))
