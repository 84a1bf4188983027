"""reports/dashboard.py: the history.json reader and what the dashboard page shows, from generated histories.

Why: the history travels between runs in artifacts, so the reader is the one place that keeps a
file of another version, a corrupt one or an oversized one from drawing a wrong page (or a
traceback); and the page is only useful if its sections really pick out what is known to be in
the history: the flaky tests, not the always-failing or fixed ones; the slow tests; the regressed
benchmark. The histories come from tests/history_factory.py, written to the fixed format.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from doorbell_ci.reports import dashboard
from doorbell_ci.reports.dashboard import HistoryError
from tests import history_factory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generated() -> tuple[dict[str, Any], history_factory.Known]:
    return history_factory.generate(tests=1_500, runs=64, platforms=history_factory.PLATFORMS)


def _written(tmp_path: Path, document: Any, name: str = "history.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# --- reading --------------------------------------------------------------------------------------


def test_a_generated_history_reads_back_whole(tmp_path: Path, generated: tuple[dict[str, Any], Any]) -> None:
    document, _ = generated
    history = dashboard.read(_written(tmp_path, document))
    assert len(history.runs) == 64 and len(history.tests) == 1_500
    first = history.runs[0]
    assert first.platform == history_factory.PLATFORMS[0] and first.commit == document["runs"][0]["commit"]
    assert first.benchmarks["frame_decode"][1] == "s"
    key = next(iter(document["tests"]))
    assert history.tests[key] == (document["tests"][key]["o"], document["tests"][key]["d"])


def _mutations() -> list[tuple[str, Any, str]]:
    """(id, a function changing a valid document or raw text, what the one-line error must say)."""
    def test_entry(doc: dict[str, Any]) -> dict[str, Any]:
        return next(iter(doc["tests"].values()))

    return [
        ("other schema", lambda d: d.update(schema="junit"), "schema"),
        ("version 2", lambda d: d.update(version=2), "version"),
        ("version as text", lambda d: d.update(version="1"), "version"),
        ("version true", lambda d: d.update(version=True), "version"),
        ("runs not a list", lambda d: d.update(runs={}), '"runs" must be a list'),
        ("o too short", lambda d: test_entry(d).update(o=test_entry(d)["o"][:-1]), "one per run"),
        ("d too long", lambda d: test_entry(d)["d"].append(0.1), "one per run"),
        ("o unknown letter", lambda d: test_entry(d).update(o="X" + test_entry(d)["o"][1:]), '"o" may hold only'),
        ("d holds text", lambda d: test_entry(d)["d"].__setitem__(0, "0.1"), '"d" may hold only'),
        ("d holds a bool", lambda d: test_entry(d)["d"].__setitem__(0, True), '"d" may hold only'),
        ("negative duration", lambda d: test_entry(d)["d"].__setitem__(1, -0.5), "finite number from 0"),
        ("huge duration", lambda d: test_entry(d)["d"].__setitem__(1, 1e7), "finite number from 0"),
        ("count as text", lambda d: d["runs"][3].update(passed="10"), '"passed" must be a whole number'),
        ("negative count", lambda d: d["runs"][3].update(failed=-1), '"failed" must be a whole number'),
        ("run without platform", lambda d: d["runs"][2].pop("platform"), '"platform" must be a string'),
        ("huge run id", lambda d: d["runs"][2].update(id="x" * 5_000), '"id" must be a string of at most'),
        ("benchmark unit", lambda d: d["runs"][0]["benchmarks"]["frame_decode"].update(unit="parsecs"), "unit"),
        ("huge benchmark name",
         lambda d: d["runs"][1]["benchmarks"].update({"b" * 1_000_001: {"value": 1, "unit": "s"}}),
         "a benchmark name is over"),
        ("huge test id", lambda d: d["tests"].update({"t" * 1_000_001: test_entry(d)}), "the id is over"),
        ("suite seconds as text", lambda d: d["runs"][0]["suites"].update(unit="3"), "suite"),
        ("test entry not an object", lambda d: d["tests"].update({"unit::a::b": [1, 2]}), "one per run"),
    ]


@pytest.mark.parametrize(("change", "expected"), [(m[1], m[2]) for m in _mutations()],
                         ids=[m[0] for m in _mutations()])
def test_off_format_documents_are_refused_in_one_line(tmp_path: Path, change: Any, expected: str) -> None:
    document, _ = history_factory.generate(tests=20, runs=8)
    change(document)
    with pytest.raises(HistoryError) as raised:
        dashboard.read(_written(tmp_path, document))
    message = str(raised.value)
    assert expected in message and "\n" not in message and str(tmp_path) in message


@pytest.mark.parametrize("text", [
    '{"schema": "doorbell-ci.history", "version": 1, "runs": [], "tests": {"a": {"o": "", "d": []}}, "x": NaN}',
    '{"schema": "doorbell-ci.history", "version": 1, "runs": [], "tests": {}, "x": -Infinity}',
    "RUNS_WITH_DURATION_1e999",
    "TEST_WITH_DURATION_1e999",
    "TEST_WITH_DURATION_-1e999",
], ids=["NaN", "-Infinity", "run duration 1e999", "test duration 1e999", "test duration -1e999"])
def test_non_finite_numbers_are_refused(tmp_path: Path, text: str) -> None:
    """NaN/Infinity literals are refused while parsing; 1e999 parses to inf and is over every bound."""
    if text.startswith(("RUNS", "TEST")):
        document, _ = history_factory.generate(tests=3, runs=2)
        raw = json.dumps(document)
        if text.startswith("RUNS"):
            raw = raw.replace(f'"duration": {document["runs"][0]["duration"]}', '"duration": 1e999', 1)
        else:
            first = next(iter(document["tests"].values()))
            number = next(v for v in first["d"] if v)
            raw = raw.replace(f"[{json.dumps(number)}", f"[{text.rsplit('_', 1)[1]}", 1)
        assert "1e999" in raw
        text = raw
    path = tmp_path / "history.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HistoryError) as raised:
        dashboard.read(path)
    assert "\n" not in str(raised.value)
    assert re.search(r"non-finite|finite number", str(raised.value)), str(raised.value)


@pytest.mark.parametrize(("raw", "expected"), [
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"schema": ', "not valid JSON"),
    (b"[" * 200_000 + b"]" * 200_000, "not valid JSON"),  # nesting deeper than the parser's recursion
    (b'["doorbell-ci.history", 1]', "not a JSON object"),
], ids=["not utf-8", "truncated", "deeply nested", "a list"])
def test_unreadable_files_are_refused_in_one_line(tmp_path: Path, raw: bytes, expected: str) -> None:
    path = tmp_path / "history.json"
    path.write_bytes(raw)
    with pytest.raises(HistoryError, match=expected) as raised:
        dashboard.read(path)
    assert "\n" not in str(raised.value)


def test_bounds_on_runs_tests_and_file_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each bound is checked before the work it limits (lowered here so the test stays small)."""
    document, _ = history_factory.generate(tests=30, runs=12)
    path = _written(tmp_path, document)
    for bound, value, expected in (("MAX_RUNS", 11, "12 runs, over the bound of 11"),
                                   ("MAX_TESTS", 29, "30 tests, over the bound of 29"),
                                   ("MAX_FILE_BYTES", 1_000, "MiB, over the")):
        with monkeypatch.context() as patched:
            patched.setattr(dashboard, bound, value)
            with pytest.raises(HistoryError, match=expected):
                dashboard.read(path)
    dashboard.read(path)  # at the real bounds it is fine


