"""Cold start, part one: how long each handler module takes to import, before and after.

    make bench-imports        # after make up (it reads the deployed bundles in cdk.out/)

A function's cold start imports its handler module from its bundle, with the local cloud's
Lambda Python (the runtime's boto3 beside the bundle), exactly as the host executor starts
it: ``python -B`` (nothing written) with the bundle on ``PYTHONPATH``. Each import runs in a
fresh interpreter under ``-X importtime``; the figure is the sum of the cumulative times of
every top-level import beyond those of an empty interpreter, the median of the rounds.

Four bundles are timed, interleaved: the code of ``BASE`` (default: the commit this branch
started from) and the current code, each without bytecode (as bundles shipped before) and
with it (as ``stacks/python_function_code.py`` builds them now). Same dependencies, same
interpreter, same run. A bare handler that imports only boto3 is the floor.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.report import Section, Stopwatch, Target, publish, table
from bench.stats import interleaved, median

LAMBDA_PYTHON = Path(".localcloud/lambda-python/bin/python").absolute()
CDK_OUT = Path("cdk.out")
DEFAULT_BASE = "0d01b01"
# The function packages whose handler modules are timed, and the package that shares them.
PACKAGES = ("image_api", "image_processing", "image_reconcile", "image_core")
API_HANDLERS = (
    "image_api.get_image",
    "image_api.list_images",
    "image_api.download",
    "image_api.upload",
    "image_api.edit_image",
    "image_api.delete_image",
    "image_api.contract",
)
OTHER_HANDLERS = ("image_processing.handler", "image_reconcile.handler")
FLOOR = "boto3"

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)\s*$")


@dataclass(frozen=True)
class ImportTimes:
    """One interpreter's ``-X importtime`` report."""

    # (self µs, cumulative µs, depth, module) in the order printed.
    lines: list[tuple[int, int, int, str]]

    @classmethod
    def parse(cls, stderr: str) -> ImportTimes:
        lines = []
        for raw in stderr.splitlines():
            if match := _LINE.match(raw):
                self_us, cumulative_us, indent, name = match.groups()
                lines.append((int(self_us), int(cumulative_us), len(indent) // 2, name))
        return cls(lines)

    def top_level(self) -> dict[str, int]:
        return {name: cumulative for _, cumulative, depth, name in self.lines if depth == 0}

    def total_ms(self, startup: Iterable[str]) -> float:
        """Milliseconds spent importing what the empty interpreter (``startup``'s modules) did not."""
        skip = set(startup)
        return sum(us for name, us in self.top_level().items() if name not in skip) / 1000

    def by_package_ms(self, startup: Iterable[str]) -> dict[str, float]:
        """Each root package's own import time (self times summed), beyond the empty interpreter's."""
        skip = set(startup)
        totals: dict[str, float] = defaultdict(float)
        for self_us, _, _, name in self.lines:
            if name not in skip:
                totals[name.split(".")[0]] += self_us / 1000
        return dict(totals)


def time_import(python: Path, bundle: Path, module: str) -> ImportTimes:
    code = f"import {module}" if module else "pass"
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(bundle), "LANG": "C.UTF-8"}
    done = subprocess.run(
        [str(python), "-B", "-X", "importtime", "-c", code],
        env=env,
        cwd=bundle,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: importing {module} from {bundle} failed:\n{done.stderr[-2000:]}")
    return ImportTimes.parse(done.stderr)


def deployed_bundle(package: str, cdk_out: Path = CDK_OUT) -> Path:
    """The newest bundle in ``cdk_out`` that holds ``package`` (the deployed one after make up)."""
    bundles = [path.parent for path in cdk_out.glob(f"asset.*/{package}") if path.is_dir()]
    if not bundles:
        raise SystemExit(f"bench: no bundle with {package}/ in {cdk_out}; run make up first")
    return max(bundles, key=lambda path: path.stat().st_mtime)


def without_bytecode(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def with_code_of(bundle: Path, commit: str, packages: Sequence[str]) -> None:
    """Replace ``bundle``'s own packages with their source at ``commit``."""
    for package in packages:
        shutil.rmtree(bundle / package, ignore_errors=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, *(f"lambda_src/{package}" for package in packages)],
        capture_output=True,
        check=True,
    )
    subprocess.run(
        ["tar", "-x", "-C", str(bundle), "--strip-components=1"],
        input=archive.stdout,
        check=True,
    )


def compiled(bundle: Path) -> Path:
    subprocess.run(
        [str(LAMBDA_PYTHON), "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(bundle)],
        check=True,
        capture_output=True,
    )
    return bundle


def measure(
    bundles: Mapping[str, Mapping[str, Path]], modules: Sequence[str], rounds: int
) -> tuple[dict[tuple[str, str], list[float]], dict[tuple[str, str], dict[str, float]]]:
    """Import time (ms) of each (variant, module), interleaved over ``rounds``; and each one's
    per-package breakdown from its median round."""
    startup: dict[str, set[str]] = {}
    for variant, by_package in bundles.items():
        empty = time_import(LAMBDA_PYTHON, next(iter(by_package.values())), "")
        startup[variant] = set(empty.top_level())
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    reports: dict[tuple[str, str], list[ImportTimes]] = defaultdict(list)
    keys = [(variant, module) for variant in bundles for module in modules]
    for _, (variant, module) in interleaved(keys, rounds):
        bundle = bundles[variant][module.split(".")[0] if module != FLOOR else "image_api"]
        report = time_import(LAMBDA_PYTHON, bundle, module)
        times[(variant, module)].append(report.total_ms(startup[variant]))
        reports[(variant, module)].append(report)
    breakdown = {}
    for key, values in times.items():
        middle = sorted(range(len(values)), key=values.__getitem__)[len(values) // 2]
        breakdown[key] = reports[key][middle].by_package_ms(startup[key[0]])
    return dict(times), breakdown


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default=DEFAULT_BASE, help="the commit whose code is 'before'")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    watch = Stopwatch()
    modules = [FLOOR, *API_HANDLERS, *OTHER_HANDLERS]
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as scratch:
        root = Path(scratch)
        bundles: dict[str, dict[str, Path]] = defaultdict(dict)
        for package in ("image_api", "image_processing", "image_reconcile"):
            deployed = deployed_bundle(package)
            own = [package, "image_core"]
            before = without_bytecode(deployed, root / f"before-{package}")
            with_code_of(before, args.base, own)
            bundles["before"][package] = before
            bundles["before, with bytecode"][package] = compiled(
                shutil.copytree(before, root / f"before-compiled-{package}")
            )
            bundles["now, without bytecode"][package] = without_bytecode(
                deployed, root / f"now-plain-{package}"
            )
            bundles["now"][package] = deployed
        times, breakdown = measure(bundles, modules, args.rounds)
    section = imports_section(times, breakdown, modules, args, watch)
    publish(section)


def imports_section(
    times: Mapping[tuple[str, str], list[float]],
    breakdown: Mapping[tuple[str, str], Mapping[str, float]],
    modules: Sequence[str],
    args: argparse.Namespace,
    watch: Stopwatch,
) -> Section:
    variants = ["before", "before, with bytecode", "now, without bytecode", "now"]
    rows = []
    targets = []
    for module in modules:
        medians = {variant: median(times[(variant, module)]) for variant in variants}
        rows.append(
            (
                f"`{module}`" + (" (floor: imports only boto3)" if module == FLOOR else ""),
                *(f"{medians[variant]:.0f}" for variant in variants),
                f"{medians['now'] / medians['before']:.2f}x",
            )
        )
        if module in API_HANDLERS:
            met = medians["now"] <= medians["before"] / 2
            targets.append(
                Target(
                    name=f"import `{module}`",
                    target="at most half of before",
                    measured=f"{medians['now']:.0f} ms vs {medians['before']:.0f} ms "
                    f"({medians['now'] / medians['before']:.2f}x)",
                    met=met,
                    miss_reason=""
                    if met
                    else "see the per-package breakdown in the cold-start section: what remains is "
                    "Powertools' event handler and Pydantic, which every route's validation needs",
                )
            )
    packages = sorted(
        {package for key, split in breakdown.items() if key[1] == "image_api.get_image" for package in split},
        key=lambda package: -breakdown[("before", "image_api.get_image")].get(package, 0),
    )
    split_rows = [
        (
            f"`{package}`",
            *(f"{breakdown[(variant, 'image_api.get_image')].get(package, 0):.0f}" for variant in variants),
        )
        for package in packages
        if max(breakdown[(variant, "image_api.get_image")].get(package, 0) for variant in variants) >= 5
    ]
    body = "\n".join(
        [
            f"Import time in ms (median of {args.rounds} interleaved rounds, each a fresh "
            "interpreter: the local cloud's Lambda Python 3.13 with `-B -X importtime`, the deployed "
            f"bundle on `PYTHONPATH`). *before*: the code of `{args.base}` in a bundle without "
            "bytecode, as bundles were built; *now*: the deployed bundle, with the current code "
            "and bytecode; the two middle columns separate the two changes.",
            "",
            table(("handler module", *variants, "now / before"), rows),
            "",
            "Where `image_api.get_image`'s import time goes (each root package's own time, ms, "
            "from the median round; packages under 5 ms left out):",
            "",
            table(("package", *variants), split_rows),
        ]
    )
    return Section(
        key="imports",
        title="3. Cold start: import time of each handler",
        machine=watch.machine(),
        commands=["make up", f"make bench-imports   # python -m bench.imports --base {args.base}"],
        body=body,
        targets=targets,
    )


if __name__ == "__main__":
    main()
