"""The analyse stage of a run: earlier reports on disk feed history and new-vs-known; bad ones are notices."""

from __future__ import annotations

import json
from pathlib import Path

from doorbell_ci import analysis
from doorbell_ci.analysis import history as history_
from doorbell_ci.config import load_config
from doorbell_ci.reports import json_report
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult

X = "unit::tests/unit/test_a.py::test_x"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


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


def _varied_run(run_id: str, failing: tuple[int, ...]) -> RunResult:
    """Tests in the forms the node id knows (class, module, backslashes, no file, a non-.py file)."""
    forms = [("tests/unit/test_cam.py", "tests.unit.test_cam.TestCamera"),
             ("tests/unit/test_cam.py", "tests.unit.test_cam"),
             ("tests\\unit\\test_win.py", "tests.unit.test_win.TestA"), (None, "suite.Case"), ("cases.yaml", "")]
    tests = []
    for number in range(20):
        file, classname = forms[number % len(forms)]
        outcome = Outcome.PASSED
        if number in failing:
            outcome = Outcome.FAILED if number % 2 else Outcome.ERROR
        elif number % 7 == 0:
            outcome = Outcome.SKIPPED
        tests.append(TestResult(suite="unit" if number < 15 else "e2e", name=f"test_{number}[x-{number}]",
                                classname=classname, file=file, outcome=outcome, message="boom" if outcome in (
                                    Outcome.FAILED, Outcome.ERROR) else ""))
    return RunResult(run_id=run_id, project="/p", started_at="", finished_at="", duration=1.0,
                     suites=[SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=tests[:15]),
                             SuiteResult(name="e2e", status=SuiteStatus.FAILED, tests=tests[15:])])


def test_the_base_read_from_the_document_equals_the_base_read_as_a_run(tmp_path: Path) -> None:
    """analysis.read_base reads only the run id and the failing tests' keys; they are those of the full read."""
    earlier = _varied_run("earlier", failing=(1, 2, 3, 8, 15, 16, 19))
    json_report.write(earlier, tmp_path, 1)
    base, document = analysis.read_base(tmp_path / "report.json")
    full, _ = json_report.read(tmp_path / "report.json")
    assert base == history_.BaseRun.of(full) and base.run_id == "earlier" and len(base.failing) == 7
    assert document["run"]["id"] == "earlier"
    # the classification against it is the one against the full run
    now = _varied_run("now", failing=(2, 3, 4, 16))
    assert history_.classify(now, base) == history_.classify(now, full)
    # and a version-1 report (every outcome written) reads the same way
    v1, _ = json_report.read(FIXTURES / "report_v1")
    assert analysis.read_base(FIXTURES / "report_v1")[0] == history_.BaseRun.of(v1)


def test_a_previous_report_damaged_where_the_base_is_read_is_a_notice_and_the_run_is_kept(tmp_path: Path) -> None:
    config = load_config(tmp_path, {})
    config.output_dir.mkdir()
    earlier = run_with(Outcome.FAILED, "earlier")
    earlier.analysis = {"history": {X: "PF"}}
    json_report.write(earlier, config.output_dir, 1)
    path = config.output_dir / "report.json"
    good = path.read_text(encoding="utf-8")
    for damage in (lambda d: d["suites"][0]["tests"][0].pop("name"),
                   lambda d: d["suites"][0]["tests"][0].update(outcome="exploded"),
                   lambda d: d["run"].pop("id"),
                   lambda d: d["suites"][0]["tests"].append(["not", "an", "object"])):
        document = json.loads(good)
        damage(document)
        path.write_text(json.dumps(document), encoding="utf-8")
        result = run_with(Outcome.FAILED, "now")
        found = analysis.for_run(result, config)
        assert any("previous report is not used for history" in notice and "damaged" in notice
                   for notice in result.notices), result.notices
        assert found["history"] == {X: "F"} and found["against"] is None  # the run itself is analysed
        assert found["failures"][0]["key"] == X
