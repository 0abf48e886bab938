"""Where a route's own time goes: its handler run in this process against the local cloud.

    make bench-latency      # runs this after the latency rounds

Each function's REPORT ``Duration`` says how long it ran, not on what. Here the deployed
function's own configuration (its environment: table, bucket, token issuer) is loaded into
this process, its handler module imported from ``lambda_src/`` and called with API Gateway
events as the deployed function gets them, ``--rounds`` times after a warm-up call. Timed
apart: token verification (``TokenVerifier.caller_from``) and each AWS call (every botocore
operation, by name); the rest is routing, validation, our code and serialization.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
from botocore.client import BaseClient

from bench import host_process
from bench.api import Service, service_functions
from bench.report import RESULTS_DIR, Section, Stopwatch, publish, table
from bench.stats import median, union_ms

LAMBDA_SRC = Path(__file__).resolve().parent.parent / "lambda_src"


class Clock:
    """Milliseconds spent in each named part during one call."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = defaultdict(float)
        self.aws_spans: list[tuple[float, float]] = []

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            ended = time.perf_counter()
            self.parts[name] += (ended - started) * 1000
            if name.startswith("AWS "):
                self.aws_spans.append((started, ended))

    @property
    def aws_wall(self) -> float:
        """Milliseconds spent waiting for AWS: parallel calls (a list page's shards) counted once."""
        return union_ms(self.aws_spans)


def instrumented(clock_of: Callable[[], Clock]) -> None:
    """Time every botocore call and every token verification into the current ``Clock``."""
    original_call = BaseClient._make_api_call  # type: ignore[attr-defined]

    def timed_call(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        with clock_of().part(f"AWS {self.meta.service_model.service_name}.{operation}"):
            return original_call(self, operation, params)

    BaseClient._make_api_call = timed_call  # type: ignore[attr-defined]
    from image_api.auth import TokenVerifier

    original_verify = TokenVerifier.caller_from

    def timed_verify(self: TokenVerifier, authorization: str | None) -> Any:
        with clock_of().part("token verification"):
            return original_verify(self, authorization)

    TokenVerifier.caller_from = timed_verify  # type: ignore[method-assign]


def rest_event(method: str, resource: str, path: str, token: str, **extra: Any) -> dict[str, Any]:
    """An API Gateway REST proxy event (payload 1.0), as the deployed function receives one."""
    headers = {"Authorization": f"Bearer {token}", "Host": "127.0.0.1", "Content-Type": "application/json"}
    query = extra.get("query")
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": extra.get("path_parameters"),
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/local{path}",
            "stage": "local",
            "requestId": os.urandom(8).hex(),
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": extra.get("body"),
        "isBase64Encoded": False,
    }


def _answered(name: str, answer: dict[str, Any], service: Service) -> None:
    """Stop on an error answer; an upload's pending image goes on the list the bench deletes."""
    if answer.get("statusCode", 500) >= 300:
        raise SystemExit(f"bench: {name} answered {answer.get('statusCode')}: {str(answer)[:300]}")
    if name == "POST /images/upload":
        service.created.append(json.loads(answer["body"])["image_id"])


