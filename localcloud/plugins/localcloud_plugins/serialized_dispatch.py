"""One request at a time into a backend that is not thread-safe (no LocalStack imports).

LocalStack serves requests on many threads at once, and moto's DynamoDB backend keeps its
tables in plain dictionaries without locks: concurrent ``TransactWriteItems`` then fail with
``dictionary changed size during iteration`` (most of 200 concurrent transactions did), and a
condition check and the write it guards are not atomic against another thread's write.
DynamoDB itself makes every single-item write and every transaction atomic. Serializing the
operations of one service behind one lock gives the same guarantee; its cost is negligible
for a local cloud, where each operation takes well under a millisecond of moto's time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

Handler = Callable[..., Any]


def serialized(table: Mapping[str, Handler], lock: threading.Lock | None = None) -> dict[str, Handler]:
    """The dispatch ``table`` with every handler run while holding one lock, shared by all of them."""
    guard = lock if lock is not None else threading.Lock()

    def one_at_a_time(handler: Handler) -> Handler:
        def call(*args: Any, **kwargs: Any) -> Any:
            with guard:
                return handler(*args, **kwargs)

        return call

    return {operation: one_at_a_time(handler) for operation, handler in table.items()}
