"""A route's handler timed inside its function's own host process (section 1b, second table).

``bench.breakdown`` times each handler in the bench's own process; the deployed function's
REPORT ``Duration`` is longer. To see where the difference goes, the deployed function's own
bundle and environment run again, with ``bench/host_probe/bench_probe.py`` wrapped around its
handler (timing the handler, each botocore call and token verification, as the in-process
bench does), in two settings:

* ``ProbedFunction``: a copy of the deployed function (same code, environment, role, memory)
  created in the local cloud and invoked through its Lambda API, so the local cloud's host
  executor runs it and writes its REPORT line: ``Duration`` minus the handler is what the host
  process and the executor add around the handler (the bootstrap reading the event, JSON,
  the pipes, the executor waking up).
* ``DetachedProcess``: the same code and environment in a host process the bench starts itself
  with the same bootstrap (``localcloud_plugins.host_executor``), fed through the same pipes,
  with no invocation of the local cloud around it: its AWS calls still go to the local cloud,
  which is then serving nothing else for this request.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import requests

from bench.stats import union_ms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "localcloud" / "plugins"))
from localcloud_plugins.host_executor.process import RuntimeProcess
from localcloud_plugins.host_executor.runtimes import CONTROL_IN_ENV, CONTROL_OUT_ENV, invocation_message

PROBE = Path(__file__).resolve().parent / "host_probe" / "bench_probe.py"
PROBE_HANDLER = "bench_probe.handler"
_REPORT = re.compile(r"REPORT RequestId: \S+\s+Duration: ([\d.]+) ms")


def _last_line(path: Path) -> dict[str, float]:
    """The probe's figures for the last call: the handler, each part, and ``aws_wall``."""
    raw: dict[str, Any] = json.loads(path.read_text().splitlines()[-1])
    spans = raw.pop("aws_spans", [])
    parts = {name: float(value) for name, value in raw.items()}
    parts["aws_wall"] = union_ms(spans)
    return parts


def invoke_reported(
    lambda_client: Any, function_name: str, event: dict[str, Any]
) -> tuple[dict[str, Any], float]:
    """Invoke a function through the local cloud's Lambda API: its answer and its REPORT ``Duration``.

    The deployed function itself too, beside its probed copy in the same rounds: whether the copy
    runs as long as the function section 1 timed, at the same moment.
    """
    answer = lambda_client.invoke(FunctionName=function_name, Payload=json.dumps(event), LogType="Tail")
    result: dict[str, Any] = json.loads(answer["Payload"].read())
    tail = base64.b64decode(answer.get("LogResult", "")).decode(errors="replace")
    match = _REPORT.search(tail)
    if match is None:
        raise SystemExit(f"bench: no REPORT line in the log tail of {function_name}: {tail[-300:]}")
    return result, float(match.group(1))


class ProbedFunction:
    """A copy of a deployed function with the probe around its handler, run by the local cloud."""

    def __init__(self, lambda_client: Any, function_name: str, workdir: Path) -> None:
        self._lambda = lambda_client
        deployed = lambda_client.get_function(FunctionName=function_name)
        config = deployed["Configuration"]
        bundle = io.BytesIO()
        with (
            zipfile.ZipFile(
                io.BytesIO(requests.get(deployed["Code"]["Location"], timeout=60).content)
            ) as src,
            zipfile.ZipFile(bundle, "w") as copy,
        ):
            for item in src.infolist():
                copy.writestr(item, src.read(item))
            copy.write(PROBE, "bench_probe.py")
        self.name = f"bench-probe-{config['Handler'].split('.')[1]}"
        self.out = workdir / f"{self.name}.jsonl"
        variables = dict(config.get("Environment", {}).get("Variables", {}))
        variables.update(BENCH_PROBE_HANDLER=config["Handler"], BENCH_PROBE_OUT=str(self.out))
        with contextlib.suppress(lambda_client.exceptions.ResourceNotFoundException):
            lambda_client.delete_function(FunctionName=self.name)  # left over by an interrupted run
        lambda_client.create_function(
            FunctionName=self.name,
            Runtime=config["Runtime"],
            Role=config["Role"],
            Handler=PROBE_HANDLER,
            Code={"ZipFile": bundle.getvalue()},
            Environment={"Variables": variables},
            MemorySize=config["MemorySize"],
            Timeout=config["Timeout"],
        )
        lambda_client.get_waiter("function_active_v2").wait(FunctionName=self.name)

    def invoke(self, event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
        """The handler's answer, and the probe's parts with ``duration``: the REPORT line's."""
        result, duration = invoke_reported(self._lambda, self.name, event)
        parts = _last_line(self.out)
        parts["duration"] = duration
        return result, parts

    def live_process(self) -> tuple[list[str], dict[str, str], Path]:
        """Command, environment and directory of this function's warm host process."""
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                raw = (proc / "environ").read_bytes().decode(errors="replace")
                env = dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
                if env.get("AWS_LAMBDA_FUNCTION_NAME") != self.name:
                    continue
                command = (proc / "cmdline").read_bytes().decode().split("\0")[:-1]
                return command, env, Path(os.readlink(proc / "cwd"))
            except OSError:
                continue
        raise SystemExit(f"bench: no warm host process of {self.name} found")

    def close(self) -> None:
        self._lambda.delete_function(FunctionName=self.name)


class DetachedProcess:
    """The probed function's code and environment in a host process of the bench's own."""

    def __init__(self, probed: ProbedFunction, workdir: Path) -> None:
        command, env, code_dir = probed.live_process()
        env = {name: value for name, value in env.items() if name not in (CONTROL_IN_ENV, CONTROL_OUT_ENV)}
        self.out = workdir / f"{probed.name}.detached.jsonl"
        env["BENCH_PROBE_OUT"] = str(self.out)
        self._process = RuntimeProcess(command, env, cwd=code_dir, log_path=workdir / f"{probed.name}.log")
        self._process.start(startup_timeout=30)
        self._arn = f"arn:aws:lambda:us-east-1:000000000000:function:{probed.name}"

    def invoke(self, event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
        """The handler's answer, and the probe's parts with ``duration``: as the executor times it."""
        line = invocation_message(
            {
                "invoke-id": os.urandom(8).hex(),
                "invoked-function-arn": self._arn,
                "payload": json.dumps(event),
            },
            deadline_ms=int(time.time() * 1000) + 30_000,
        )
        started = time.monotonic()
        outcome = self._process.invoke(line, timeout=30)
        duration = (time.monotonic() - started) * 1000
        if outcome.kind != "response":
            raise SystemExit(f"bench: the detached process answered {outcome.kind}: {outcome.payload}")
        parts = _last_line(self.out)
        parts["duration"] = duration
        result: dict[str, Any] = json.loads(outcome.payload)
        return result, parts

    def close(self) -> None:
        self._process.kill()


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="bench-probe-"))
