"""`doorbell-ci analyze RESULTS_DIR --against OTHER` on real report.json files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doorbell_ci.cli import main
from doorbell_ci.reports import json_report
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult

TRACE = ("def test():\n>       check()\n\ntests/unit/test_a.py:7: in test\n    check()\n"
         "E   ValueError: camera 3 offline\n\nsrc/doorbell/camera.py:12: ValueError")


def write_report(folder: Path, run_id: str, **outcomes: Outcome) -> Path:
    tests = [TestResult(suite="unit", name=name, classname="tests.unit.test_a", file="tests/unit/test_a.py",
                        outcome=outcome, message="ValueError: camera 3 offline" if outcome is Outcome.FAILED else "",
                        details=TRACE if outcome is Outcome.FAILED else "", stdout="captured: frame 12 dropped")
             for name, outcome in outcomes.items()]
    status = SuiteStatus.FAILED if Outcome.FAILED in outcomes.values() else SuiteStatus.PASSED
    run = RunResult(run_id=run_id, project=str(folder), started_at="2026-01-01T00:00:00+00:00",
                    finished_at="2026-01-01T00:01:00+00:00", duration=60.0,
                    suites=[SuiteResult(name="unit", status=status, tests=tests,
                                        command=["python", "-m", "pytest", "/x/tests/unit"])])
    folder.mkdir(parents=True, exist_ok=True)
    return json_report.write(run, folder, 1)


def test_x_still_failing_and_y_new(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_report(tmp_path / "base", "base-run", test_x=Outcome.FAILED, test_y=Outcome.PASSED)
    write_report(tmp_path / "head", "head-run", test_x=Outcome.FAILED, test_y=Outcome.FAILED)
    assert main(["analyze", str(tmp_path / "head"), "--against", str(tmp_path / "base")]) == 0
    out = capsys.readouterr().out
    new_part = out.split("New failures:")[1].split("Still failing:")[0]
    still_part = out.split("Still failing:")[1].split("\n\n")[0]
    assert "unit::tests/unit/test_a.py::test_y" in new_part and "test_x" not in new_part
    assert "unit::tests/unit/test_a.py::test_x" in still_part
    assert "2 x ValueError: camera <n> offline" in out and "at src/doorbell/camera.py:12" in out
    assert "reproduce: (cd " in out and "tests/unit/test_a.py::test_y" in out
    assert "captured: frame 12 dropped" in out


def test_json_output_has_the_documented_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_report(tmp_path / "base", "base-run", test_x=Outcome.PASSED)
    write_report(tmp_path / "head", "head-run", test_x=Outcome.FAILED)
    assert main(["analyze", str(tmp_path / "head" / "report.json"), "--against", str(tmp_path / "base"),
                 "--json"]) == 0
    analysis = json.loads(capsys.readouterr().out)
    failure = analysis["failures"][0]
    for key in ("key", "suite", "nodeid", "outcome", "status", "signature", "exception", "message", "file", "line",
                "reproduce", "flaky"):
        assert key in failure
    assert failure["status"] == "new" and failure["file"] == "src/doorbell/camera.py" and failure["line"] == 12
    assert analysis["history"] == {"unit::tests/unit/test_a.py::test_x": "F"}


def test_missing_results_or_base_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(tmp_path / "nothing")]) == 4
    assert capsys.readouterr().err.count("\n") == 1
    write_report(tmp_path / "head", "head-run", test_x=Outcome.FAILED)
    (tmp_path / "bad.json").write_text('{"schema": "something-else"}')
    assert main(["analyze", str(tmp_path / "head"), "--against", str(tmp_path / "bad.json")]) == 4
    err = capsys.readouterr().err
    assert err.startswith("doorbell-ci: error:") and "not a doorbell-ci report" in err
