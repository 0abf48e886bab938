"""The benchmarks' own arithmetic and report writer (no timing is asserted anywhere)."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from bench.imports import ImportTimes
from bench.report import Machine, Section, Target, load_sections, render, table, write_document
from bench.stats import Summary, interleaved, percentile, ratio, run_interleaved, union_ms
from bench.upload_path import padded_png

MACHINE = Machine(
    cores=2,
    load_at_start=(1.0, 2.0, 3.0),
    load_at_end=(1.5, 2.5, 3.5),
    python="3.13.0",
    started_at="2026-11-30 09:20",
    finished_at="2026-11-30 09:25",
)


def section(key: str, *targets: Target, title: str | None = None) -> Section:
    return Section(
        key=key,
        title=title or key,
        machine=MACHINE,
        commands=[f"make bench-{key}"],
        body=f"body of {key}",
        targets=list(targets),
    )


# --- percentiles and ratios -------------------------------------------------------------------------


def test_a_percentile_is_a_measured_value_by_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 7.0, 6.0, 9.0, 8.0]

    assert percentile(values, 0.5) == 5.0
    assert percentile(values, 0.95) == 10.0
    assert percentile(values, 0.1) == 1.0
    assert percentile([4.0], 0.99) == 4.0


def test_a_percentile_of_nothing_or_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="fraction"):
        percentile([1.0], 0)


def test_a_summary_holds_p50_p95_p99_of_a_hundred_values() -> None:
    summary = Summary.of([float(n) for n in range(1, 101)])

    assert (summary.n, summary.p50, summary.p95, summary.p99) == (100, 50.0, 95.0, 99.0)


def test_a_ratio_is_to_the_floor_and_a_floor_of_zero_is_refused() -> None:
    assert ratio(26.0, 20.0) == pytest.approx(1.3)
    with pytest.raises(ValueError, match="floor"):
        ratio(1.0, 0.0)


# --- interleaving -------------------------------------------------------------------------------------


def test_interleaved_rounds_run_every_name_once_per_round_and_rotate_the_first() -> None:
    order = list(interleaved(["echo", "get", "list"], 4))

    rounds = [[name for number, name in order if number == r] for r in range(4)]
    assert rounds == [
        ["echo", "get", "list"],
        ["get", "list", "echo"],
        ["list", "echo", "get"],
        ["echo", "get", "list"],
    ]


def test_run_interleaved_keeps_only_complete_rounds_when_the_deadline_passes() -> None:
    calls: list[str] = []

    def operation(name: str) -> float:
        calls.append(name)
        return float(len(calls))

    series = run_interleaved(
        {"a": lambda: operation("a"), "b": lambda: operation("b")}, 10, deadline=lambda: len(calls) >= 4
    )

    assert len(series["a"]) == len(series["b"]) == 2
    assert calls == ["a", "b", "b", "a"]


# --- the report -------------------------------------------------------------------------------------


def test_the_document_lists_every_target_and_explains_each_miss() -> None:
    met = Target(name="p50 GET", target="<= 1.3x", measured="1.2x", met=True)
    missed = Target(
        name="p50 LIST", target="<= 1.3x", measured="1.6x", met=False, miss_reason="DynamoDB Query 5 ms"
    )

    document = render([section("latency", met, missed)])

    assert "| p50 GET | <= 1.3x | 1.2x | met |" in document
    assert "| p50 LIST | <= 1.3x | 1.6x | **missed** |" in document
    assert "- **p50 LIST**: DynamoDB Query 5 ms" in document
    assert "p50 GET**:" not in document


def test_misses_sharing_a_cause_state_it_once_and_each_gives_only_its_own_figures() -> None:
    missed = [
        Target(name=f"p50 {route}", target="<= 1.3x", measured="1.6x", met=False, miss_reason=f"{route} 5 ms")
        for route in ("GET", "LIST")
    ]
    shared = replace(section("latency", *missed), miss_cause="**The routes**: one DynamoDB call each")
    alone = section(
        "variants", Target(name="decoding", target="4x", measured="3x", met=False, miss_reason="WebP")
    )

    document = render([shared, alone])

    assert document.count("one DynamoDB call each") == 1
    assert (
        "- **The routes**: one DynamoDB call each\n  - **p50 GET**: GET 5 ms\n  - **p50 LIST**: LIST 5 ms\n"
        "- **decoding**: WebP" in document
    )


def test_a_section_saved_before_shared_causes_existed_loads_without_one(tmp_path: Path) -> None:
    path = section("latency").save(tmp_path)
    raw = json.loads(path.read_text())
    del raw["miss_cause"]
    path.write_text(json.dumps(raw))

    assert Section.load(path) == section("latency")


def test_overlapping_spans_count_once_and_gaps_not_at_all() -> None:
    # Two calls in parallel from 0 to 3 ms, one nested in another, then one alone after a gap.
    spans = [(0.0, 0.002), (0.001, 0.003), (0.0015, 0.0025), (0.010, 0.011)]

    assert union_ms(spans) == pytest.approx(4.0)
    assert union_ms([]) == 0.0


def test_the_document_names_the_machine_and_the_commands_of_each_section() -> None:
    document = render([section("latency")])

    assert (
        "2 cores; load average (1/5/15 min) 1.00 / 2.00 / 3.00 at start, 1.50 / 2.50 / 3.50 at end"
        in document
    )
    assert "Python 3.13.0" in document
    assert "```sh\nmake bench-latency\n```" in document


def test_sections_saved_apart_come_back_in_the_issues_order(tmp_path: Path) -> None:
    for key in ("variants", "latency", "imports"):
        section(key, Target(name=key, target="t", measured="m", met=True), title=f"title {key}").save(
            tmp_path
        )

    loaded = load_sections(tmp_path)

    assert [item.key for item in loaded] == ["latency", "imports", "variants"]
    assert loaded[0] == section(
        "latency", Target(name="latency", target="t", measured="m", met=True), title="title latency"
    )


def test_a_sub_benchmark_run_alone_keeps_the_other_sections(tmp_path: Path) -> None:
    document = tmp_path / "benchmarks.md"
    section("latency", title="Latency").save(tmp_path)
    section("variants", title="Variants").save(tmp_path)
    section("variants", title="Variants, again").save(tmp_path)

    write_document(tmp_path, document)

    text = document.read_text()
    assert "## Latency" in text
    assert "## Variants, again" in text
    assert "## Variants\n" not in text


def test_a_table_escapes_pipes_and_formats_floats() -> None:
    assert table(("a", "b"), [("x|y", 1.25)]) == "| a | b |\n|---|---|\n| x\\|y | 1.2 |"


# --- import times ----------------------------------------------------------------------------------

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |   _io
import time:       200 |        300 | site
import time:      1000 |       1000 |     jwt.algorithms
import time:       500 |       1500 |   jwt
import time:       250 |       1750 | image_api.auth
import time:       400 |        400 | boto3
"""


def test_import_times_count_what_the_empty_interpreter_did_not_import() -> None:
    report = ImportTimes.parse(IMPORTTIME)

    assert report.top_level() == {"site": 300, "image_api.auth": 1750, "boto3": 400}
    assert report.total_ms(startup={"site"}) == pytest.approx(2.15)


def test_import_times_by_root_package_sum_each_modules_own_time() -> None:
    by_package = ImportTimes.parse(IMPORTTIME).by_package_ms(startup={"site", "_io"})

    assert by_package == {
        "jwt": pytest.approx(1.5),
        "image_api": pytest.approx(0.25),
        "boto3": pytest.approx(0.4),
    }


# --- the upload bench's picture ----------------------------------------------------------------------


def test_the_padded_png_has_exactly_the_size_asked_and_still_decodes() -> None:
    data = padded_png(200_000)

    assert len(data) == 200_000
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.size == (64, 64)