class Context:
    function_name = "bench"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    watch = Stopwatch()
    service = Service.signed_in()
    try:
        image_id = service.upload()
        token = str(service.session.headers["Authorization"]).removeprefix("Bearer ")
        functions = service_functions()
        # Every API function has the same environment; the get-image one stands for all.
        config = boto3.client("lambda").get_function_configuration(
            FunctionName=functions["image_api.get_image.handler"]
        )
        os.environ.update(config.get("Environment", {}).get("Variables", {}))
        os.environ["POWERTOOLS_LOG_LEVEL"] = os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING")
        sys.path.insert(0, str(LAMBDA_SRC))
        current: list[Clock] = [Clock()]
        instrumented(lambda: current[0])
        cases = {
            "GET /images/{id}": (
                "image_api.get_image",
                rest_event(
                    "GET",
                    "/images/{image_id}",
                    f"/images/{image_id}",
                    token,
                    path_parameters={"image_id": image_id},
                ),
            ),
            "GET /images": ("image_api.list_images", rest_event("GET", "/images", "/images", token)),
            "GET /images?tag=&from=": (
                "image_api.list_images",
                rest_event("GET", "/images", "/images", token, query={"tag": "bench", "from": "2000-01-01"}),
            ),
            "GET /images?visibility=public": (
                "image_api.list_images",
                rest_event("GET", "/images", "/images", token, query={"visibility": "public"}),
            ),
            "GET /images/{id}/download": (
                "image_api.download",
                rest_event(
                    "GET",
                    "/images/{image_id}/download",
                    f"/images/{image_id}/download",
                    token,
                    path_parameters={"image_id": image_id},
                ),
            ),
            "POST /images/upload": (
                "image_api.upload",
                rest_event(
                    "POST", "/images/upload", "/images/upload", token, query={"content_type": "image/png"}
                ),
            ),
            "PATCH /images/{id}": (
                "image_api.edit_image",
                rest_event(
                    "PATCH",
                    "/images/{image_id}",
                    f"/images/{image_id}",
                    token,
                    path_parameters={"image_id": image_id},
                    body=json.dumps({"tags": ["bench", "edited"], "description": "bench"}),
                ),
            ),
        }
        results: dict[str, list[Clock]] = defaultdict(list)
        for name, (module_name, event) in cases.items():
            handler = importlib.import_module(module_name).handler
            answer = handler(event, Context())  # warm: clients, keys, routes
            if answer["statusCode"] >= 300:
                raise SystemExit(f"bench: {name} answered {answer['statusCode']}: {answer['body'][:300]}")
        lambda_client = boto3.client("lambda")
        probe_dir = host_process.workdir()
        probed: dict[str, host_process.ProbedFunction] = {}
        detached: dict[str, host_process.DetachedProcess] = {}
        in_function: dict[str, list[dict[str, float]]] = defaultdict(list)
        in_detached: dict[str, list[dict[str, float]]] = defaultdict(list)
        deployed: dict[str, list[float]] = defaultdict(list)  # the deployed functions' own REPORT durations
        try:
            for module_name, _ in cases.values():
                if module_name not in probed:
                    probed[module_name] = host_process.ProbedFunction(
                        lambda_client, functions[f"{module_name}.handler"], probe_dir
                    )
            for name, (module_name, event) in cases.items():
                _answered(name, probed[module_name].invoke(event)[0], service)  # warm
                if module_name not in detached:
                    detached[module_name] = host_process.DetachedProcess(probed[module_name], probe_dir)
                _answered(name, detached[module_name].invoke(event)[0], service)  # warm
            for _ in range(args.rounds):
                for name, (module_name, event) in cases.items():
                    handler = sys.modules[module_name].handler
                    current[0] = Clock()
                    with current[0].part("total"):
                        answer = handler(event, Context())
                    if name == "POST /images/upload":
                        uploaded = json.loads(answer["body"])["image_id"]
                        service.created.append(uploaded)
                    results[name].append(current[0])
                    current[0] = Clock()  # not the bench's own calls to the local cloud's Lambda API
                    answer, parts = probed[module_name].invoke(event)
                    _answered(name, answer, service)
                    in_function[name].append(parts)
                    answer, parts = detached[module_name].invoke(event)
                    _answered(name, answer, service)
                    in_detached[name].append(parts)
                    answer, duration = host_process.invoke_reported(
                        lambda_client, functions[f"{module_name}.handler"], event
                    )
                    _answered(name, answer, service)
                    deployed[name].append(duration)
                # The upload this round requested, still pending, deleted as a client would.
                delete = rest_event(
                    "DELETE",
                    "/images/{image_id}",
                    f"/images/{uploaded}",
                    token,
                    path_parameters={"image_id": uploaded},
                )
                current[0] = Clock()
                with current[0].part("total"):
                    answer = importlib.import_module("image_api.delete_image").handler(delete, Context())
                if answer["statusCode"] != 204:
                    raise SystemExit(f"bench: DELETE answered {answer['statusCode']}: {answer['body'][:300]}")
                results["DELETE /images/{id} (pending)"].append(current[0])
                current[0] = Clock()  # not the bench's own calls that follow
        finally:
            for process in detached.values():
                process.close()
            for function in probed.values():
                function.close()
            shutil.rmtree(probe_dir, ignore_errors=True)
    finally:
        service.close()
    explain_latency_misses(results, settings_of(results, in_function, in_detached), deployed)
    publish(breakdown_section(results, in_function, in_detached, deployed, args.rounds, watch))


