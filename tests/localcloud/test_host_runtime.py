"""The host executor's LocalStack-free parts: runtime mapping and real runtime processes.

No network and no LocalStack: functions run as child processes of the test (Python with
this interpreter, Node.js with the `node` on PATH), exactly as the executor starts them.
Needs `localcloud/plugins` on the import path (pytest's `pythonpath`).
"""

from __future__ import annotations

import http.server
import json
import os
import resource
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from localcloud_plugins.host_executor.process import Outcome, RuntimeProcess
from localcloud_plugins.host_executor.runtimes import (
    BOOTSTRAP_DIR,
    NODE_PATH_ENV,
    PYTHON_ENV,
    HostRuntime,
    UnsupportedRuntimeError,
    exit_error,
    invocation_message,
    payload_line,
    process_environment,
    report_lines,
    resolve_runtime,
    timeout_error,
)

NODE = shutil.which("node")
# Node.js is a requirement of the project (the CDK CLI), so a missing one fails, never skips.
needs_node = pytest.mark.usefixtures("node_on_path")


@pytest.fixture
def node_on_path() -> None:
    assert NODE is not None, "node is not on PATH: install Node.js 20 (the project needs it for the CDK CLI)"


STARTUP_TIMEOUT = 10.0
# Behaviour, not performance: how much later than its limit a timed-out call may come back.
TIMEOUT_MARGIN = 3.0
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


def lambda_variables(handler: str, timeout: float) -> dict[str, object]:
    """What LocalStack hands to the executor's start(): some values are ints."""
    return {
        "_HANDLER": handler,
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 128,
        "AWS_LAMBDA_FUNCTION_TIMEOUT": int(timeout),
        "AWS_REGION": "us-east-1",
        "LAMBDA_TASK_ROOT": "/var/task",
    }


class Function:
    """A function's code, its runtime process and a way to invoke it as the executor does."""

    def __init__(self, process: RuntimeProcess, timeout: float, code_dir: Path) -> None:
        self.process = process
        self.timeout = timeout
        self.code_dir = code_dir

    def invoke(self, event: Any = None, request_id: str | None = None) -> Outcome:
        request_id = request_id or str(uuid.uuid4())
        payload = {
            "invoke-id": request_id,
            "invoked-function-arn": FUNCTION_ARN,
            "payload": json.dumps(event if event is not None else {}),
            "trace-id": "Root=1-00000000-000000000000000000000000",
        }
        deadline_ms = int(time.time() * 1000 + self.timeout * 1000)
        line = invocation_message(payload, deadline_ms=deadline_ms)
        return self.process.invoke(line, self.timeout)


StartFunction = Callable[..., Function]


