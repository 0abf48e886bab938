"""Upload path: how many bytes go through Lambda per upload, and the largest upload straight to S3.

    make bench-upload       # python -m bench.upload_path

One upload of exactly the largest size the stage allows (``MAX_UPLOAD_BYTES`` of the deployed
upload function): a valid PNG padded to that size with a private ancillary chunk, which
decoders skip. It goes through the real flow (upload request, presigned POST straight to S3,
processing notified by S3, polled until available), and one byte more is refused by S3
itself (the POST policy's ``content-length-range``). Every invocation of the stack's functions
in that window is then read back from the local cloud's own accounting (the ``LOCALCLOUD
PAYLOAD`` line after each REPORT line, ``localcloud/plugins/.../host_executor``): bytes in and
out of each function, beside the image's bytes.
"""

from __future__ import annotations

import argparse
import re
import struct
import time
import zlib
from collections import defaultdict

import boto3
import requests

from bench.api import SERVICE_STACK_PREFIX, Service, log_events, now_ms
from bench.images import tiny_png
from bench.report import Section, Stopwatch, Target, publish, table

_PAYLOAD = re.compile(r"LOCALCLOUD PAYLOAD RequestId: (\S+)\s+Request: (\d+) bytes\s+Response: (\d+) bytes")
PADDING_CHUNK = b"prVt"  # ancillary (p), private (r), reserved bit clear (V), safe to copy (t)


def padded_png(size: int) -> bytes:
    """A valid PNG of exactly ``size`` bytes: a small picture and one chunk decoders skip."""
    base = tiny_png()
    iend = base.rindex(b"IEND") - 4  # the IEND chunk starts with its length
    padding = size - len(base) - 12  # a chunk's length, type and CRC
    if padding < 0:
        raise ValueError(f"{size} bytes is smaller than the picture itself")
    payload = bytes(padding)
    chunk = struct.pack(">I", padding) + PADDING_CHUNK + payload
    chunk += struct.pack(">I", zlib.crc32(PADDING_CHUNK + payload) & 0xFFFFFFFF)
    data = base[:iend] + chunk + base[iend:]
    assert len(data) == size
    return data


def function_payloads(since: int) -> dict[str, list[tuple[int, int]]]:
    """(request bytes, response bytes) of each invocation of the image service's functions since ``since``."""
    lambda_client, logs = boto3.client("lambda"), boto3.client("logs")
    found: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for page in lambda_client.get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            name = function["FunctionName"]
            if not name.startswith(SERVICE_STACK_PREFIX):
                continue
            for event in log_events(logs, f"/aws/lambda/{name}", since, '"LOCALCLOUD PAYLOAD"'):
                if match := _PAYLOAD.search(event["message"]):
                    found[function.get("Handler", name)].append((int(match.group(2)), int(match.group(3))))
    return found


def main() -> None:
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    watch = Stopwatch()
    service = Service.signed_in()
    functions = boto3.client("lambda")
    upload_function = next(
        f["FunctionName"]
        for page in functions.get_paginator("list_functions").paginate()
        for f in page["Functions"]
        if f.get("Handler") == "image_api.upload.handler"
        and f["FunctionName"].startswith(SERVICE_STACK_PREFIX)
    )
    variables = functions.get_function_configuration(FunctionName=upload_function)["Environment"]["Variables"]
    limit = int(variables["MAX_UPLOAD_BYTES"])
    try:
        # One byte over: S3 refuses it, before any function sees anything.
        over = service.session.post(f"{service.api}images/upload", params={"content_type": "image/png"})
        over.raise_for_status()
        grant = over.json()
        service.created.append(grant["image_id"])
        refused = requests.post(
            grant["upload"]["url"],
            data=grant["upload"]["fields"],
            files={"file": ("over.png", padded_png(limit + 1))},
            timeout=120,
        )
        since = now_ms()
        started = time.perf_counter()
        service.upload(padded_png(limit), content_type="image/png")
        flow_seconds = time.perf_counter() - started
        time.sleep(2)  # the last log lines reach CloudWatch Logs
        payloads = function_payloads(since)
    finally:
        service.close()
    rows = []
    total = 0
    largest = 0
    for handler, calls in sorted(payloads.items()):
        sent = sum(request for request, _ in calls)
        answered = sum(response for _, response in calls)
        total += sent + answered
        largest = max(largest, *(max(request, response) for request, response in calls))
        rows.append(
            (f"`{handler}`", len(calls), f"{sent:,}", f"{answered:,}", f"{max(r for r, _ in calls):,}")
        )
    met = largest < limit // 1000 and refused.status_code == 400
    body = "\n".join(
        [
            f"One upload of {limit:,} bytes (the stage's `MAX_UPLOAD_BYTES`, a valid PNG) through the "
            f"whole flow in {flow_seconds:.1f} s: upload request, presigned POST straight to S3, "
            f"processing, polled until available. The same POST with {limit + 1:,} bytes: S3 answered "
            f"**{refused.status_code}** (`{_error_code(refused.text)}`), no function involved.",
            "",
            "Every invocation of the service's functions in that window, from the local cloud's payload "
            "accounting (bytes of the event in, of the answer out):",
            "",
            table(("function", "invocations", "bytes in", "bytes out", "largest event"), rows),
            "",
            f"All payloads together: {total:,} bytes for a {limit:,}-byte upload; the largest single "
            f"payload {largest:,} bytes. None can hold the image: **0 image bytes pass through Lambda "
            "invocations** (API Gateway and Lambda see only the request for an upload and the answers; "
            "S3 takes the bytes). The processing function does read the object from S3 (GetObject) to "
            "verify it and make its variants: that is its work, not a transfer through Lambda.",
        ]
    )
    targets = [
        Target(
            name="bytes through Lambda per upload",
            target="0 image bytes; the largest allowed upload straight to S3",
            measured=f"largest payload {largest:,} B for a {limit:,} B upload; one byte more: S3 "
            f"{refused.status_code}",
            met=met,
            miss_reason="" if met else "see section 6",
        )
    ]
    publish(
        Section(
            key="upload_path",
            title="6. Upload path",
            machine=watch.machine(),
            commands=["make bench-upload   # python -m bench.upload_path"],
            body=body,
            targets=targets,
        )
    )


def _error_code(text: str) -> str:
    match = re.search(r"<Code>([^<]+)</Code>", text)
    return match.group(1) if match else text[:60]


if __name__ == "__main__":
    main()
