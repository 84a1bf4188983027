"""``doorbell-ci publish`` as the action runs it: a real process, a real report.json, the GitHub double."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from doorbell_ci.reports import json_report
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult
from tests.github_double import GitHubDouble

ROOT = Path(__file__).resolve().parents[2]


def results_folder(tmp_path: Path) -> Path:
    tests = [TestResult(suite="unit", name="test_ok", classname="tests.unit.test_a", file="tests/unit/test_a.py"),
             TestResult(suite="unit", name="test_bad", classname="tests.unit.test_a", outcome=Outcome.FAILED,
                        file="tests/unit/test_a.py", line=12, message="assert 2 == 3")]
    run = RunResult(run_id="r1", project=str(tmp_path / "project"), started_at="2026-11-25T10:00:00+00:00",
                    finished_at="2026-11-25T10:00:05+00:00", duration=5.0,
                    suites=[SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=tests)])
    folder = tmp_path / "project" / "test-results"
    json_report.write(run, folder, exit_code=1)
    return folder


def publish(tmp_path: Path, double: GitHubDouble, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 12, "head": {"sha": "d" * 40}}}), encoding="utf-8")
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("GITHUB_", "DOORBELL_CI_"))}
    environment.update({
        "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"), "GITHUB_API_URL": double.url,
        "GITHUB_REPOSITORY": f"{double.owner}/{double.repo}", "GITHUB_TOKEN": "ghs_cli_token",
        "GITHUB_EVENT_PATH": str(event), "GITHUB_EVENT_NAME": "pull_request", "GITHUB_SHA": "e" * 40,
        "GITHUB_WORKFLOW": "CI", "GITHUB_JOB": "tests", "GITHUB_RUN_ID": "5", "GITHUB_SERVER_URL": "https://github.com",
        **env,
    })
    (tmp_path / "project").mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "doorbell_ci", "publish", *args], cwd=tmp_path / "project",
                          env=environment, capture_output=True, text=True, timeout=120)


def test_publish_comments_checks_and_summarises(tmp_path, double) -> None:
    folder = results_folder(tmp_path)
    run = publish(tmp_path, double, str(folder), DOORBELL_CI_CHECK_RUN="true")
    assert run.returncode == 0, run.stderr
    assert "comment: created on #12" in run.stdout and "check run: created" in run.stdout
    assert "::add-mask::ghs_cli_token" in run.stdout
    (check,) = double.check_runs.values()
    assert check["create"]["head_sha"] == "d" * 40 and check["create"]["conclusion"] == "failure"
    assert check["create"]["details_url"] == "https://github.com/octo/doorbell/actions/runs/5"
    assert check["create"]["output"]["annotations"][0]["start_line"] == 12
    assert "test\\_bad" in (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert double.invalid == []


def test_a_token_that_cannot_write_changes_nothing_but_the_notices(tmp_path, double) -> None:
    folder = results_folder(tmp_path)
    double.fail("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", 403, 3,
                "Resource not accessible by integration")
    double.fail("POST", "/repos/{owner}/{repo}/check-runs", 403, 3, "Resource not accessible by integration")
    run = publish(tmp_path, double, str(folder), DOORBELL_CI_CHECK_RUN="true")
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("::warning title=doorbell-ci publish::") == 2
    assert "::error file=tests/unit/test_a.py,line=12" in run.stdout  # annotations fall back to the job's own
    outputs = (tmp_path / "output.txt").read_text(encoding="utf-8")
    assert "status<<" in outputs and "\nfailed\n" in outputs and "exit-code<<" in outputs
    assert "Publishing notices" in (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert (folder / "report.json").exists()


def test_a_missing_report_is_one_clear_line(tmp_path, double) -> None:
    run = publish(tmp_path, double, str(tmp_path / "nowhere"))
    assert run.returncode == 4
    assert run.stderr.strip().count("\n") == 0 and "doorbell-ci: error:" in run.stderr
    assert "nowhere does not exist; run `doorbell-ci run` first" in run.stderr


def test_a_bad_comment_mode_is_one_clear_line(tmp_path, double) -> None:
    folder = results_folder(tmp_path)
    run = publish(tmp_path, double, str(folder), DOORBELL_CI_COMMENT="sometimes")
    assert run.returncode == 2
    assert "DOORBELL_CI_COMMENT" in run.stderr and "always, changes, failures, on-failure, off" in run.stderr
    assert double.requests == []
