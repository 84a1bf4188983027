"""The analyse stage of a run: earlier reports on disk feed history and new-vs-known; bad ones are notices."""

from __future__ import annotations

from pathlib import Path

from doorbell_ci import analysis
from doorbell_ci.config import load_config
from doorbell_ci.reports import json_report
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult

X = "unit::tests/unit/test_a.py::test_x"


def run_with(outcome: Outcome, run_id: str) -> RunResult:
    test = TestResult(suite="unit", name="test_x", classname="tests.unit.test_a", file="tests/unit/test_a.py",
                      outcome=outcome, message="AssertionError: no" if outcome is Outcome.FAILED else "")
    return RunResult(run_id=run_id, project="/p", started_at="", finished_at="", duration=1.0,
                     suites=[SuiteResult(name="unit", status=SuiteStatus.PASSED, tests=[test])])


def test_history_carries_over_from_the_previous_report_in_the_output_folder(tmp_path: Path) -> None:
    config = load_config(tmp_path, {})
    config.output_dir.mkdir()
    for number, outcome in enumerate((Outcome.PASSED, Outcome.FAILED, Outcome.PASSED)):
        result = run_with(outcome, f"run-{number}")
        result.analysis = analysis.for_run(result, config)
        json_report.write(result, config.output_dir, 0)
    assert result.analysis["history"] == {X: "PFP"}
    assert result.analysis["flipping"] == {X: "PFP"}
    assert result.analysis["fixed"] == [X]  # against the previous run, by default


def test_against_gives_the_base_and_its_history_in_a_fresh_folder(tmp_path: Path) -> None:
    base = run_with(Outcome.FAILED, "base")
    base.analysis = {"history": {X: "PPF"}}
    (tmp_path / "base").mkdir()
    json_report.write(base, tmp_path / "base", 1)
    config = load_config(tmp_path, {"against": str(tmp_path / "base")})
    result = run_with(Outcome.FAILED, "head")
    found = analysis.for_run(result, config)
    assert found["still_failing"] == [X] and found["against"]["run_id"] == "base"
    assert found["history"] == {X: "PPFF"}


def test_unreadable_against_is_a_notice_and_the_run_is_kept(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{")
    config = load_config(tmp_path, {"against": str(tmp_path / "broken.json")})
    result = run_with(Outcome.FAILED, "head")
    found = analysis.for_run(result, config)
    assert found["against"] is None and found["failures"][0]["key"] == X
    assert any("not classified as new or known" in notice for notice in result.notices)
