"""How a Lambda function becomes a host process: the parts that do not need LocalStack.

Kept free of LocalStack imports so the unit tests can exercise them with any Python.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

BOOTSTRAP_DIR = Path(__file__).parent
PYTHON_BOOTSTRAP = BOOTSTRAP_DIR / "bootstrap.py"
NODE_BOOTSTRAP = BOOTSTRAP_DIR / "bootstrap.js"

# Set by the local cloud's start command (localcloud/cli.py); defaults suit a venv install.
PYTHON_ENV = "LOCALCLOUD_LAMBDA_PYTHON"
NODE_ENV = "LOCALCLOUD_NODE"
NODE_PATH_ENV = "LOCALCLOUD_NODE_PATH"

# File descriptors of the control pipes, as the child sees them.
CONTROL_IN_ENV = "_LOCALCLOUD_CONTROL_IN"
CONTROL_OUT_ENV = "_LOCALCLOUD_CONTROL_OUT"

# What the host passes through from its own environment; everything else the function
# sees comes from LocalStack (the Lambda-defined variables) or the function's configuration.
_HOST_PASSTHROUGH = ("PATH", "HOME", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


class UnsupportedRuntimeError(Exception):
    """The function's runtime cannot be served by host processes on this machine."""


@dataclass(frozen=True)
class HostRuntime:
    """The interpreter that runs a Lambda runtime family on this host."""

    family: str  # "python" or "nodejs"
    interpreter: str

    def command(self) -> list[str]:
        if self.family == "python":
            # -B: never write __pycache__ into the function's unzipped code.
            return [self.interpreter, "-B", str(PYTHON_BOOTSTRAP)]
        return [self.interpreter, str(NODE_BOOTSTRAP)]


def resolve_runtime(runtime: str | None, host_env: Mapping[str, str] | None = None) -> HostRuntime:
    """Map a Lambda runtime name (``python3.13``, ``nodejs20.x``) to a host interpreter."""
    env = os.environ if host_env is None else host_env
    if runtime is None:
        raise UnsupportedRuntimeError(
            "container-image functions cannot run as host processes; use a zip package with a "
            "python3.x or nodejs runtime"
        )
    if runtime.startswith("python3"):
        return HostRuntime("python", env.get(PYTHON_ENV) or sys.executable)
    if runtime.startswith("nodejs"):
        node = env.get(NODE_ENV) or shutil.which("node", path=env.get("PATH", os.defpath))
        if not node:
            raise UnsupportedRuntimeError(f"runtime {runtime} needs Node.js, and no `node` is on PATH")
        return HostRuntime("nodejs", node)
    raise UnsupportedRuntimeError(
        f"runtime {runtime} cannot be served by the local cloud's host executor "
        "(it runs python3.x functions with Python 3.13 and nodejs functions with the host's node)"
    )


def process_environment(
    lambda_env: Mapping[str, object],
    *,
    code_dir: Path,
    runtime: HostRuntime,
    host_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a function's process.

    LocalStack hands over the variables a Lambda container would get (some as ints); the
    paths that point into the container (``/var/task``) are replaced by host paths.
    """
    host = os.environ if host_env is None else host_env
    env = {name: host[name] for name in _HOST_PASSTHROUGH if name in host}
    env.update({name: str(value) for name, value in lambda_env.items()})
    env["LAMBDA_TASK_ROOT"] = str(code_dir)
    env["LAMBDA_RUNTIME_DIR"] = str(BOOTSTRAP_DIR)
    env.setdefault("LANG", "C.UTF-8")
    if runtime.family == "python":
        # The function's own code and bundled dependencies come first, as /var/task does in Lambda.
        env["PYTHONPATH"] = str(code_dir)
        env["PYTHONUNBUFFERED"] = "1"
    else:
        node_path = host.get(NODE_PATH_ENV, "")
        if node_path:
            env["NODE_PATH"] = node_path
    return env


def timeout_error(request_id: str, timeout_seconds: float) -> dict[str, str]:
    """The error payload Lambda returns for an invocation that ran out of time."""
    return {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout_seconds:.2f} seconds",
    }


def exit_error(request_id: str, returncode: int | None) -> dict[str, str]:
    """The error payload for a runtime process that died in the middle of an invocation."""
    return {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status {returncode}",
    }


def invocation_message(payload: Mapping[str, str], *, deadline_ms: int) -> bytes:
    """The line sent to the runtime process for one invocation."""
    message = {
        "request_id": payload["invoke-id"],
        "invoked_function_arn": payload["invoked-function-arn"],
        "payload": payload["payload"],
        "trace_id": payload.get("trace-id", ""),
        "deadline_ms": deadline_ms,
    }
    return (json.dumps(message) + "\n").encode()


def payload_line(request_id: str, *, request_bytes: int, response_bytes: int) -> str:
    """The local cloud's own accounting of an invocation's payloads (AWS writes no such line).

    After the REPORT line, so that a benchmark can show how many bytes went through a function
    (``bench/upload_path.py``: none of an upload's image bytes do).
    """
    return (
        f"LOCALCLOUD PAYLOAD RequestId: {request_id}\t"
        f"Request: {request_bytes} bytes\tResponse: {response_bytes} bytes\n"
    )


def report_lines(request_id: str, *, duration_ms: float, memory_mb: int, max_memory_mb: int) -> str:
    """The END and REPORT lines Lambda writes after each invocation."""
    billed = max(1, int(duration_ms + 0.999))
    return (
        f"END RequestId: {request_id}\n"
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: {max_memory_mb} MB\n"
    )
