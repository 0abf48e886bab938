"""LocalStack's Lambda runtime executor, with host processes instead of containers.

LocalStack's Lambda service decides when to start, reuse and stop execution
environments (one invocation at a time per environment, more environments for
concurrent calls, idle ones stopped after ``LAMBDA_KEEPALIVE_MS``); this executor only
provides them. Each environment is a ``RuntimeProcess``. Timeouts are enforced here, as
the runtime interface emulator does in a container: the process is killed, the call is
reported as ``Sandbox.Timedout``, and the next call starts a fresh process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from localstack import config
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor

from .process import Outcome, RuntimeProcess, RuntimeStartError
from .runtimes import (
    exit_error,
    invocation_message,
    payload_line,
    process_environment,
    report_lines,
    resolve_runtime,
    timeout_error,
)

LOG = logging.getLogger(__name__)

# Lambda gives a function's init phase 10 s; a cold host process needs far less.
STARTUP_TIMEOUT_SECONDS = 10.0


def _logs_dir() -> Path:
    return Path(config.dirs.tmp) / "localcloud-lambda"


class HostRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self._process: RuntimeProcess | None = None
        self._env: dict[str, str] = {}
        self._lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------

    def start(self, env_vars: dict[str, str]) -> None:
        version = self.function_version
        runtime = resolve_runtime(version.config.runtime)
        code_dir = version.config.code.get_unzipped_code_location()
        self._env = process_environment(env_vars, code_dir=code_dir, runtime=runtime)
        # Where custom-resource functions send their answers (see custom_resource.py).
        self._env["LOCALCLOUD_CFN_RESPONSE_ORIGIN"] = f"http://127.0.0.1:{config.GATEWAY_LISTEN[0].port}"
        log_path = _logs_dir() / version.id.function_name / f"{self.id}.log"
        self._process = RuntimeProcess(runtime.command(), self._env, cwd=code_dir, log_path=log_path)
        self._start_process()

    def _start_process(self) -> None:
        assert self._process is not None
        try:
            self._process.start(STARTUP_TIMEOUT_SECONDS)
        except RuntimeStartError as exc:
            raise LambdaRuntimeException(f"{self.function_version.id.function_name}: {exc}") from exc
        LOG.debug(
            "Started host runtime pid %s for %s", self._process.pid, self.function_version.qualified_arn
        )

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.log_path.unlink(missing_ok=True)

    # --- addresses: the process talks over pipes, LocalStack is on loopback -----------

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        # Used by LocalStack to build AWS_ENDPOINT_URL for the function: loopback, so
        # boto3 and the AWS SDK inside the function reach the local cloud offline.
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        return f"http://127.0.0.1:{config.GATEWAY_LISTEN[0].port}/_localstack_lambda/{self.id}"

    # --- invocations ---------------------------------------------------------------------

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        timeout = float(self.function_version.config.timeout)
        with self._lock:
            assert self._process is not None
            if not self._process.running and self._process.init_error is None:
                # The previous call timed out or crashed the runtime: start afresh (a cold start).
                self._start_process()
            started = time.monotonic()
            header = f"START RequestId: {request_id} Version: {self.function_version.id.qualifier}\n"
            if self._process.init_error is not None:
                outcome = Outcome("error", self._process.init_error, "")
            else:
                deadline_ms = int(time.time() * 1000 + timeout * 1000)
                line = invocation_message(payload, deadline_ms=deadline_ms)
                outcome = self._process.invoke(line, timeout)
            duration_ms = (time.monotonic() - started) * 1000
        logs = header + outcome.logs
        if outcome.kind == "timeout":
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
            logs += f"{stamp} {request_id} Task timed out after {timeout:.2f} seconds\n"
        logs += report_lines(
            request_id,
            duration_ms=duration_ms,
            memory_mb=int(self.function_version.config.memory_size),
            max_memory_mb=self._process.max_memory_mb(),
        )
        logs += payload_line(
            request_id,
            request_bytes=len(str(payload.get("payload", "")).encode()),
            response_bytes=len(
                outcome.payload.encode()
                if isinstance(outcome.payload, str)
                else json.dumps(outcome.payload).encode()
            ),
        )
        if outcome.kind == "response":
            return InvocationResult(request_id, outcome.payload.encode(), is_error=False, logs=logs)
        if outcome.kind == "timeout":
            error = timeout_error(request_id, timeout)
        elif outcome.kind == "exit":
            error = exit_error(request_id, outcome.payload)
        else:
            error = outcome.payload
        return InvocationResult(request_id, json.dumps(error).encode(), is_error=True, logs=logs)

    def get_logs(self) -> str:
        return self._process.tail_logs(limit=1 << 20) if self._process else ""

    # --- versions --------------------------------------------------------------------------

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        # Fails the function (state Failed, with this message as the reason) when its
        # runtime cannot be served here, instead of at its first invocation.
        resolve_runtime(function_version.config.runtime)
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing to clean: the unzipped code belongs to LocalStack."""

    @classmethod
    def validate_environment(cls) -> bool:
        return True
