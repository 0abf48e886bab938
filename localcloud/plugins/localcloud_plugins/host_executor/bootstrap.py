"""The Python runtime loop of a Lambda function running as a host process.

Plays the part of Lambda's runtime interface client: imports the handler once (a warm
start reuses it), then answers one invocation per line read from the control pipe.
Function output goes to stdout/stderr, which the executor collects as the function's
logs; answers go to a separate pipe so nothing the function prints can corrupt them.
Runs with the function's interpreter, so it uses the standard library only.
"""

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any

# Running this file by path put its directory first on sys.path; the function must not
# see the executor's modules. Python puts the directory there with symlinks resolved.
if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    del sys.path[0]


class MarshalError(Exception):
    """The handler's return value is not JSON; Lambda calls this Runtime.MarshalError."""


class LambdaContext:
    """The context object Lambda passes to Python handlers."""

    def __init__(self, request: dict[str, Any]) -> None:
        env = os.environ
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = request["invoked_function_arn"]
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = request["request_id"]
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = int(request["deadline_ms"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def error_payload(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        # The function's frames only, as in Lambda: not this loop's.
        "stackTrace": traceback.format_list(
            [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename != __file__]
        ),
    }


class HandlerError(Exception):
    """The handler setting names no function: reported with Lambda's Runtime.* error type."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def load_handler(spec: str) -> Any:
    module_path, _, function_name = spec.rpartition(".")
    if not module_path:
        message = f"Bad handler '{spec}': expected <module>.<function>"
        raise HandlerError("Runtime.MalformedHandlerName", message)
    module = importlib.import_module(module_path.replace("/", "."))
    handler = getattr(module, function_name, None)
    if not callable(handler):
        message = f"Handler '{function_name}' missing on module '{module_path}'"
        raise HandlerError("Runtime.HandlerNotFound", message)
    return handler


def main() -> None:
    control_in = os.fdopen(int(os.environ.pop("_LOCALCLOUD_CONTROL_IN")), "rb")
    control_out = os.fdopen(int(os.environ.pop("_LOCALCLOUD_CONTROL_OUT")), "wb")

    def send(message: dict[str, Any]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        control_out.write(json.dumps(message).encode() + b"\n")
        control_out.flush()

    spec = os.environ.get("_HANDLER", "")
    try:
        handler = load_handler(spec)
    except SyntaxError as exc:
        send({"type": "init_error", "error": error_payload(exc, "Runtime.UserCodeSyntaxError")})
        return
    except ImportError as exc:
        message = f"Unable to import module '{spec.rpartition('.')[0]}': {exc}"
        send(
            {"type": "init_error", "error": error_payload(ImportError(message), "Runtime.ImportModuleError")}
        )
        return
    except HandlerError as exc:
        send({"type": "init_error", "error": error_payload(exc, exc.error_type)})
        return
    except Exception as exc:
        # An exception raised by the module's own code at import: Lambda reports its type.
        send({"type": "init_error", "error": error_payload(exc)})
        return
    send({"type": "ready"})

    for line in control_in:
        request = json.loads(line)
        os.environ["_X_AMZN_TRACE_ID"] = request.get("trace_id", "")
        try:
            event = json.loads(request["payload"]) if request["payload"] else {}
            result = handler(event, LambdaContext(request))
            try:
                payload = json.dumps(result)
            except (TypeError, ValueError) as exc:
                raise MarshalError(f"Unable to marshal response: {exc}") from None
            answer: dict[str, Any] = {"type": "response", "payload": payload}
        except Exception as exc:
            error = error_payload(exc, "Runtime.MarshalError" if isinstance(exc, MarshalError) else None)
            # Lambda's Python runtime logs unhandled errors in this shape.
            print(f"[ERROR] {error['errorType']}: {error['errorMessage']}", file=sys.stderr)
            traceback.print_exc()
            answer = {"type": "error", "error": error}
        send(answer)


if __name__ == "__main__":
    main()
