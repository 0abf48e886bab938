"""Asynchronous invocations follow Lambda's retry rules, for attempts longer than a minute too.

Lambda makes at most 1 + ``MaximumRetryAttempts`` attempts at an event (fewer when the event
outgrows its maximum age), one at a time, whether an attempt returns an error, times out or
its process dies; then it hands the event to the on-failure destination and the dead-letter
queue, once. A slow event occupies one execution environment; other events run beside it.

Each scenario is an event sent to a function of the test stack (65 s timeout) whose every
attempt records itself in the table. They all run at once, started by one module fixture,
since the slowest (three attempts of 65 s) takes over three minutes by itself.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key

pytestmark = pytest.mark.localcloud

# Three attempts of 65 s with retry delays of 1 s and 2 s (LAMBDA_RETRY_BASE_DELAY=1) take
# about 200 s; the bound leaves room for a busy machine.
WAIT_SECONDS = 420
# After the last expected message: long enough for a retry that should not happen to start.
SETTLE_SECONDS = 8
QUICK_EVENTS = 3


@dataclass
class Scenario:
    function: str  # the stack output naming the function
    behaviour: str
    failures: str  # the stack output naming its on-failure destination queue
    run: str = field(default_factory=lambda: uuid.uuid4().hex)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    destination: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)


SCENARIOS = {
    "retry2-time_out": Scenario("AsyncRetry2Function", "time_out", "AsyncRetry2FailuresUrl"),
    "retry2-exit": Scenario("AsyncRetry2Function", "exit", "AsyncRetry2FailuresUrl"),
    "retry2-kill": Scenario("AsyncRetry2Function", "kill", "AsyncRetry2FailuresUrl"),
    "retry0-time_out": Scenario("AsyncRetry0Function", "time_out", "AsyncRetry0FailuresUrl"),
    "retry0-exit": Scenario("AsyncRetry0Function", "exit", "AsyncRetry0FailuresUrl"),
    "maxage60-time_out": Scenario("AsyncMaxAge60Function", "time_out", "AsyncMaxAge60FailuresUrl"),
}
# Only the function with two retries has a dead-letter queue.
WITH_DEAD_LETTERS = {"retry2-time_out", "retry2-exit", "retry2-kill"}


@dataclass
class Outcome:
    scenarios: dict[str, Scenario]
    slow_first_attempt: dict[str, Any] | None  # of retry2-time_out, when the quick events were sent
    quick: list[Scenario]


def _invoke_async(function_name: str, run: str, behaviour: str) -> None:
    response = boto3.client("lambda").invoke(
        FunctionName=function_name,
        InvocationType="Event",
        Payload=json.dumps({"run": run, "behaviour": behaviour}),
    )
    assert response["StatusCode"] == 202


def _attempts(table: Any, run: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = table.query(
        KeyConditionExpression=Key("pk").eq(f"ATTEMPT#{run}"), ConsistentRead=True
    )["Items"]
    return sorted(items, key=lambda item: int(item["started_ms"]))


def _drain(queue_url: str) -> Iterator[dict[str, Any]]:
    """Every message now in the queue, deleted as read: what arrived since the last drain."""
    sqs = boto3.client("sqs")
    while messages := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30
    ).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            yield json.loads(message["Body"])


def _run_of(body: dict[str, Any]) -> str:
    # A destination record carries the event as requestPayload; a dead letter is the event itself.
    event = body.get("requestPayload", body)
    return str(event.get("run"))


def _wait_until(done: Callable[[], bool], deadline: float, interval: float = 2) -> None:
    while not done() and time.monotonic() < deadline:
        time.sleep(interval)


@pytest.fixture(scope="module")
def outcome(test_stack: dict[str, str]) -> Outcome:
    """Sends every scenario's event at once, then waits (bounded) until each has ended."""
    table = boto3.resource("dynamodb").Table(test_stack["TableName"])
    scenarios = {name: Scenario(s.function, s.behaviour, s.failures) for name, s in SCENARIOS.items()}
    by_run = {s.run: s for s in scenarios.values()}
    deadline = time.monotonic() + WAIT_SECONDS
    for scenario in scenarios.values():
        _invoke_async(test_stack[scenario.function], scenario.run, scenario.behaviour)

    # While the slow event's first attempt runs, quick events to the same function.
    slow = scenarios["retry2-time_out"]
    _wait_until(lambda: bool(_attempts(table, slow.run)), deadline, interval=0.5)
    slow_attempts = _attempts(table, slow.run)
    quick = [Scenario("AsyncRetry2Function", "succeed", "") for _ in range(QUICK_EVENTS)]
    for event in quick:
        _invoke_async(test_stack[event.function], event.run, event.behaviour)

    def collect() -> None:
        for queue in {s.failures for s in scenarios.values()}:
            for body in _drain(test_stack[queue]):
                if scenario := by_run.get(_run_of(body)):
                    scenario.destination.append(body)
        for body in _drain(test_stack["AsyncDeadLettersUrl"]):
            if scenario := by_run.get(_run_of(body)):
                scenario.dead_letters.append(body)

    def ended() -> bool:
        collect()
        return all(s.destination for s in scenarios.values()) and all(
            scenarios[name].dead_letters for name in WITH_DEAD_LETTERS
        )

    _wait_until(ended, deadline)
    time.sleep(SETTLE_SECONDS)
    collect()
    for scenario in [*scenarios.values(), *quick]:
        scenario.attempts = _attempts(table, scenario.run)
    return Outcome(scenarios, slow_attempts[0] if slow_attempts else None, quick)