@pytest.fixture
def start_function(tmp_path: Path) -> Iterator[StartFunction]:
    """Write a function's files, start its runtime process; every process is killed afterwards."""
    processes: list[RuntimeProcess] = []

    def start(
        runtime: str,
        files: dict[str, str],
        handler: str,
        *,
        timeout: float = 3.0,
        extra_env: dict[str, str] | None = None,
        host_env: dict[str, str] | None = None,
        command: list[str] | None = None,
    ) -> Function:
        code_dir = tmp_path / f"code-{len(processes)}"
        for name, text in files.items():
            (code_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (code_dir / name).write_text(dedent(text))
        host = {"PATH": os.environ.get("PATH", os.defpath), PYTHON_ENV: sys.executable, **(host_env or {})}
        host_runtime = resolve_runtime(runtime, host_env=host)
        env = process_environment(
            lambda_variables(handler, timeout), code_dir=code_dir, runtime=host_runtime, host_env=host
        )
        env.update(extra_env or {})
        process = RuntimeProcess(
            command or host_runtime.command(),
            env,
            cwd=code_dir,
            log_path=tmp_path / "logs" / f"{len(processes)}.log",
        )
        processes.append(process)
        process.start(STARTUP_TIMEOUT)
        return Function(process, timeout, code_dir)

    yield start
    for process in processes:
        process.kill()


def _gone(pid: int) -> bool:
    """The process no longer runs (it does not exist, or is a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# --- resolve_runtime -----------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["python3.12", "python3.13"])
def test_given_python_runtime_when_resolved_then_the_configured_lambda_python_runs_it(runtime: str) -> None:
    resolved = resolve_runtime(runtime, host_env={PYTHON_ENV: "/opt/lambda-python/bin/python"})

    assert resolved == HostRuntime("python", "/opt/lambda-python/bin/python")
    assert resolved.command()[0] == "/opt/lambda-python/bin/python"
    assert resolved.command()[-1].endswith("bootstrap.py")


@needs_node
@pytest.mark.parametrize("runtime", ["nodejs20.x", "nodejs22.x"])
def test_given_nodejs_runtime_when_resolved_then_the_host_node_runs_it(runtime: str) -> None:
    resolved = resolve_runtime(runtime, host_env={"PATH": os.environ["PATH"]})

    assert resolved.family == "nodejs"
    assert Path(resolved.interpreter).name == "node"
    assert resolved.command()[-1].endswith("bootstrap.js")


@pytest.mark.parametrize("runtime", ["java21", "provided.al2023", "dotnet8", "python2.7"])
def test_given_runtime_without_host_interpreter_when_resolved_then_the_error_names_it_and_what_works(
    runtime: str,
) -> None:
    with pytest.raises(UnsupportedRuntimeError) as raised:
        resolve_runtime(runtime, host_env={})

    message = str(raised.value)
    assert runtime in message
    assert "python3.x" in message
    assert "nodejs" in message


def test_given_container_image_function_when_resolved_then_the_error_says_to_use_a_zip_package() -> None:
    with pytest.raises(UnsupportedRuntimeError, match=r"container-image.*zip package.*python3\.x.*nodejs"):
        resolve_runtime(None, host_env={})


def test_given_no_node_on_path_when_nodejs_resolved_then_the_error_says_node_is_missing(
    tmp_path: Path,
) -> None:
    with pytest.raises(
        UnsupportedRuntimeError, match=r"nodejs20\.x needs Node\.js, and no `node` is on PATH"
    ):
        resolve_runtime("nodejs20.x", host_env={"PATH": str(tmp_path)})


# --- process_environment -----------------------------------------------------------------


def test_given_lambda_variables_with_ints_when_environment_built_then_every_value_is_a_string(
    tmp_path: Path,
) -> None:
    env = process_environment(
        lambda_variables("app.handler", 3),
        code_dir=tmp_path,
        runtime=HostRuntime("python", sys.executable),
        host_env={},
    )

    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "3"
    assert all(isinstance(value, str) for value in env.values())


def test_given_container_task_root_when_environment_built_then_it_is_the_host_code_dir(
    tmp_path: Path,
) -> None:
    env = process_environment(
        lambda_variables("app.handler", 3),
        code_dir=tmp_path,
        runtime=HostRuntime("python", sys.executable),
        host_env={},
    )

    assert env["LAMBDA_TASK_ROOT"] == str(tmp_path)


def test_given_python_function_when_environment_built_then_pythonpath_is_the_code_dir(tmp_path: Path) -> None:
    env = process_environment(
        {"_HANDLER": "app.handler"},
        code_dir=tmp_path,
        runtime=HostRuntime("python", sys.executable),
        host_env={"PYTHONPATH": "/host/site", NODE_PATH_ENV: "/opt/node_modules"},
    )

    assert env["PYTHONPATH"] == str(tmp_path)
    assert "NODE_PATH" not in env


def test_given_node_function_when_environment_built_then_node_path_comes_from_localcloud_node_path(
    tmp_path: Path,
) -> None:
    env = process_environment(
        {"_HANDLER": "index.handler"},
        code_dir=tmp_path,
        runtime=HostRuntime("nodejs", "/usr/bin/node"),
        host_env={NODE_PATH_ENV: "/opt/localcloud/node_modules", "NODE_PATH": "/host/node_modules"},
    )

    assert env["NODE_PATH"] == "/opt/localcloud/node_modules"
    assert "PYTHONPATH" not in env


def test_given_host_secrets_when_environment_built_then_only_the_passthrough_variables_reach_the_function(
    tmp_path: Path,
) -> None:
    host = {
        "PATH": "/usr/bin",
        "HOME": "/home/dev",
        "MY_SECRET": "hunter2",
        "AWS_SECRET_ACCESS_KEY": "real-key",
        "LOCALSTACK_AUTH_TOKEN": "ls-token",
    }

    env = process_environment(
        {"_HANDLER": "app.handler", "AWS_SECRET_ACCESS_KEY": "test"},
        code_dir=tmp_path,
        runtime=HostRuntime("python", sys.executable),
        host_env=host,
    )

    assert env["PATH"] == "/usr/bin"
    assert env["HOME"] == "/home/dev"
    assert "MY_SECRET" not in env
    assert "LOCALSTACK_AUTH_TOKEN" not in env
    assert env["AWS_SECRET_ACCESS_KEY"] == "test"


# --- Lambda's formats ----------------------------------------------------------------------


def test_given_timed_out_invocation_when_error_built_then_it_has_lambdas_shape() -> None:
    assert timeout_error("req-1", 3) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "RequestId: req-1 Error: Task timed out after 3.00 seconds",
    }


def test_given_runtime_that_exited_when_error_built_then_it_has_lambdas_shape() -> None:
    assert exit_error("req-1", 3) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "RequestId: req-1 Error: Runtime exited with error: exit status 3",
    }


def test_given_localstack_payload_when_message_built_then_it_is_one_json_line_for_the_bootstrap() -> None:
    payload = {
        "invoke-id": "req-1",
        "invoked-function-arn": FUNCTION_ARN,
        "payload": '{"a": 1}',
        "trace-id": "Root=1-abc",
    }

    line = invocation_message(payload, deadline_ms=1_700_000_000_000)

    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert json.loads(line) == {
        "request_id": "req-1",
        "invoked_function_arn": FUNCTION_ARN,
        "payload": '{"a": 1}',
        "trace_id": "Root=1-abc",
        "deadline_ms": 1_700_000_000_000,
    }


def test_given_payload_without_trace_id_when_message_built_then_trace_id_is_empty() -> None:
    payload = {"invoke-id": "req-1", "invoked-function-arn": FUNCTION_ARN, "payload": "{}"}

    assert json.loads(invocation_message(payload, deadline_ms=0))["trace_id"] == ""


def test_given_finished_invocation_when_report_built_then_end_and_report_lines_have_lambdas_shape() -> None:
    lines = report_lines("req-1", duration_ms=12.345, memory_mb=256, max_memory_mb=42)

    assert lines == (
        "END RequestId: req-1\n"
        "REPORT RequestId: req-1\tDuration: 12.35 ms\tBilled Duration: 13 ms\t"
        "Memory Size: 256 MB\tMax Memory Used: 42 MB\n"
    )


def test_given_sub_millisecond_invocation_when_report_built_then_billed_duration_is_one_ms() -> None:
    assert "\tBilled Duration: 1 ms\t" in report_lines("r", duration_ms=0.2, memory_mb=128, max_memory_mb=1)


# --- RuntimeProcess with the Python bootstrap ---------------------------------------------

PYTHON_APP = """\
    import os
    import sys
    import time

    invocations = 0


    def echo(event, context):
        global invocations
        invocations += 1
        print(f"echo says {event.get('n')}")
        return {"event": event, "pid": os.getpid(), "invocations": invocations,
                "request_id": context.aws_request_id, "arn": context.invoked_function_arn}


    def fail(event, context):
        def validate(value):
            raise ValueError(f"bad input: {value}")
        validate(event.get("value"))


    def slow(event, context):
        if event.get("sleep"):
            import subprocess
            child = subprocess.Popen(["sleep", "60"])
            with open(event["child_pid_file"], "w") as out:
                out.write(str(child.pid))
            time.sleep(60)
        return "quick"


    def crash(event, context):
        print("about to exit")
        os._exit(3)


    def remaining(event, context):
        first = context.get_remaining_time_in_millis()
        time.sleep(0.2)
        return [first, context.get_remaining_time_in_millis()]


    def path(event, context):
        return sys.path
"""


def test_given_python_function_when_started_then_the_runtime_reports_ready(
    start_function: StartFunction,
) -> None:
    function = start_function("python3.13", {"app.py": PYTHON_APP}, "app.echo")

    assert function.process.running
    assert function.process.init_error is None


def test_given_python_function_when_invoked_then_its_return_value_is_the_response(
    start_function: StartFunction,
) -> None:
    function = start_function("python3.13", {"app.py": PYTHON_APP}, "app.echo")

    outcome = function.invoke({"n": 1}, request_id="req-1")

    assert outcome.kind == "response"
    response = json.loads(outcome.payload)
    assert response["event"] == {"n": 1}
    assert response["request_id"] == "req-1"
    assert response["arn"] == FUNCTION_ARN


def test_given_python_function_that_prints_when_invoked_twice_then_each_call_has_only_its_own_lines(
    start_function: StartFunction,
) -> None:
    function = start_function("python3.13", {"app.py": PYTHON_APP}, "app.echo")

    first = function.invoke({"n": 1})
    second = function.invoke({"n": 2})

    assert "echo says 1" in first.logs
    assert "echo says 2" not in first.logs
    assert "echo says 2" in second.logs
    assert "echo says 1" not in second.logs


def test_given_warm_python_function_when_invoked_twice_then_the_same_process_serves_both(
    start_function: StartFunction,
) -> None:
    function = start_function("python3.13", {"app.py": PYTHON_APP}, "app.echo")

    first = json.loads(function.invoke({"n": 1}).payload)
    second = json.loads(function.invoke({"n": 2}).payload)

    assert first["pid"] == second["pid"] == function.process.pid
    assert (first["invocations"], second["invocations"]) == (1, 2)


def test_given_python_handler_that_raises_when_invoked_then_the_error_has_lambdas_fields_and_only_user_frames(
    start_function: StartFunction,
) -> None:
    function = start_function("python3.13", {"app.py": PYTHON_APP}, "app.fail")

    outcome = function.invoke({"value": 42})

    assert outcome.kind == "error"
    assert outcome.payload["errorType"] == "ValueError"
    assert outcome.payload["errorMessage"] == "bad input: 42"
    trace = outcome.payload["stackTrace"]
    assert any("app.py" in frame and "validate" in frame for frame in trace)
    assert not any("bootstrap.py" in frame for frame in trace)
    assert "[ERROR] ValueError: bad input: 42" in outcome.logs
    assert function.process.running


def test_given_python_handler_over_its_timeout_when_invoked_then_it_is_killed_with_what_it_spawned(
    start_function: StartFunction, tmp_path: Path
) -> None:
    function = start_function("python3.13", {"app.py": PYTHON_APP}, "app.slow", timeout=1.0)
    child_pid_file = tmp_path / "child.pid"

    started = time.monotonic()
    outcome = function.invoke({"sleep": True, "child_pid_file": str(child_pid_file)})
    elapsed = time.monotonic() - started

    assert outcome.kind == "timeout"
    assert 0.9 <= elapsed < function.timeout + TIMEOUT_MARGIN
    assert not function.process.running
    child_pid = int(child_pid_file.read_text())
    deadline = time.monotonic() + 2
    while not _gone(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child_pid)


def test_given_python_function_killed_by_timeout_when_started_again_then_it_answers(
    start_function: StartFunction,
) -> None:
    function = start_function("python3.13", {"app.py": PYTHON_APP}, "app.slow", timeout=1.0)
    function.invoke({"sleep": True, "child_pid_file": os.devnull})
    old_pid = function.process.pid

    function.process.start(STARTUP_TIMEOUT)
    outcome = function.invoke({})

    assert outcome.kind == "response"
    assert json.loads(outcome.payload) == "quick"
    assert function.process.pid != old_pid


def test_given_python_handler_that_exits_when_invoked_then_the_outcome_is_exit_with_its_status(
    start_function: StartFunction,
) -> None:
    function = start_function("python3.13", {"app.py": PYTHON_APP}, "app.crash")

    outcome = function.invoke({})

    assert outcome.kind == "exit"
    assert outcome.payload == 3
    assert "about to exit" in outcome.logs
    assert not function.process.running


def test_given_python_runtime_that_exited_when_invoked_then_its_pipes_are_closed(
    start_function: StartFunction,
) -> None:
    before = _open_fds()
    function = start_function("python3.13", {"app.py": PYTHON_APP}, "app.crash")

    assert function.invoke({}).kind == "exit"

    assert _open_fds() == before


def test_given_module_with_failing_import_when_started_then_init_error_is_import_module_error(
    start_function: StartFunction,
) -> None:
    function = start_function("python3.13", {"app.py": "import no_such_module_xyz\n"}, "app.handler")

    error = function.process.init_error
    assert error is not None
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'app'" in error["errorMessage"]
    assert "no_such_module_xyz" in error["errorMessage"]


def test_given_module_with_syntax_error_when_started_then_init_error_is_user_code_syntax_error(
    start_function: StartFunction,
) -> None:
    function = start_function("python3.13", {"app.py": "def handler(:\n    pass\n"}, "app.handler")

    error = function.process.init_error
    assert error is not None
    assert error["errorType"] == "Runtime.UserCodeSyntaxError"


def test_given_module_without_the_handler_when_started_then_init_error_is_handler_not_found(
    start_function: StartFunction,
) -> None:
    function = start_function("python3.13", {"app.py": PYTHON_APP}, "app.missing")

    error = function.process.init_error
    assert error is not None
    assert error["errorType"] == "Runtime.HandlerNotFound"
    assert "missing" in error["errorMessage"]


def test_given_module_that_raises_at_import_when_started_then_init_error_keeps_the_exception_type(
    start_function: StartFunction,
) -> None:
    source = "raise RuntimeError('TABLE_NAME is not set')\n"
    function = start_function("python3.13", {"app.py": source}, "app.handler")

    error = function.process.init_error
    assert error is not None
    assert error["errorType"] == "RuntimeError"
    assert error["errorMessage"] == "TABLE_NAME is not set"


def test_given_python_context_when_time_passes_then_remaining_time_decreases_within_the_timeout(
    start_function: StartFunction,
) -> None:
    function = start_function("python3.13", {"app.py": PYTHON_APP}, "app.remaining", timeout=3.0)

    first, second = json.loads(function.invoke({}).payload)

    assert 0 < second < first <= 3000
    assert first - second >= 150


def test_given_python_function_when_it_reads_sys_path_then_the_bootstrap_dir_is_absent(
    start_function: StartFunction,
) -> None:
    function = start_function("python3.13", {"app.py": PYTHON_APP}, "app.path")

    sys_path = json.loads(function.invoke({}).payload)

    assert Path(sys_path[0]).resolve() == function.code_dir.resolve()
    assert BOOTSTRAP_DIR.resolve() not in {Path(entry).resolve() for entry in sys_path if entry}


def test_given_bootstrap_reached_through_a_symlink_when_function_reads_sys_path_then_bootstrap_dir_is_absent(
    start_function: StartFunction, tmp_path: Path
) -> None:
    # Python puts the *resolved* script directory on sys.path, e.g. when the checkout
    # lives under a symlinked home or /tmp.
    link = tmp_path / "linked-executor"
    link.symlink_to(BOOTSTRAP_DIR, target_is_directory=True)
    command = [sys.executable, "-B", str(link / "bootstrap.py")]
    function = start_function("python3.13", {"app.py": PYTHON_APP}, "app.path", command=command)

    sys_path = json.loads(function.invoke({}).payload)

    assert BOOTSTRAP_DIR.resolve() not in {Path(entry).resolve() for entry in sys_path if entry}


def test_given_executor_with_over_1024_open_files_when_invoking_then_the_answer_is_still_read(
    start_function: StartFunction,
) -> None:
    # LocalStack keeps many sockets and files open; the pipes can get numbers above
    # select()'s FD_SETSIZE (1024).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard == resource.RLIM_INFINITY or hard >= 1200, f"this machine allows only {hard} open files"
    if soft != resource.RLIM_INFINITY and soft < 1200:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (1200 if hard == resource.RLIM_INFINITY else min(hard, 1200), hard)
        )
    fillers: list[int] = []
    try:
        while not fillers or fillers[-1] < 1030:
            fillers.append(os.open(os.devnull, os.O_RDONLY))
        function = start_function("python3.13", {"app.py": PYTHON_APP}, "app.echo")

        outcome = function.invoke({"n": 1})
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    assert outcome.kind == "response"


# --- RuntimeProcess with the Node.js bootstrap -----------------------------------------

NODE_APP = """\
    'use strict';
    let invocations = 0;

    exports.asyncHandler = async (event, context) => {
      invocations += 1;
      console.log('hello from', event.name);
      return { event, pid: process.pid, invocations, requestId: context.awsRequestId,
               remaining: context.getRemainingTimeInMillis() };
    };

    exports.callbackHandler = (event, context, callback) => {
      setTimeout(() => callback(null, { doubled: event.n * 2 }), 10);
    };

    exports.throwingHandler = async (event) => {
      const err = new TypeError(`cannot use ${event.value}`);
      throw err;
    };

    exports.slowHandler = async () => new Promise((resolve) => setTimeout(resolve, 60000));
"""

NODE_ESM_APP = """\
    import { basename } from 'node:path';

    export const handler = async (event) => ({ module: basename(import.meta.url), event });
"""

NODE_HTTPS_APP = """\
    'use strict';
    const https = require('https');

    // The way CDK's custom-resource code sends its answer: options object, no port.
    exports.objectForm = (event) => send(event.body, (callback) => https.request(
      { hostname: event.hostname, path: event.path, method: 'PUT',
        headers: { 'content-type': '', 'content-length': Buffer.byteLength(event.body) } },
      callback));

    // url string plus options, as other code does it.
    exports.urlForm = (event) => send(event.body, (callback) => https.request(
      event.url, { method: 'PUT', headers: { 'content-length': Buffer.byteLength(event.body) } }, callback));

    function send(body, makeRequest) {
      return new Promise((resolve) => {
        let req;
        try {
          req = makeRequest((res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode }));
          });
        } catch (err) {
          resolve({ error: String(err) });
          return;
        }
        req.on('error', (err) => resolve({ error: err.code || String(err) }));
        req.setTimeout(5000, () => req.destroy(new Error('timed out')));
        req.end(body);
      });
    }
