"""One warm Lambda execution environment: a host process running a bootstrap loop.

The process talks to its executor over two pipes (requests in, answers out); its stdout
and stderr go to a log file, so everything the function prints is kept in order and
can be cut per invocation by file offset. Free of LocalStack imports, so unit tests can
drive it directly.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .runtimes import CONTROL_IN_ENV, CONTROL_OUT_ENV

# How often a waiting invocation looks whether the runtime process is still there.
EXIT_CHECK_SECONDS = 0.2


class RuntimeStartError(Exception):
    """The runtime process did not come up."""


@dataclass
class Outcome:
    """What one invocation produced."""

    kind: str  # "response", "error", "timeout" or "exit"
    payload: Any  # the JSON text of the response, or an error dict
    logs: str


class RuntimeProcess:
    """Starts, feeds, times out and stops one runtime process."""

    def __init__(self, command: list[str], env: dict[str, str], *, cwd: Path, log_path: Path) -> None:
        self._command = command
        self._env = env
        self._cwd = cwd
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._to_child = -1
        self._from_child = -1
        self._buffer = b""
        # Where the next invocation's logs begin: what the process printed while starting
        # belongs to its first invocation, as Lambda reports init output with it.
        self._logs_read_to = 0
        self.init_error: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, startup_timeout: float) -> None:
        """Start the process and wait until it has loaded the handler (or failed to)."""
        request_read, request_write = os.pipe()
        answer_read, answer_write = os.pipe()
        env = dict(self._env)
        env[CONTROL_IN_ENV] = str(request_read)
        env[CONTROL_OUT_ENV] = str(answer_write)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._logs_read_to = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self._command,
                cwd=self._cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(request_read, answer_write),
                # Its own process group, so a timeout kills whatever the function spawned too.
                start_new_session=True,
            )
        os.close(request_read)
        os.close(answer_write)
        self._to_child, self._from_child = request_write, answer_read
        self._buffer = b""
        self.init_error = None
        message = self._read_message(time.monotonic() + startup_timeout)
        if message is None:
            self.kill()
            raise RuntimeStartError(
                f"runtime did not start within {startup_timeout:.0f} s: {self.tail_logs()}"
            )
        if message.get("type") == "init_error":
            # Lambda reports an init failure as the error of each invocation; keep it for those.
            self.init_error = message["error"]
        elif message.get("type") != "ready":
            self.kill()
            raise RuntimeStartError(f"unexpected first message from runtime: {message!r}")

    def invoke(self, request_line: bytes, timeout: float) -> Outcome:
        """Send one invocation and wait for its answer, at most ``timeout`` seconds."""
        offset = self._logs_read_to
        deadline = time.monotonic() + timeout
        try:
            os.write(self._to_child, request_line)
        except OSError:
            self.kill()
            return Outcome("exit", self._proc.returncode if self._proc else None, self._logs_since(offset))
        message = self._read_message(deadline)
        if message is None:
            timed_out = self.running
            self.kill()  # also closes the pipes of a process that exited by itself
            if timed_out:
                return Outcome("timeout", None, self._logs_since(offset))
            return Outcome("exit", self._proc.returncode if self._proc else None, self._logs_since(offset))
        logs = self._logs_since(offset)
        if message["type"] == "response":
            return Outcome("response", message["payload"], logs)
        return Outcome("error", message["error"], logs)

    def _read_message(self, deadline: float) -> dict[str, Any] | None:
        """Read one JSON line from the answer pipe; None on timeout or when the process died."""
        # poll, not select: LocalStack holds many files, and select() fails on fds >= 1024.
        poller = select.poll()
        poller.register(self._from_child, select.POLLIN)
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if not poller.poll(math.ceil(min(remaining, EXIT_CHECK_SECONDS) * 1000)):
                # A process the function started may hold the pipe open after the runtime
                # died, so its end never comes: look at the runtime itself. Whatever it wrote
                # before exiting is read first.
                if self._proc is not None and self._proc.poll() is not None and not poller.poll(0):
                    return None
                continue
            chunk = os.read(self._from_child, 65536)
            if not chunk:  # the process closed its end: it exited (or is about to)
                if self._proc:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self._proc.wait(timeout=1)
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        message: dict[str, Any] = json.loads(line)
        return message

    def _logs_since(self, offset: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            logs = log.read()
        self._logs_read_to = offset + len(logs)
        return logs.decode(errors="replace")

    def tail_logs(self, limit: int = 4000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-limit:].decode(errors="replace")

    def max_memory_mb(self) -> int:
        """Resident memory of the process, in MB (what Lambda's REPORT line calls memory used)."""
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) // 1024
        except (OSError, ValueError):
            pass
        return 0

    def kill(self) -> None:
        """Kill the process and whatever it started (its process group), and close the pipes."""
        if self._proc is not None:
            # Also when the process itself has exited: children it spawned may live on.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        for fd in (self._to_child, self._from_child):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._to_child = self._from_child = -1
