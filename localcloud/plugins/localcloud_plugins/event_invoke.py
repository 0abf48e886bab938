"""How asynchronous events are handed to a function: the parts that need no LocalStack.

LocalStack's event poller takes an event from the function's internal queue and invokes the
function synchronously through an internal boto3 client; the outcome decides what happens
next (a retry, counted; the on-failure destination and the dead-letter queue). Two things
must hold for that to follow Lambda's rules, and LocalStack 2026.3.0 guarantees neither:

- The client waits for the attempt to end and never sends it again. With botocore's defaults
  (60 s read timeout, retries on read timeouts) an attempt that runs a minute or more is sent
  again under the same request id while it still runs, and the give-up that follows counts as
  a system error, so the event is queued again uncounted: without end.
- An event is taken from the queue only when a worker is free to invoke it at once. The
  poller takes up to ten at a time and its thread pool queues what it cannot start; an event
  that waits there longer than its queue visibility (function timeout + 60 s) is taken again
  and runs twice.

And one more for an event that is never run at all: with the function's reserved concurrency
at 0 (every invocation throttled), Lambda hands it at once to the on-failure destination
(condition ``ZeroReservedConcurrency``) and to the dead-letter queue. LocalStack does the
first, but reads the error message for the second from the function's answer, which such an
event does not have: it fails there, logs it, and the event never reaches the queue.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from botocore.config import Config

# Beyond the function's timeout: what the local cloud may take to start an environment and
# to answer. Below the 60 s after which the poller's queue would hand the event out again.
ANSWER_MARGIN_SECONDS = 30


def event_invoke_client_config(function_timeout_seconds: int) -> Config:
    """The internal client's settings for one function: wait out an attempt, send it once."""
    return Config(
        read_timeout=function_timeout_seconds + ANSWER_MARGIN_SECONDS,
        retries={"total_max_attempts": 1},
        # A connection that stays silent for up to 15 minutes must not be dropped on the way.
        tcp_keepalive=True,
    )


# The dead-letter message's ErrorMessage for an event the function never ran.
NOT_RUN_MESSAGE = "The function was not invoked: throttled (reserved concurrency 0), or the event aged out"


def dead_letter_answer(response_payload: dict[str, Any] | None) -> dict[str, Any]:
    """The function's answer as the dead-letter queue quotes it (its ``errorMessage``); for an
    event that never ran, and so has no answer, one that says so."""
    if response_payload is None:
        return {"errorMessage": NOT_RUN_MESSAGE}
    return response_payload


def default_invoker_count() -> int:
    """How many events of one function run at once: the size of LocalStack's own pool."""
    return min(32, (os.cpu_count() or 1) + 4)


class FreeWorkerPool(ThreadPoolExecutor):
    """A thread pool whose ``submit`` waits for a free worker instead of queueing the task.

    The poller's loop submits each event it received; while every worker is busy it waits
    there, and the events it has not received yet stay in the queue, where they belong.
    """

    # How often a waiting submit looks whether the pool was shut down meanwhile.
    _SHUTDOWN_CHECK_SECONDS = 0.5

    def __init__(self, max_workers: int | None = None, thread_name_prefix: str = "") -> None:
        workers = max_workers or default_invoker_count()
        super().__init__(max_workers=workers, thread_name_prefix=thread_name_prefix)
        self._free = threading.BoundedSemaphore(workers)
        self._closed = threading.Event()

    def submit[T](self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> Future[T]:
        while not self._free.acquire(timeout=self._SHUTDOWN_CHECK_SECONDS):
            if self._closed.is_set():
                raise RuntimeError("cannot schedule new futures after shutdown")

        def run() -> T:
            try:
                return fn(*args, **kwargs)
            finally:
                self._free.release()

        try:
            return super().submit(run)
        except BaseException:
            self._free.release()
            raise

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed.set()
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
