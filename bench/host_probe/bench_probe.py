"""A handler wrapper the breakdown bench runs inside a function's own host process.

Loaded by the local cloud's Python bootstrap in place of the function's handler (``_HANDLER``
names this module), with the function's bundle first on its path: it imports the real handler
(``BENCH_PROBE_HANDLER``), times each call and the parts inside it that the in-process bench
times too (every botocore call, token verification), and appends one JSON line per call to
``BENCH_PROBE_OUT``. Standard library only, besides what the bundle brings.
"""

import importlib
import json
import os
import time
from typing import Any

_module, _, _name = os.environ["BENCH_PROBE_HANDLER"].rpartition(".")
_real = getattr(importlib.import_module(_module), _name)
_parts: dict[str, float] = {}
# When each AWS call began and ended: a list page queries its shards in parallel, so the calls'
# summed times can exceed the handler's; the bench takes their union (bench.stats.union_ms).
_aws_spans: list[tuple[float, float]] = []


def _timed(owner: Any, attribute: str, part_of: Any) -> None:
    original = getattr(owner, attribute)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            ended = time.perf_counter()
            name = part_of(args)
            _parts[name] = _parts.get(name, 0.0) + (ended - started) * 1000
            if name.startswith("AWS "):
                _aws_spans.append((started, ended))

    setattr(owner, attribute, timed)


try:
    from botocore.client import BaseClient

    _timed(BaseClient, "_make_api_call", lambda a: f"AWS {a[0].meta.service_model.service_name}.{a[1]}")
except ImportError:  # a function without boto3 (the echo)
    pass
try:
    from image_api.auth import TokenVerifier

    _timed(TokenVerifier, "caller_from", lambda _: "token verification")
except ImportError:
    pass


def handler(event: Any, context: Any) -> Any:
    _parts.clear()
    _aws_spans.clear()
    started = time.perf_counter()
    result = _real(event, context)
    total = (time.perf_counter() - started) * 1000
    with open(os.environ["BENCH_PROBE_OUT"], "a") as out:
        out.write(json.dumps({"handler": total, **_parts, "aws_spans": _aws_spans}) + "\n")
    return result
