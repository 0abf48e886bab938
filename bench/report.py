"""docs/benchmarks.md, assembled from the results each benchmark leaves behind.

Every benchmark (``make bench-latency``, ``bench-imports``, ...) measures, then saves one
``Section`` as JSON under ``RESULTS_DIR`` and renders the whole document again from every
section saved so far: a sub-target run alone refreshes its own section and keeps the others
(each says when and under what load it was measured). ``make bench`` runs them all.

    python -m bench.report            # render docs/benchmarks.md from the saved sections
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(".localcloud/bench")
DOCUMENT = Path("docs/benchmarks.md")

# The sections in the document's order (the numbering), by key.
ORDER = (
    "latency",
    "breakdown",
    "throughput",
    "imports",
    "cold_start",
    "list_cost",
    "variants",
    "upload_path",
    "local_loop",
    "test_suites",
)


@dataclass(frozen=True)
class Target:
    """One target of the issue: what was measured against it, and if missed, why and what would fix it."""

    name: str
    target: str
    measured: str
    met: bool
    # For a miss: the component the measurement points at, and the fix.
    miss_reason: str = ""


@dataclass(frozen=True)
class Machine:
    cores: int
    load_at_start: tuple[float, float, float]
    load_at_end: tuple[float, float, float]
    python: str
    started_at: str
    finished_at: str

    @staticmethod
    def now_load() -> tuple[float, float, float]:
        one, five, fifteen = os.getloadavg()
        return (round(one, 2), round(five, 2), round(fifteen, 2))

    def describe(self) -> str:
        start = " / ".join(f"{value:.2f}" for value in self.load_at_start)
        end = " / ".join(f"{value:.2f}" for value in self.load_at_end)
        return (
            f"{self.started_at} to {self.finished_at} UTC; {self.cores} cores; load average "
            f"(1/5/15 min) {start} at start, {end} at end; Python {self.python}"
        )


class Stopwatch:
    """The machine's state around one benchmark: cores, load average and times at start and end."""

    def __init__(self) -> None:
        self._started_at = _utc_now()
        self._load_at_start = Machine.now_load()

    def machine(self) -> Machine:
        return Machine(
            cores=os.cpu_count() or 0,
            load_at_start=self._load_at_start,
            load_at_end=Machine.now_load(),
            python=platform.python_version(),
            started_at=self._started_at,
            finished_at=_utc_now(),
        )


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    machine: Machine
    commands: list[str]
    # Markdown: the raw figures, ratios and what they mean.
    body: str
    targets: list[Target] = field(default_factory=list)
    # For misses of this section's targets that share one cause: that cause, said once before
    # them (each target's miss_reason then gives only its own figures).
    miss_cause: str = ""

    def save(self, results_dir: Path = RESULTS_DIR) -> Path:
        results_dir.mkdir(parents=True, exist_ok=True)
        path = results_dir / f"{self.key}.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> Section:
        raw: dict[str, Any] = json.loads(path.read_text())
        machine = raw["machine"]
        return cls(
            key=raw["key"],
            title=raw["title"],
            machine=Machine(
                cores=machine["cores"],
                load_at_start=tuple(machine["load_at_start"]),
                load_at_end=tuple(machine["load_at_end"]),
                python=machine["python"],
                started_at=machine["started_at"],
                finished_at=machine["finished_at"],
            ),
            commands=list(raw["commands"]),
            body=raw["body"],
            targets=[Target(**target) for target in raw["targets"]],
            miss_cause=raw.get("miss_cause", ""),
        )


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; floats with one decimal unless already formatted."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.1f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def load_sections(results_dir: Path = RESULTS_DIR) -> list[Section]:
    found = {path.stem: Section.load(path) for path in sorted(results_dir.glob("*.json"))}
    ordered = [found.pop(key) for key in ORDER if key in found]
    return ordered + [found[key] for key in sorted(found)]


