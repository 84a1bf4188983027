"""Real runs: a rerun-flaky test in history.json, junit.xml (Surefire elements) and ctrf.json, across two runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from doorbell_ci.analysis import history_store
from doorbell_ci.results import Outcome, read_junit
from tests.integration.test_flaky_reruns import TESTS
from tests.unit.test_ctrf import validate


def run_cli(project: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_CI_", "GITHUB_"))}
    return subprocess.run(  # noqa: S603 - our own CLI on a project the test made
        [sys.executable, "-m", "doorbell_ci", "run", "--suites", "unit", "--no-coverage", "--reruns", "2",
         "--quiet"], cwd=project, env=environment, capture_output=True, text=True, timeout=600, check=False)


def test_a_test_that_passes_on_rerun_is_flaky_in_every_output_and_the_history(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "tests" / "unit").mkdir(parents=True)
    (project / "tests" / "unit" / "test_mod.py").write_text(TESTS, encoding="utf-8")
    (project / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\n', encoding="utf-8")
    first = run_cli(project)
    assert first.returncode == 1, first.stdout + first.stderr  # test_broken fails every rerun
    out = project / "test-results"

    merged = {t.name: t for t in read_junit(out / "junit.xml", "unit")}
    assert merged["test_flaky"].outcome is Outcome.PASSED and merged["test_flaky"].flaky
    assert merged["test_broken"].outcome is Outcome.FAILED and not merged["test_broken"].flaky
    xml = (out / "junit.xml").read_text(encoding="utf-8")
    assert xml.count("<flakyFailure") == 1 and xml.count("<rerunFailure") == 2

    document = json.loads((out / "ctrf.json").read_text(encoding="utf-8"))
    validate(document)
    tests = {t["name"]: t for t in document["results"]["tests"]}
    assert tests["test_flaky"]["flaky"] is True and tests["test_flaky"]["retries"] == 1
    assert tests["test_broken"]["retries"] == 2 and tests["test_broken"]["status"] == "failed"

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    flaky_key = "unit::tests.unit.test_mod::test_flaky"
    assert report["analysis"]["flakiness"]["new"] == [flaky_key]
    assert any(n.startswith(f"flaky: {flaky_key} is flaky with this run") for n in report["notices"])

    second = run_cli(project)  # the marker file now exists: test_flaky passes at once
    assert second.returncode == 1, second.stdout + second.stderr
    history = history_store.read(out)
    assert len(history.runs) == 2
    assert history.tests[flaky_key]["o"] == "RP"
    assert history.tests["unit::tests.unit.test_mod::test_broken"]["o"] == "FF"
    assert history.tests["unit::tests.unit.test_mod::test_fine"]["o"] == "PP"
    again = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert again["analysis"]["flakiness"]["new"] == []  # still flaky, no longer news
    assert [t["key"] for t in again["analysis"]["flakiness"]["tests"]] == [flaky_key]


def test_analyze_keeps_the_recorded_flakiness_and_quarantine(tmp_path: Path) -> None:
    from doorbell_ci import analysis
    from doorbell_ci.reports import json_report
    from doorbell_ci.results import RunResult, SuiteResult, SuiteStatus, TestResult

    run = RunResult(run_id="r", project=str(tmp_path), started_at="2026-12-02T10:00:00+00:00",
                    finished_at="2026-12-02T10:00:01+00:00", duration=1.0,
                    suites=[SuiteResult(name="unit", status=SuiteStatus.PASSED, tests=[TestResult("unit", "t")])])
    run.analysis = {"flakiness": {"tests": [], "flaky": 0, "candidates": 0, "new": ["k"]},
                    "quarantine": {"file": "q.toml", "entries": 1, "tests": [], "expired": [], "can_leave": []}}
    json_report.write(run, tmp_path, 0)
    _, again = analysis.reanalyse(tmp_path)
    assert again["flakiness"]["new"] == ["k"] and again["quarantine"]["file"] == "q.toml"