@dataclass(frozen=True)
class Where:
    """One route's medians (ms) in one setting: the duration, the handler in it, and its parts."""

    duration: float
    handler: float
    aws: float
    token: float

    @property
    def around(self) -> float:
        return self.duration - self.handler

    @property
    def rest(self) -> float:
        return self.handler - self.aws - self.token

    @classmethod
    def of_probe(cls, calls: Sequence[Mapping[str, float]]) -> Where:
        return cls(
            duration=median([call["duration"] for call in calls]),
            handler=median([call["handler"] for call in calls]),
            aws=median([call["aws_wall"] for call in calls]),
            token=median([call.get("token verification", 0.0) for call in calls]),
        )

    @classmethod
    def of_clocks(cls, clocks: Sequence[Clock]) -> Where:
        total = median([clock.parts["total"] for clock in clocks])
        return cls(
            duration=total,
            handler=total,
            aws=median([clock.aws_wall for clock in clocks]),
            token=median([clock.parts.get("token verification", 0.0) for clock in clocks]),
        )


def _span(values: Sequence[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.1f}" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f}-{high:.1f}"


def breakdown_section(
    results: Mapping[str, list[Clock]],
    in_function: Mapping[str, list[dict[str, float]]],
    in_detached: Mapping[str, list[dict[str, float]]],
    deployed: Mapping[str, list[float]],
    rounds: int,
    watch: Stopwatch,
) -> Section:
    rows = []
    for name, clocks in results.items():
        parts = sorted({part for clock in clocks for part in clock.parts} - {"total"})
        medians = {part: median([clock.parts.get(part, 0.0) for clock in clocks]) for part in parts}
        where = Where.of_clocks(clocks)
        described = ", ".join(f"{part} {value:.2f}" for part, value in medians.items())
        rows.append((f"`{name}`", f"{where.handler:.2f}", f"{where.aws:.2f}", described, f"{where.rest:.2f}"))
    host_rows = []
    for name, (invoked, started, own) in settings_of(results, in_function, in_detached).items():
        host_rows.append(
            (f"`{name}`", "the deployed function itself", f"{median(deployed[name]):.2f}", *["-"] * 5)
        )
        for label, where, around in (
            ("invoked by the local cloud", invoked, True),
            ("its process, started by the bench", started, True),
            ("the bench's process", own, False),
        ):
            host_rows.append(
                (
                    "",
                    label,
                    f"{where.duration:.2f}",
                    f"{where.around:.2f}" if around else "-",
                    f"{where.handler:.2f}",
                    f"{where.aws:.2f}",
                    f"{where.token:.2f}",
                    f"{where.rest:.2f}",
                )
            )
    body = "\n".join(
        [
            f"The handler of each route run in the bench's own process ({rounds} rounds after a warm-up, "
            "medians in ms), with the deployed function's environment, against the same local cloud. "
            "*AWS calls*: the time during which at least one AWS call (botocore) of the handler was under "
            "way (a public list page queries its 16 shards in parallel, so its calls' summed times in "
            "*timed parts* exceed it); *rest*: the handler minus AWS calls and token verification: "
            "routing, validation, our code and serialization (Powertools and Pydantic).",
            "",
            table(("route", "handler total", "AWS calls", "timed parts (each summed)", "rest"), rows),
            "",
            "The same handlers in their functions' own host processes, in the same rounds "
            "(`bench/host_process.py`): each deployed function's bundle and environment, with a probe "
            "around its handler (`bench/host_probe/bench_probe.py`) that times what the table above times, "
            "*invoked by the local cloud* (a copy of the function created and invoked through the local "
            "cloud's Lambda API, so its host executor runs it: *duration* is its REPORT line's `Duration`) "
            "and *started by the bench* (the same code, environment and bootstrap in a host process the "
            "bench feeds through the executor's pipes, no invocation of the local cloud around it: "
            "*duration* timed as the executor times it). *around the handler*: duration minus handler, "
            "what the bootstrap (reading the event, JSON in and out, the pipes) and the executor add. "
            "*the deployed function itself*: the function section 1 times, invoked with the same event "
            "through the Lambda API in the same rounds (its REPORT `Duration`; no probe inside it).",
            "",
            table(
                ("route", "where", "duration", "around the handler", "handler", "AWS calls", "token", "rest"),
                host_rows,
            ),
            "",
            host_findings(settings_of(results, in_function, in_detached)),
            "",
            "Two AWS calls cost more than DynamoDB or S3 would: moto's `TransactWriteItems` deep-copies "
            "every table it writes to, once per item of the transaction, before it writes (to roll back on "
            "failure), so its time grows with the table (a pending delete's two-item transaction above); and "
            "moto answers a `Query` on an index by going over every item of the table (section 4). Both are "
            "the local cloud's costs, not the service's: snapshotting only the items a transaction touches, "
            "in the DynamoDB provider (`localcloud/plugins/localcloud_plugins/dynamodb_moto.py`), would "
            "remove the first; it is noted here, not built.",
        ]
    )
    return Section(
        key="breakdown",
        title="1b. Where a route's own time goes",
        machine=watch.machine(),
        commands=["make bench-latency   # python -m bench.breakdown"],
        body=body,
    )


Settings = dict[str, tuple[Where, Where, Where]]


def settings_of(
    results: Mapping[str, list[Clock]],
    in_function: Mapping[str, list[dict[str, float]]],
    in_detached: Mapping[str, list[dict[str, float]]],
) -> Settings:
    """Per probed route: (invoked by the local cloud, started by the bench, in the bench's process)."""
    return {
        name: (
            Where.of_probe(in_function[name]),
            Where.of_probe(in_detached[name]),
            Where.of_clocks(results[name]),
        )
        for name in in_function
    }


def host_findings(settings: Settings) -> str:
    """What the second table says, in figures: the same for every route, so said once."""
    invoked = [where[0] for where in settings.values()]
    started = [where[1] for where in settings.values()]
    own = [where[2] for where in settings.values()]
    return (
        "Over these routes, a function invoked by the local cloud ran "
        f"{_span([w.duration for w in invoked])} ms (REPORT `Duration`), its handler in the bench's "
        f"process {_span([w.duration for w in own])} ms. Around the handler, the host process and the "
        f"executor add {_span([w.around for w in invoked])} ms ({_span([w.around for w in started])} ms in "
        "the process the bench started): the bootstrap's own work, the same for the echo, whose whole "
        "`Duration` is that (section 1). Inside the handler, the AWS calls take "
        f"{_span([w.aws for w in invoked])} ms in an invocation, {_span([w.aws for w in started])} ms in "
        f"the process the bench started and {_span([w.aws for w in own])} ms from the bench's process; "
        f"token verification {_span([w.token for w in invoked])} ms; the rest of our code "
        f"{_span([w.rest for w in invoked])} ms ({_span([w.rest for w in own])} ms in the bench's process)."
    )


def explain_latency_misses(
    results: Mapping[str, list[Clock]],
    settings: Settings,
    deployed: Mapping[str, list[float]],
    results_dir: Path = RESULTS_DIR,
) -> None:
    """Give section 1's missed latency targets the components measured here, route by route.

    Section 1 (``bench.latency``) runs first and can only say how much of a miss is the
    function's own duration; this names what that duration is made of, and says the cause
    the routes share once (``Section.miss_cause``).
    """
    path = results_dir / "latency.json"
    if not path.exists():
        return
    latency = Section.load(path)
    targets = []
    for target in latency.targets:
        route = target.name.removeprefix("p50 `").removesuffix("`")
        if target.met or route not in results:
            targets.append(target)
            continue
        reason = target.miss_reason.split(_EXPLAINED)[0]
        if route in settings:
            invoked, _, own = settings[route]
            reason += (
                f"{_EXPLAINED}the function ran {median(deployed[route]):.1f} ms and its probed copy "
                f"{invoked.duration:.1f} ms: AWS calls "
                f"{invoked.aws:.1f} ({own.aws:.1f} from the bench's process), token verification "
                f"{invoked.token:.1f}, the rest of our code {invoked.rest:.1f}, around the handler "
                f"{invoked.around:.1f}"
            )
        else:
            own = Where.of_clocks(results[route])
            calls = {
                part: median([clock.parts.get(part, 0.0) for clock in results[route]])
                for part in {
                    part for clock in results[route] for part in clock.parts if part.startswith("AWS ")
                }
            }
            slowest = max(calls, key=calls.__getitem__)
            reason += (
                f"{_EXPLAINED}its handler in the bench's process ran {own.handler:.1f} ms: AWS calls "
                f"{own.aws:.1f}, of which {slowest.removeprefix('AWS ')} {calls[slowest]:.1f} (moto's "
                f"transaction copies every table it writes), token verification {own.token:.1f}, the rest of "
                f"our code {own.rest:.1f}"
            )
        targets.append(replace(target, miss_reason=reason))
    invoked_all = [where[0] for where in settings.values()]
    own_all = [where[2] for where in settings.values()]
    cause = (
        "**The API routes' p50** (section 1) miss by what their own duration adds to the echo's; 1b "
        "measures what that duration is made of inside each function's own host process. Around the "
        f"handler, the bootstrap and the executor add {_span([w.around for w in invoked_all])} ms, about "
        "the echo's whole duration: the runtime costs a route what it costs the floor. The handler's AWS "
        f"calls take {_span([w.aws for w in invoked_all])} ms there, as from the bench's own process with "
        f"its warm clients ({_span([w.aws for w in own_all])} ms): the functions keep their clients, "
        "credentials and keep-alive connections across invocations (`image_api.dependencies`), so nothing "
        "is re-created per call; each call is an HTTP request to the local cloud, served by moto, and "
        "the largest part of every route's own duration. Token verification takes "
        f"{_span([w.token for w in invoked_all])} ms, the rest of our code (routing, validation, "
        f"Powertools, Pydantic) {_span([w.rest for w in invoked_all])} ms. "
        f"{_deployed_against_copies(settings, deployed)} "
        "What would fix it: no change of ours removes a route's one DynamoDB call (in AWS "
        "a few ms too); a faster local DynamoDB would shorten it here, and moto's transaction snapshot "
        "(1b) the pending delete's."
    )
    replace(latency, targets=targets, miss_cause=cause).save(results_dir)


_EXPLAINED = "; in 1b, "
# A deployed function and its probed copy within this of each other run the same (the probe's
# own cost and the noise of a shared machine are about this).
SAME_RUN_MS = 1.0


def _deployed_against_copies(settings: Settings, deployed: Mapping[str, list[float]]) -> str:
    own = {name: median(deployed[name]) for name in settings}
    copies = {name: settings[name][0].duration for name in settings}
    gaps = [own[name] - copies[name] for name in settings]
    said = (
        f"In 1b's rounds the deployed functions themselves ran {_span(list(own.values()))} ms, their "
        f"probed copies {_span(list(copies.values()))} ms"
    )
    if max(abs(gap) for gap in gaps) <= SAME_RUN_MS:
        return (
            f"{said}: the same, so where section 1's own durations (each route below) are longer, it is "
            "the moment they were measured at (another minute, another load: see each section's "
            "heading), not the code or the process."
        )
    return f"{said}: the deployed functions {_span(gaps)} ms longer, not broken down further here."


if __name__ == "__main__":
    main()
