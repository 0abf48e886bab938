"""How many invocations of one function run at once on this machine (no LocalStack imports).

Lambda starts one execution environment per concurrent invocation, and so does LocalStack: a
burst of N concurrent calls to a function with no idle environment starts N of them at once.
In AWS each has its own share of a big fleet; here each is a host process of this machine.
100 concurrent upload flows (register, post, poll) once started about 180 Python processes
(~80 MB each: 14 GB) on two cores; every one of them cold-started at the same time, requests
waited more than 30 s for an answer, and a test timed out. Once they were warm (ten minutes of
keep-alive) the same load passed, which is why the failure looked random.

So the local cloud runs at most ``per_function`` invocations of a function version at once,
and an invocation beyond that waits for one of them to end, then runs in the environment it
leaves. It is never refused: callers see more latency under load, not throttling, and what
AWS would answer stays what the function answers. Bounded environments keep a burst's memory
and start-up cost proportional to the machine, not to the burst.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .event_invoke import default_invoker_count


class InvocationSlots:
    """Up to ``per_function`` holders at once per key (a function version); the others wait."""

    def __init__(self, per_function: int | None = None) -> None:
        # By default as many as the asynchronous event poller runs at once, so that an event
        # taken from its queue never waits here: a handful more than the machine's cores.
        self.per_function = per_function or default_invoker_count()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, function_key: str) -> Iterator[None]:
        with self._lock:
            slots = self._slots.setdefault(function_key, threading.BoundedSemaphore(self.per_function))
        slots.acquire()
        try:
            yield
        finally:
            slots.release()