def test_the_default_bounds_hold_the_writers_defaults() -> None:
    """history_runs defaults to 64 and history_tests to 100,000 (the format's contract)."""
    assert dashboard.MAX_RUNS >= 64 and dashboard.MAX_TESTS >= 100_000
    assert dashboard.MAX_FILE_BYTES >= 100_000 * 64 * 12  # ~600 bytes a test at 64 runs, with room


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="cannot read history file"):
        dashboard.read(tmp_path / "nowhere.json")


# --- what the page shows ------------------------------------------------------------------------


def test_the_flaky_leaderboard_holds_the_flaky_tests_and_not_the_broken_or_fixed(
        generated: tuple[dict[str, Any], history_factory.Known]) -> None:
    document, known = generated
    view = dashboard.view(dashboard.parse(copy.deepcopy(document)))
    listed = {row["key"] for row in view["flaky"]}
    assert listed and listed <= set(known.flaky)
    assert not listed & set(known.always_failing) and not listed & set(known.fixed_midway)
    assert view["flaky_total"] == len(known.flaky)  # every flaky test flipped or passed on a rerun at 64 runs
    assert view["flaky_left_out"] == len(known.flaky) - len(listed)
    scores = [row["score"] for row in view["flaky"]]
    assert scores == sorted(scores, reverse=True)
    row = view["flaky"][0]
    outcomes = document["tests"][row["key"]]["o"]
    assert row["reruns"] == outcomes.count("R")
    assert [cell["outcome"] for cell in row["timeline"]["cells"]] == list(outcomes)