# What was changed to reach these figures (issue 16), for a reader who wonders why they moved.
CHANGES = (
    "## What changed for these figures",
    "",
    "- **Bundles carry bytecode** (`stacks/python_function_code.py`): Lambda cannot write `__pycache__` "
    "into its read-only `/var/task` (nor does the local cloud, `-B`), and bundles were built with "
    "`pip --no-compile`, so every cold start compiled Powertools, Pydantic, PyJWT and our code from "
    "source. Now unchecked-hash `.pyc` files ship in every bundle: section 3's two middle columns "
    "separate this from the next change.",
    "- **Imports on first need** (`image_api/dependencies.py`): PyJWT with `cryptography` only when a "
    "request first verifies a token (never for `/openapi.json`), the AWS clients when the service is "
    "first used. Pillow was already in processing only.",
    "- **Variants lossy or lossless, whichever is smaller** (`image_processing/imaging.py`): section 5.",
    "- **`make hotswap`** (`localcloud/hotswap.py`): new code into the deployed functions without a "
    "deploy; `make deploy-local` runs it too, so no function keeps stale code (section 7).",
    "- **Unit and infrastructure tests in parallel** (pytest-xdist, `TEST_WORKERS`, section 7b).",
    "- **Payload accounting in the local cloud**: a `LOCALCLOUD PAYLOAD` line after each REPORT line "
    "(section 6).",
)


def render(sections: Sequence[Section]) -> str:
    """The whole document: how to reproduce it, every target at a glance, then each section."""
    out = [
        "# Benchmarks",
        "",
        "Written by `make bench` (after `make up`); each part also runs alone and refreshes its own",
        "sections: `make bench-latency` (1, 1b, 2), `bench-imports` (3), `bench-coldstart` (3b),",
        "`bench-list` (4), `bench-variants` (5), `bench-upload` (6), `bench-loop` (7; with",
        "`BENCH_TESTS=1` also 7b). Do not edit by hand: change `bench/` and run it",
        "again. Timings come from a shared 2-core machine on which other work ran at the same time:",
        "each section gives its load average at start and end, latency figures are medians of",
        "interleaved rounds (every series measured in every round, the order rotated each round), and",
        "ratios to a floor measured in the same rounds are the figures to compare between runs.",
        "",
        "## Targets",
        "",
    ]
    rows = [
        (target.name, target.target, target.measured, "met" if target.met else "**missed**")
        for section in sections
        for target in section.targets
    ]
    out.append(table(("target", "wanted", "measured", ""), rows) if rows else "No section measured yet.")
    if any(not target.met for section in sections for target in section.targets):
        out += ["", "Each miss, measured down to what causes it, and what would fix it:", ""]
    for section in sections:
        missed = [target for target in section.targets if not target.met]
        if missed and section.miss_cause:
            out += [f"- {section.miss_cause}"]
            out += [f"  - **{target.name}**: {target.miss_reason}" for target in missed]
        else:
            out += [f"- **{target.name}**: {target.miss_reason}" for target in missed]
    out += ["", *CHANGES]
    for section in sections:
        out += [
            "",
            f"## {section.title}",
            "",
            f"Measured {section.machine.describe()}.",
            "",
            "```sh",
            *section.commands,
            "```",
            "",
            section.body.rstrip(),
        ]
    return "\n".join(out) + "\n"


def write_document(results_dir: Path = RESULTS_DIR, document: Path = DOCUMENT) -> Path:
    document.parent.mkdir(parents=True, exist_ok=True)
    document.write_text(render(load_sections(results_dir)))
    return document


def publish(section: Section, results_dir: Path = RESULTS_DIR, document: Path = DOCUMENT) -> None:
    """Save ``section`` and render the document again; print the section for the terminal."""
    section.save(results_dir)
    write_document(results_dir, document)
    print(f"\n## {section.title}\n\n{section.body}")
    for target in section.targets:
        verdict = "met" if target.met else "MISSED"
        print(f"  [{verdict}] {target.name}: {target.measured} (wanted {target.target})")
    print(f"\n{document} written", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    parser.add_argument("--document", type=Path, default=DOCUMENT)
    args = parser.parse_args()
    print(write_document(args.results, args.document))


if __name__ == "__main__":
    main()