"""


@needs_node
def test_given_async_node_handler_when_invoked_then_its_resolved_value_is_the_response(
    start_function: StartFunction,
) -> None:
    function = start_function("nodejs20.x", {"index.js": NODE_APP}, "index.asyncHandler")

    outcome = function.invoke({"name": "ada"}, request_id="req-node-1")

    assert outcome.kind == "response"
    response = json.loads(outcome.payload)
    assert response["event"] == {"name": "ada"}
    assert response["requestId"] == "req-node-1"
    assert 0 < response["remaining"] <= 3000


@needs_node
def test_given_warm_node_function_when_invoked_twice_then_the_same_process_serves_both(
    start_function: StartFunction,
) -> None:
    function = start_function("nodejs20.x", {"index.js": NODE_APP}, "index.asyncHandler")

    first = json.loads(function.invoke({"name": "a"}).payload)
    second = json.loads(function.invoke({"name": "b"}).payload)

    assert first["pid"] == second["pid"] == function.process.pid
    assert (first["invocations"], second["invocations"]) == (1, 2)


@needs_node
def test_given_node_console_log_when_invoked_then_logs_have_lambdas_tab_separated_lines(
    start_function: StartFunction,
) -> None:
    function = start_function("nodejs20.x", {"index.js": NODE_APP}, "index.asyncHandler")

    first = function.invoke({"name": "ada"}, request_id="req-a")
    second = function.invoke({"name": "bob"}, request_id="req-b")

    [line] = [line for line in first.logs.splitlines() if "hello from" in line]
    timestamp, request_id, level, message = line.split("\t")
    assert timestamp.endswith("Z")
    assert "T" in timestamp
    assert (request_id, level, message) == ("req-a", "INFO", "hello from ada")
    assert "hello from ada" not in second.logs
    assert "\treq-b\tINFO\thello from bob" in second.logs


@needs_node
def test_given_callback_style_node_handler_when_invoked_then_the_callback_value_is_the_response(
    start_function: StartFunction,
) -> None:
    function = start_function("nodejs20.x", {"index.js": NODE_APP}, "index.callbackHandler")

    outcome = function.invoke({"n": 21})

    assert outcome.kind == "response"
    assert json.loads(outcome.payload) == {"doubled": 42}


@needs_node
def test_given_node_handler_that_throws_when_invoked_then_the_error_has_type_and_message(
    start_function: StartFunction,
) -> None:
    function = start_function("nodejs20.x", {"index.js": NODE_APP}, "index.throwingHandler")

    outcome = function.invoke({"value": "x"})

    assert outcome.kind == "error"
    assert outcome.payload["errorType"] == "TypeError"
    assert outcome.payload["errorMessage"] == "cannot use x"
    assert "Invoke Error" in outcome.logs
    assert function.process.running


@needs_node
def test_given_esm_node_handler_when_invoked_then_the_mjs_module_answers(
    start_function: StartFunction,
) -> None:
    function = start_function("nodejs20.x", {"index.mjs": NODE_ESM_APP}, "index.handler")

    outcome = function.invoke({"k": "v"})

    assert outcome.kind == "response"
    assert json.loads(outcome.payload) == {"module": "index.mjs", "event": {"k": "v"}}


@needs_node
def test_given_node_module_on_localcloud_node_path_when_required_then_the_function_loads_it(
    start_function: StartFunction, tmp_path: Path
) -> None:
    library = tmp_path / "node_modules" / "greeting"
    library.mkdir(parents=True)
    (library / "index.js").write_text("exports.greet = (name) => `hi ${name}`;\n")
    app = "exports.handler = async (event) => require('greeting').greet(event.name);\n"
    function = start_function(
        "nodejs20.x",
        {"index.js": app},
        "index.handler",
        host_env={NODE_PATH_ENV: str(tmp_path / "node_modules")},
    )

    outcome = function.invoke({"name": "ada"})

    assert json.loads(outcome.payload) == "hi ada"


@needs_node
def test_given_missing_node_handler_export_when_started_then_init_error_is_handler_not_found(
    start_function: StartFunction,
) -> None:
    function = start_function("nodejs20.x", {"index.js": NODE_APP}, "index.nope")

    error = function.process.init_error
    assert error is not None
    assert error["errorType"] == "Runtime.HandlerNotFound"


@needs_node
def test_given_node_handler_over_its_timeout_when_invoked_then_it_is_killed(
    start_function: StartFunction,
) -> None:
    function = start_function("nodejs20.x", {"index.js": NODE_APP}, "index.slowHandler", timeout=1.0)

    started = time.monotonic()
    outcome = function.invoke({})
    elapsed = time.monotonic() - started

    assert outcome.kind == "timeout"
    assert 0.9 <= elapsed < function.timeout + TIMEOUT_MARGIN
    assert not function.process.running


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[tuple[str, str, bytes]]

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.requests.append((self.command, self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def response_server() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A plain-HTTP server standing in for the local cloud's ResponseURL route."""
    received: list[tuple[str, str, bytes]] = []
    handler = type("Recorder", (_Recorder,), {"requests": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@needs_node
def test_given_cfn_response_origin_when_function_puts_with_https_and_no_port_then_it_reaches_the_http_origin(
    start_function: StartFunction, response_server: tuple[str, list[tuple[str, str, bytes]]]
) -> None:
    origin, received = response_server
    function = start_function(
        "nodejs20.x",
        {"index.js": NODE_HTTPS_APP},
        "index.objectForm",
        extra_env={"LOCALCLOUD_CFN_RESPONSE_ORIGIN": origin},
    )

    outcome = function.invoke({"hostname": "127.0.0.1", "path": "/x?token=1", "body": '{"Status":"SUCCESS"}'})

    assert json.loads(outcome.payload) == {"status": 200}
    assert received == [("PUT", "/x?token=1", b'{"Status":"SUCCESS"}')]


@needs_node
def test_given_cfn_response_origin_when_function_puts_to_an_https_url_string_then_it_reaches_the_http_origin(
    start_function: StartFunction, response_server: tuple[str, list[tuple[str, str, bytes]]]
) -> None:
    origin, received = response_server
    function = start_function(
        "nodejs20.x",
        {"index.js": NODE_HTTPS_APP},
        "index.urlForm",
        extra_env={"LOCALCLOUD_CFN_RESPONSE_ORIGIN": origin},
    )

    outcome = function.invoke({"url": "https://127.0.0.1/y?token=2", "body": "done"})

    assert json.loads(outcome.payload) == {"status": 200}
    assert received == [("PUT", "/y?token=2", b"done")]


@needs_node
def test_given_cfn_response_origin_when_function_calls_another_host_then_the_request_is_not_redirected(
    start_function: StartFunction, response_server: tuple[str, list[tuple[str, str, bytes]]]
) -> None:
    origin, received = response_server
    function = start_function(
        "nodejs20.x",
        {"index.js": NODE_HTTPS_APP},
        "index.objectForm",
        extra_env={"LOCALCLOUD_CFN_RESPONSE_ORIGIN": origin},
    )

    # 127.0.0.2 is loopback too, but not the origin's host: the request goes to its port 443.
    outcome = function.invoke({"hostname": "127.0.0.2", "path": "/other", "body": ""})

    assert "error" in json.loads(outcome.payload)
    assert received == []


def test_given_python_module_that_prints_at_import_when_first_invoked_then_those_lines_are_in_its_logs(
    start_function: StartFunction,
) -> None:
    code = """
    print("warming up the model")

    def handler(event, context):
        print("serving")
        return "ok"
    """
    function = start_function("python3.13", {"init.py": code}, "init.handler")

    first = function.invoke({})
    second = function.invoke({})

    assert "warming up the model" in first.logs
    assert "serving" in first.logs
    assert "warming up the model" not in second.logs


def test_given_python_handler_returning_something_not_json_when_invoked_then_it_is_a_marshal_error(
    start_function: StartFunction,
) -> None:
    code = """
    def handler(event, context):
        return {"when": object()}
    """
    function = start_function("python3.13", {"not_json.py": code}, "not_json.handler")

    outcome = function.invoke({})

    assert outcome.kind == "error"
    assert outcome.payload["errorType"] == "Runtime.MarshalError"
    assert outcome.payload["errorMessage"].startswith("Unable to marshal response:")


def test_given_python_handler_that_exits_leaving_a_child_when_invoked_then_the_child_is_killed(
    start_function: StartFunction, tmp_path: Path
) -> None:
    code = """
    import os, subprocess, sys

    def handler(event, context):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open(event["child_pid_file"], "w").write(str(child.pid))
        os._exit(1)
    """
    function = start_function("python3.13", {"orphan.py": code}, "orphan.handler")
    child_pid_file = tmp_path / "orphan-child.pid"

    outcome = function.invoke({"child_pid_file": str(child_pid_file)})

    assert outcome.kind == "exit"
    child_pid = int(child_pid_file.read_text())
    deadline = time.monotonic() + 2
    while not _gone(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child_pid)


def test_given_python_handler_that_kills_itself_when_invoked_then_the_outcome_is_exit_by_that_signal(
    start_function: StartFunction,
) -> None:
    code = """
    import os, signal

    def handler(event, context):
        os.kill(os.getpid(), signal.SIGKILL)
    """
    function = start_function("python3.13", {"killed.py": code}, "killed.handler", timeout=30.0)

    started = time.monotonic()
    outcome = function.invoke({})

    # Reported as the runtime's exit (Runtime.ExitError) when it happens, not at the timeout.
    assert outcome.kind == "exit"
    assert time.monotonic() - started < function.timeout / 2
    assert outcome.payload == -9
    assert not function.process.running


def test_given_python_handler_that_exits_leaving_a_shell_started_child_then_the_exit_is_seen_at_once(
    start_function: StartFunction, tmp_path: Path
) -> None:
    # os.system keeps the runtime's inheritable descriptors open in the child; if those
    # included the answer pipe, its end would only come with the timeout.
    code = """
    import os

    def handler(event, context):
        os.system(f"sleep 60 & echo $! > {event['child_pid_file']}")
        os._exit(1)
    """
    function = start_function("python3.13", {"shell.py": code}, "shell.handler", timeout=30.0)
    child_pid_file = tmp_path / "shell-child.pid"

    started = time.monotonic()
    outcome = function.invoke({"child_pid_file": str(child_pid_file)})

    assert outcome.kind == "exit"
    assert time.monotonic() - started < function.timeout / 2, "the exit was only noticed at the timeout"
    child_pid = int(child_pid_file.read_text())
    deadline = time.monotonic() + 2
    while not _gone(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child_pid)


def test_given_finished_invocation_when_payloads_accounted_then_one_line_names_both_sizes() -> None:
    line = payload_line("req-1", request_bytes=1234, response_bytes=56)

    assert line == "LOCALCLOUD PAYLOAD RequestId: req-1\tRequest: 1234 bytes\tResponse: 56 bytes\n"