def test_flips_are_counted_within_a_platform_not_across_legs() -> None:
    """A test failing on one leg only flips at every run when legs interleave; it is broken, not flaky."""
    document, _ = history_factory.generate(tests=1, runs=10, platforms=("linux", "windows"), names=["unit::a::b"])
    document["tests"]["unit::a::b"]["o"] = "PF" * 5  # passes on linux, fails on windows, every time
    view = dashboard.view(dashboard.parse(document))
    assert view["flaky"] == []
    document["tests"]["unit::a::b"]["o"] = "PPFPPPFFPP"  # linux P F P F P: 4 flips; windows P P P F P: 2
    view = dashboard.view(dashboard.parse(document))
    assert [(row["flips"], row["reruns"]) for row in view["flaky"]] == [(6, 0)]
    document["tests"]["unit::a::b"]["o"] = "PPPPPRPSP."  # one rerun is evidence enough; S and . are no flips
    view = dashboard.view(dashboard.parse(document))
    assert [(row["flips"], row["reruns"]) for row in view["flaky"]] == [(0, 1)]


def test_a_history_of_many_one_run_platforms_stays_cheap() -> None:
    """Every run on its own platform (a misconfigured key): flips are not counted across them, reruns are."""
    document, _ = history_factory.generate(tests=200, runs=64, platforms=tuple(f"p{n}" for n in range(64)),
                                           flaky_share=0.1)
    view = dashboard.view(dashboard.parse(document))
    assert all(row["flips"] == 0 and row["reruns"] > 0 for row in view["flaky"])
    assert len(view["suites"]) == dashboard.SHOWN_PLATFORMS and len(view["benchmarks"]) == dashboard.SHOWN_PLATFORMS


def test_the_slowest_tests_come_first_with_their_trend(generated: tuple[dict[str, Any], Any]) -> None:
    document, known = generated
    view = dashboard.view(dashboard.parse(document))
    names = [row["name"] for row in view["slowest"]]
    assert names[:len(known.slow)] == known.slow
    assert len(names) == dashboard.TOP_SLOWEST and view["slowest_left_out"] > 1_000
    trend = view["slowest"][0]["chart"]
    assert len(trend.series) == 3 and all(line["segments"] for line in trend.series)  # one line per platform


def test_pass_rate_suites_and_benchmarks(generated: tuple[dict[str, Any], Any]) -> None:
    document, _ = generated
    view = dashboard.view(dashboard.parse(document))
    bars = view["pass_rate"].bars
    assert len(bars) == 64
    failed_runs = [run for run in document["runs"] if run["failed"] or run["errors"]]
    assert sum(bar["failed"] for bar in bars) == len(failed_runs)
    assert {section["platform"] for section in view["suites"]} == set(history_factory.PLATFORMS)
    labels = [line["label"] for line in view["suites"][0]["chart"].series]
    assert labels[0] == "whole run" and set(labels[1:]) == set(history_factory.SUITES)
    for section in view["benchmarks"]:
        first = section["rows"][0]  # motion_detect became 30 % slower half-way: the biggest change
        assert first["name"] == "motion_detect" and 20 < first["change"] < 40, first
        units = {row["name"]: row["unit"] for row in section["rows"]}
        assert units["decoder_instructions"] == "instructions"


def test_an_empty_history_still_makes_a_page() -> None:
    page = dashboard.render(dashboard.parse({"schema": "doorbell-ci.history", "version": 1, "runs": [],
                                             "tests": {}}))
    assert "No runs in the history yet." in page and "</html>" in page


class _Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows = 0
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.rows += tag == "tr"
        self.svgs += tag == "svg"


def test_the_page_stays_the_same_size_when_the_history_grows() -> None:
    """Every section shows its top N: 6,000 tests draw the same rows and charts as 600 do."""
    pages = {}
    for tests in (600, 6_000):
        document, _ = history_factory.generate(tests=tests, runs=64, platforms=history_factory.PLATFORMS,
                                               flaky_share=0.1)  # more flaky tests than the leaderboard lists
        pages[tests] = dashboard.render(dashboard.parse(document))
    small, big = _Rows(), _Rows()
    small.feed(pages[600])
    big.feed(pages[6_000])
    assert big.svgs == small.svgs and big.rows == small.rows
    assert len(pages[6_000]) < 1.3 * len(pages[600]) and len(pages[6_000]) < 600_000
    assert "faster tests are not listed" in pages[6_000]


