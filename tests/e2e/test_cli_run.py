"""Whole runs of ``python -m doorbell_ci`` on the bundled sample project (a copy in tmp_path).

The reference for every count is plain ``pytest --junitxml`` on the same folders: what
doorbell-ci reports must be what pytest itself reports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import defusedxml.ElementTree as safe_etree
import pytest

from doorbell_ci.reports import json_report

SAMPLE = Path(__file__).resolve().parent.parent / "sample_project"
SUITES = ("unit", "integration", "e2e", "performance", "security", "load", "streaming")

pytestmark = pytest.mark.skipif(not (SAMPLE / "tests" / "unit").is_dir(), reason="tests/sample_project is missing")


def _clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that would steer doorbell-ci, pytest or the sample."""
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("DOORBELL_", "PYTEST_", "COV_CORE_", "COVERAGE_")) and key != "PYTHONPATH"
    }
    return {**env, **extra}


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    target = tmp_path / "sample"
    shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns("test-results", "__pycache__", ".pytest_cache",
                                                                  "*.egg-info", ".coverage*"))
    return target


def doorbell_ci(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "doorbell_ci", *args], cwd=project, env=_clean_env(**env),
        capture_output=True, text=True, encoding="utf-8", timeout=600, check=False,
    )


def last_line(output: str) -> str:
    return output.rstrip("\n").splitlines()[-1]