def _assert_one_at_a_time(attempts: list[dict[str, Any]]) -> None:
    # An attempt runs at most until its deadline (or its crash); the next may start only after.
    for earlier, later in itertools.pairwise(attempts):
        assert int(later["started_ms"]) >= int(earlier["ends_by_ms"]), (
            f"attempt started at {later['started_ms']} while the one started at "
            f"{earlier['started_ms']} could still run (until {earlier['ends_by_ms']})"
        )


def _assert_handed_over_once(
    scenario: Scenario, *, attempts: int, condition: str, dead_letters: bool
) -> None:
    assert len(scenario.destination) == 1, f"destination received {len(scenario.destination)} records"
    context = scenario.destination[0]["requestContext"]
    assert context["condition"] == condition
    assert context["approximateInvokeCount"] == attempts
    assert context["requestId"] == scenario.attempts[0]["request_id"]
    assert len(scenario.dead_letters) == (1 if dead_letters else 0)


@pytest.mark.parametrize("name", ["retry2-time_out", "retry2-exit", "retry2-kill"])
def test_an_event_whose_every_attempt_fails_is_tried_three_times_one_at_a_time(
    outcome: Outcome, name: str
) -> None:
    attempts = outcome.scenarios[name].attempts

    assert len(attempts) == 3, [(a["started_ms"], a["pid"]) for a in attempts]
    _assert_one_at_a_time(attempts)
    # Retries of an event keep its request id.
    assert len({a["request_id"] for a in attempts}) == 1


@pytest.mark.parametrize("name", ["retry2-time_out", "retry2-exit", "retry2-kill"])
def test_after_its_last_attempt_the_event_reaches_the_destination_and_dead_letter_queue_once(
    outcome: Outcome, name: str
) -> None:
    _assert_handed_over_once(
        outcome.scenarios[name], attempts=3, condition="RetriesExhausted", dead_letters=True
    )


@pytest.mark.parametrize("name", ["retry0-time_out", "retry0-exit"])
def test_with_no_retries_an_event_is_tried_once_then_handed_to_the_destination(
    outcome: Outcome, name: str
) -> None:
    scenario = outcome.scenarios[name]

    assert len(scenario.attempts) == 1
    _assert_handed_over_once(scenario, attempts=1, condition="RetriesExhausted", dead_letters=False)


def test_an_event_past_its_maximum_age_is_not_retried(outcome: Outcome) -> None:
    # Its first attempt times out after 65 s: a retry would start past the 60 s maximum age.
    scenario = outcome.scenarios["maxage60-time_out"]

    assert len(scenario.attempts) == 1
    _assert_handed_over_once(scenario, attempts=1, condition="EventAgeExceeded", dead_letters=False)


def test_while_one_event_is_slow_other_events_to_the_function_run_at_once_beside_it(
    outcome: Outcome,
) -> None:
    slow = outcome.slow_first_attempt
    assert slow is not None, "the slow event's first attempt never started"

    for event in outcome.quick:
        assert len(event.attempts) == 1, f"quick event attempted {len(event.attempts)} times"
        (attempt,) = event.attempts
        # Finished while the slow attempt still held its environment: it did not wait for it.
        assert int(attempt["ends_by_ms"]) < int(slow["ends_by_ms"])
        assert attempt["pid"] != slow["pid"]


def _alive(pid: int, marker: bytes) -> bool:
    """Whether process pid runs and is still the one we started (pids are reused)."""
    try:
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_no_process_of_a_finished_attempt_is_left_running(outcome: Outcome) -> None:
    attempts = [a for s in outcome.scenarios.values() for a in s.attempts]
    assert attempts

    left = [
        a for a in attempts if _alive(int(a["pid"]), b"bootstrap") or _alive(int(a["child_pid"]), b"sleep")
    ]

    assert left == []
