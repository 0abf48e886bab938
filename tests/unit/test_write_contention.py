"""Edits and deletes racing other writers for one record: they pause before trying again, and
give up with a 409 in good time, never at the function's timeout.

Found by the concurrent same-image load test (``tests/load/test_same_image.py``): eight edits,
eight re-uploads and four deletes of one image at once on a busy machine lost to each other
at once again (45 of 56 transactions cancelled), each attempt took about two seconds, and
five of them ran into the API functions' 10 s timeout: a 502.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from image_api import use_cases
from tests.unit.conftest import Aws, UploadImage
from tests.unit.harness import ApiClient

# The API functions' timeout in every stage (stacks.settings.StageSettings.api_function).
API_FUNCTION_TIMEOUT_SECONDS = 10.0


class Elapsed:
    """A monotonic clock for the use cases that moves only when told: the slow calls and the pauses."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


@pytest.fixture
def elapsed(monkeypatch: pytest.MonkeyPatch) -> Elapsed:
    clock = Elapsed()
    # raising=False: the tests also run (and fail) against code without pauses and a budget
    monkeypatch.setattr(use_cases, "monotonic", clock, raising=False)
    monkeypatch.setattr(use_cases, "sleep", clock.sleep, raising=False)
    return clock


def every_transaction_loses(aws: Aws, elapsed: Elapsed, *, taking: float) -> list[int]:
    """Make each of the service's transactions take ``taking`` seconds and lose to another writer; the
    count of transactions tried."""
    tried: list[int] = []

    def lose(**_: Any) -> None:
        tried.append(1)
        elapsed.now += taking
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": [{"Code": "ConditionalCheckFailed"}],
            },
            "TransactWriteItems",
        )

    aws.service_dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", lose)
    return tried


@pytest.mark.parametrize("operation", ["edit", "delete"])
def test_a_write_losing_every_slow_attempt_gives_up_with_a_409_well_within_the_function_timeout(
    api: ApiClient, aws: Aws, available_image: UploadImage, elapsed: Elapsed, operation: str
) -> None:
    # Given an image whose record keeps changing, on a machine where each attempt takes 3 s
    image_id = available_image(tags=["cats"])
    tried = every_transaction_loses(aws, elapsed, taking=3.0)
    started = elapsed.now

    # When its owner edits or deletes it
    result = api.edit(image_id, {"tags": ["dogs"]}) if operation == "edit" else api.delete(image_id)

    # Then the answer is a 409 that says to retry, given before the function would have timed out
    assert result.status_code == 409, result.body
    assert "retry" in result.error["message"]
    assert elapsed.now - started < API_FUNCTION_TIMEOUT_SECONDS - 2
    assert 1 < len(tried) < use_cases.WRITE_ATTEMPTS


def test_writers_that_lose_pause_a_random_bounded_while_before_reading_again(
    api: ApiClient, aws: Aws, available_image: UploadImage, elapsed: Elapsed
) -> None:
    # Given a record every write to which loses at once
    image_id = available_image(tags=["cats"])
    tried = every_transaction_loses(aws, elapsed, taking=0.0)

    # When an edit tries every attempt it has
    assert api.edit(image_id, {"tags": ["dogs"]}).status_code == 409

    # Then it paused before each attempt after the first, each time at most twice as long as
    # the time before, up to the cap
    assert len(tried) == use_cases.WRITE_ATTEMPTS
    assert len(elapsed.pauses) == use_cases.WRITE_ATTEMPTS - 1
    for attempt, pause in enumerate(elapsed.pauses, start=1):
        limit = min(use_cases.RETRY_PAUSE_CAP_SECONDS, use_cases.RETRY_PAUSE_BASE_SECONDS * 2**attempt)
        assert 0 <= pause <= limit


def test_the_pauses_double_from_the_base_up_to_the_cap(
    api: ApiClient,
    aws: Aws,
    available_image: UploadImage,
    elapsed: Elapsed,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the longest pause each time (full jitter draws from 0 up to it), and a record every
    # write to which loses (mutation testing: halving the pauses, or growing them linearly,
    # stayed within the bounds the test above checks)
    monkeypatch.setattr(use_cases.random, "uniform", lambda _low, high: high)
    image_id = available_image(tags=["cats"])
    every_transaction_loses(aws, elapsed, taking=0.0)

    # When an edit tries every attempt it has
    assert api.edit(image_id, {"tags": ["dogs"]}).status_code == 409

    # Then its pauses were 50, 100, 200 ms, then the 400 ms cap
    assert elapsed.pauses == pytest.approx([0.05, 0.1, 0.2, 0.4])
