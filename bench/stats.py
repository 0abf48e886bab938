"""The arithmetic of the benchmarks: percentiles, medians, ratios and interleaved rounds.

Kept apart from anything that measures, so that its tests run without a local cloud.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``fraction`` of them at or below it.

    ``percentile(v, 0.5)`` of an even count is the lower middle value, not an average: every
    figure reported is one that was measured.
    """
    if not values:
        raise ValueError("no values")
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered))
    return ordered[max(rank, 1) - 1]


def ratio(value: float, floor: float) -> float:
    """``value`` as a multiple of ``floor`` (1.0: as fast as the floor)."""
    if floor <= 0:
        raise ValueError("the floor must be positive")
    return value / floor


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


@dataclass(frozen=True)
class Summary:
    """p50/p95/p99 of one series, in the series' unit."""

    n: int
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(
            n=len(values),
            p50=percentile(values, 0.50),
            p95=percentile(values, 0.95),
            p99=percentile(values, 0.99),
        )


def interleaved[K](names: Sequence[K], rounds: int) -> Iterator[tuple[int, K]]:
    """(round, name) in the order the benchmarks measure: every name once per round, and the
    order rotated each round, so that no series always runs first (after an idle gap) or
    always right after the same neighbour. A noisy neighbour on the machine then spreads
    over every series instead of landing on one.
    """
    count = len(names)
    for round_number in range(rounds):
        shift = round_number % count if count else 0
        for name in [*names[shift:], *names[:shift]]:
            yield round_number, name


def run_interleaved[K](
    operations: Mapping[K, Callable[[], float]], rounds: int, *, deadline: Callable[[], bool] = lambda: False
) -> dict[K, list[float]]:
    """Each operation's measured values over ``rounds`` interleaved rounds (stops early at ``deadline``).

    A round is either complete or not counted: every series keeps the same number of values.
    """
    series: dict[K, list[float]] = {name: [] for name in operations}
    pending: dict[K, float] = {}
    names = list(operations)
    for _, name in interleaved(names, rounds):
        pending[name] = operations[name]()
        if len(pending) == len(names):
            for done, value in pending.items():
                series[done].append(value)
            pending = {}
            if deadline():
                break
    return series


def union_ms(spans: Sequence[Sequence[float]]) -> float:
    """Milliseconds during which at least one of ``spans`` ((start, end) in seconds) was under way."""
    covered = 0.0
    reached = float("-inf")
    for started, ended in sorted((span[0], span[1]) for span in spans):
        if ended > reached:
            covered += ended - max(started, reached)
            reached = ended
    return covered * 1000