def test_more_runs_than_drawn_are_counted(tmp_path: Path) -> None:
    document, _ = history_factory.generate(tests=5, runs=dashboard.SHOWN_RUNS + 6)
    view = dashboard.view(dashboard.parse(document))
    assert view["runs_total"] == dashboard.SHOWN_RUNS + 6 and view["runs_left_out"] == 6
    assert len(view["pass_rate"].bars) == dashboard.SHOWN_RUNS
    assert "6 older runs are counted above but not drawn" in dashboard.render(dashboard.parse(document))


# --- the command and the reports hook -----------------------------------------------------------


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "doorbell_ci", *argv], capture_output=True, text=True,  # noqa: S603
                          timeout=120, check=False, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_the_dashboard_command_writes_the_page(tmp_path: Path) -> None:
    document, _ = history_factory.generate(tests=50, runs=10)
    output = tmp_path / "site" / "index.html"
    completed = _cli("dashboard", str(_written(tmp_path, document)), "-o", str(output))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"dashboard: {output} (10 runs, 50 tests)"
    assert output.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_the_dashboard_command_refuses_a_bad_history_in_one_line(tmp_path: Path) -> None:
    document, _ = history_factory.generate(tests=5, runs=4)
    document["version"] = 9
    output = tmp_path / "dashboard.html"
    completed = _cli("dashboard", str(_written(tmp_path, document)), "-o", str(output))
    assert completed.returncode == 4
    assert completed.stderr.count("\n") == 1 and completed.stderr.startswith("doorbell-ci: error: history file")
    assert "Traceback" not in completed.stderr and not output.exists()


def test_the_legs_of_a_matrix_are_drawn_as_one_history(tmp_path: Path) -> None:
    """Each leg's file holds the runs it fetched plus its own: shared runs are drawn once, none lost."""
    linux, _ = history_factory.generate(tests=40, runs=6, platforms=("linux",), seed=1)
    windows, _ = history_factory.generate(tests=40, runs=6, platforms=("windows",), seed=2)
    for number, run in enumerate(windows["runs"]):
        run["started_at"] = run["started_at"].replace(":15:00", f":{16 + number}:00")
    shared = copy.deepcopy(linux)  # the windows leg fetched the linux runs too, and one test only it has
    shared["runs"] += windows["runs"]
    shared["tests"] = {key: {"o": linux["tests"][key]["o"] + windows["tests"][key]["o"],
                             "d": linux["tests"][key]["d"] + windows["tests"][key]["d"]} for key in linux["tests"]}
    shared["tests"]["unit::only::windows"] = {"o": "." * 6 + "PPPPPF", "d": [None] * 6 + [0.1] * 6}
    paths = [_written(tmp_path, linux, "linux.json"), _written(tmp_path, shared, "windows.json")]
    combined = dashboard.combine([dashboard.read(path) for path in paths])
    assert len(combined.runs) == 12 and [r.started_at for r in combined.runs] == sorted(r.started_at
                                                                                      for r in combined.runs)
    assert {run.platform for run in combined.runs} == {"linux", "windows"}
    key = next(iter(linux["tests"]))
    by_position = {(run.id, run.platform): index for index, run in enumerate(combined.runs)}
    for source, run in enumerate(linux["runs"] + windows["runs"]):
        expected = (linux["tests"][key]["o"] + windows["tests"][key]["o"])[source]
        assert combined.tests[key][0][by_position[(run["id"], run["platform"])]] == expected
    assert combined.tests["unit::only::windows"][0].count(".") == 6
    output = tmp_path / "page.html"
    completed = _cli("dashboard", *map(str, paths), "-o", str(output))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"dashboard: {output} (12 runs, 41 tests)"


def test_write_beside_draws_only_when_a_history_is_there(tmp_path: Path) -> None:
    assert dashboard.write_beside(tmp_path) is None and not (tmp_path / dashboard.FILENAME).exists()
    document, _ = history_factory.generate(tests=5, runs=4)
    _written(tmp_path, document, dashboard.HISTORY_FILENAME)
    assert dashboard.write_beside(tmp_path) == tmp_path / dashboard.FILENAME
    document["tests"]["unit::x::y"] = {"o": "P", "d": [0.1]}
    _written(tmp_path, document, dashboard.HISTORY_FILENAME)
    with pytest.raises(HistoryError, match="one per run"):
        dashboard.write_beside(tmp_path)
    assert (tmp_path / dashboard.FILENAME).read_text(encoding="utf-8").endswith("</html>")  # the old page kept