def plain_pytest_counts(project: Path, junit: Path, **env: str) -> dict[str, Counter[str]]:
    """Per-suite outcomes from plain ``pytest --junitxml`` over every suite folder, checked against
    the totals pytest writes on its own <testsuite> element."""
    folders = [f"tests/{name}" for name in SUITES if (project / "tests" / name).is_dir()]
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "junit_family=xunit1",
         f"--junitxml={junit}", *folders],
        cwd=project, env=_clean_env(**env), capture_output=True, text=True, timeout=600, check=False,
    )
    root = safe_etree.parse(str(junit)).getroot()
    testsuite = root if root.tag == "testsuite" else root.find("testsuite")
    per_suite: dict[str, Counter[str]] = {}
    for case in testsuite.iter("testcase"):
        suite = case.get("file", "").split("/")[1]
        kinds = {child.tag for child in case}
        outcome = next((k for k in ("failure", "error", "skipped") if k in kinds), "passed")
        per_suite.setdefault(suite, Counter())[outcome] += 1
    total = sum((c for c in per_suite.values()), Counter())
    declared = {k: int(testsuite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    assert declared == {"tests": sum(total.values()), "failures": total["failure"], "errors": total["error"],
                        "skipped": total["skipped"]}
    return per_suite


def test_counts_equal_plain_pytest_and_report_rerenders(sample: Path, tmp_path: Path) -> None:
    run = doorbell_ci(sample, "run", "--project", str(sample), "--no-coverage")  # coverage: test_no_reports_and_quiet
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    output_dir = sample / "test-results"
    report, document = json_report.read(output_dir)

    expected = plain_pytest_counts(sample, tmp_path / "plain.xml")
    for suite in report.suites:
        if suite.status.value == "absent":
            assert suite.name not in expected
            continue
        plain = expected[suite.name]
        counts = suite.counts
        assert (counts.passed, counts.failed, counts.errors, counts.skipped) == (
            plain["passed"], plain["failure"], plain["error"], plain["skipped"]), suite.name
    totals = report.counts
    assert last_line(run.stdout) == f"{totals.passed} passed, {totals.failed + totals.errors} failed, " \
                                    f"{totals.skipped} skipped"
    assert totals.tests == sum(sum(c.values()) for c in expected.values())
    assert document["run"]["exit_code"] == 0
    for name in ("report.html", "summary.md", "junit.xml", "report.json"):
        assert (output_dir / name).is_file(), name
    assert "==> unit: starting" in run.stdout

    for name in ("report.html", "summary.md", "junit.xml"):
        (output_dir / name).unlink()
    rerender = doorbell_ci(sample, "report", str(output_dir))
    assert rerender.returncode == 0, rerender.stderr
    assert last_line(rerender.stdout) == last_line(run.stdout)
    assert "starting" not in rerender.stdout  # nothing ran
    again, _ = json_report.read(output_dir)
    assert [(s.name, s.counts) for s in again.suites] == [(s.name, s.counts) for s in report.suites]
    for name in ("report.html", "summary.md", "junit.xml"):
        assert (output_dir / name).is_file(), name


def test_opt_in_failures_fail_fast_and_output_dir(sample: Path) -> None:
    run = doorbell_ci(sample, "run", "--project", str(sample), "--suites", "unit", "integration",
                      "--fail-fast", "--parallel-suites", "1", "--no-coverage", "--output-dir", "custom-out",
                      DOORBELL_SAMPLE_FAIL="1")
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    output_dir = sample / "custom-out"
    assert not (sample / "test-results").exists()
    report, _ = json_report.read(output_dir)
    statuses = {s.name: s.status.value for s in report.suites}
    assert statuses["unit"] == "failed"
    assert statuses["integration"] == "not run"
    unit = next(s for s in report.suites if s.name == "unit")
    failed_names = sorted(t.name for t in unit.tests if t.outcome.value in ("failed", "error"))
    assert failed_names == ["test_match_recognises_known_visitor_at_configured_tolerance",
                            "test_recognised_visitor_notification_names_them"]
    summary = (output_dir / "summary.md").read_text(encoding="utf-8")
    page = (output_dir / "report.html").read_text(encoding="utf-8")
    for name in failed_names:
        assert name.replace("_", "\\_") in summary
        assert name in page
    assert "tolerance must be between 0 and 1" in page
    counts = report.counts
    assert last_line(run.stdout) == f"{counts.passed} passed, {counts.failed + counts.errors} failed, " \
                                    f"{counts.skipped} skipped"
    assert counts.failed + counts.errors == 2
    assert "integration" in run.stdout and "--fail-fast: unit failed first" in run.stdout


def test_no_reports_and_quiet(sample: Path) -> None:
    run = doorbell_ci(sample, "run", "--project", str(sample), "--suites", "unit", "--no-reports", "--quiet")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    output_dir = sample / "test-results"
    assert (output_dir / "report.json").is_file()
    for name in ("report.html", "summary.md", "junit.xml"):
        assert not (output_dir / name).exists(), name
    assert "[unit]" not in run.stdout  # no live test output with --quiet
    assert "test session starts" in (output_dir / "logs" / "unit.log").read_text(encoding="utf-8")
    report, _ = json_report.read(output_dir)
    counts = report.counts
    assert counts.tests > 0
    assert report.coverage is not None and report.coverage.percent > 0
    assert (output_dir / "coverage" / "coverage.json").is_file()
    measured = [entry.path for entry in report.coverage.files]
    assert any(path.startswith("src/doorbell/") for path in measured), measured
    assert not [path for path in measured if "doorbell_ci" in path]  # our own plugins are not the project's code
    assert last_line(run.stdout) == f"{counts.passed} passed, 0 failed, {counts.skipped} skipped"


def test_configuration_error_is_one_line_and_exit_2(sample: Path) -> None:
    run = doorbell_ci(sample, "run", "--project", str(sample), "--workers", "0")
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0
    assert run.stderr.startswith("doorbell-ci: error: ") and "'workers'" in run.stderr
    assert not (sample / "test-results").exists()


def test_report_of_a_missing_folder_is_one_line_and_exit_4(tmp_path: Path) -> None:
    run = doorbell_ci(tmp_path, "report", str(tmp_path / "nowhere"))
    assert run.returncode == 4
    assert run.stderr.startswith("doorbell-ci: error: ") and run.stderr.strip().count("\n") == 0
    assert "does not exist" in run.stderr


# --- a new user's project: a flat tests/ folder, no [tool.doorbell-ci] table ----------------------


def test_a_flat_project_runs_its_tests_and_an_empty_one_fails_with_exit_8(tmp_path: Path) -> None:
    """The quick start with no pyproject edit; and a run that tests nothing is never green, nor is doctor."""
    import doorbell_ci as package

    code = {"PYTHONPATH": str(Path(package.__file__).resolve().parents[1])}  # the doorbell_ci under test

    def cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return doorbell_ci(project, *args, **code)

    flat = tmp_path / "flat"
    (flat / "tests").mkdir(parents=True)
    (flat / "tests" / "test_app.py").write_text("def test_one():\n    pass\n\ndef test_two():\n    pass\n",
                                                encoding="utf-8")
    run = cli(flat, "run", "--no-coverage")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.startswith("==> no suite folder (tests/unit, tests/integration, ...) exists: tests/ ")
    assert last_line(run.stdout) == "2 passed, 0 failed, 0 skipped"
    doctor = cli(flat, "doctor", "--project", str(flat))
    assert "would run unit (tests)" in doctor.stdout and last_line(doctor.stdout) == "usable: yes"

    empty = tmp_path / "empty"
    (empty / "src").mkdir(parents=True)
    run = cli(empty, "run", "--no-coverage")
    assert run.returncode == 8, run.stdout[-3000:] + run.stderr[-3000:]
    lines = run.stdout.rstrip("\n").splitlines()
    assert lines[-2].startswith("doorbell-ci: nothing was tested: no selected suite exists in the project")
    assert lines[-1] == "0 passed, 0 failed, 0 skipped; nothing tested"
    assert json_report.read(empty / "test-results")[1]["run"]["exit_code"] == 8
    allowed = cli(empty, "run", "--no-coverage", "--allow-no-tests")
    assert allowed.returncode == 0 and "accepted by allow_no_tests" in allowed.stdout
    doctor = cli(empty, "doctor", "--project", str(empty))
    assert doctor.returncode == 3 and last_line(doctor.stdout) == "usable: no (fix: suites)"
    assert "nothing would run (exit 8)" in doctor.stdout
