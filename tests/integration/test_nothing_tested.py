"""Real runs (real pytest, real files) in which no test ran, a suite errored, or coverage failed.

No route may end in a silent pass: every suite absent, suites configured but absent, markers,
``-k`` or ``pytest_args`` deselecting everything, every test skipped, pytest exit 5, a command suite
writing an empty JUnit file, ``--suites`` naming an absent suite, a shard given no test. Each ends
with exit 8 and one line saying why, unless ``allow_no_tests`` accepts it (still said). A suite
error ends the console with its reason, which summary.md and report.html show too; a project's own
coverage ``fail_under`` is a coverage failure (exit 7) with its figures, never a suite error.
"""

from __future__ import annotations

import io
import json
import sys
import textwrap
from pathlib import Path

import pytest

from doorbell_ci import pipeline
from doorbell_ci.config import load_config
from doorbell_ci.errors import ExitCode
from doorbell_ci.execution import Console
from doorbell_ci.reports.console import print_summary
from doorbell_ci.results import RunResult, SuiteStatus


def project_with(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def run(project: Path, capsys: pytest.CaptureFixture[str], **cli: str) -> tuple[RunResult, ExitCode, list[str]]:
    """The pipeline, then the console summary as the CLI prints it; returns the printed lines too."""
    config = load_config(project, {"coverage": "false", "workers": "1", **cli}, environ={})
    stream = io.StringIO()
    result, code = pipeline.run(config, Console(quiet=True, stream=stream))
    capsys.readouterr()
    print_summary(result, config.output_dir, config.reports)
    printed = stream.getvalue() + capsys.readouterr().out
    return result, code, printed.rstrip("\n").splitlines()


def reports(project: Path) -> tuple[str, str, dict]:
    output = project / "test-results"
    return ((output / "summary.md").read_text(encoding="utf-8"), (output / "report.html").read_text(encoding="utf-8"),
            json.loads((output / "report.json").read_text(encoding="utf-8")))


PASSING = "def test_one():\n    assert True\n"


def test_a_flat_tests_folder_runs_as_the_unit_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = project_with(tmp_path, {"tests/test_app.py": PASSING, "tests/test_more.py": PASSING})
    result, code, lines = run(project, capsys)
    unit = next(s for s in result.suites if s.name == "unit")
    assert code is ExitCode.OK and unit.status is SuiteStatus.PASSED and unit.counts.passed == 2
    assert lines[0].startswith("==> no suite folder (tests/unit, tests/integration, ...) exists: tests/ ")
    assert lines[-1] == "2 passed, 0 failed, 0 skipped"
    summary, page, document = reports(project)
    assert "runs as the unit suite" in summary and "runs as the unit suite" in page
    assert document["run"]["exit_code"] == 0


def test_pytest_testpaths_decide_what_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = project_with(tmp_path, {"pyproject.toml": "[tool.pytest.ini_options]\ntestpaths = ['spec']\n",
                                      "spec/test_spec.py": PASSING,
                                      "tests/test_not_these.py": "def test_x():\n    assert False\n"})
    result, code, lines = run(project, capsys)
    assert code is ExitCode.OK and result.counts.passed == 1 and result.counts.failed == 0
    assert "spec/ (pytest testpaths in pyproject.toml [tool.pytest.ini_options])" in lines[0]


NOTHING_ROUTES = {
    "no-suite-folders": ({"src/app.py": "X = 1\n"}, {}, "no selected suite exists in the project"),
    "configured-but-absent": ({"pyproject.toml": "[tool.doorbell-ci.suite.unit]\npaths = ['spec/unit']\n",
                               "tests/test_a.py": PASSING}, {}, "absent (spec/unit does not exist in the project)"),
    "suites-names-an-absent-suite": ({"tests/unit/test_a.py": PASSING}, {"suites": ["integration"]},
                                     "absent (tests/integration does not exist in the project)"),
    "markers-deselect-all": ({"pyproject.toml": "[tool.doorbell-ci.suite.unit]\nmarkers = 'smoke'\n",
                              "tests/unit/test_a.py": PASSING}, {"suites": ["unit"]},
                             "unit: no tests (pytest collected 1 tests and deselected all of them"),
    "k-in-pytest-args": ({"pyproject.toml": "[tool.doorbell-ci.suite.unit]\npytest_args = ['-k', 'nomatch']\n",
                          "tests/unit/test_a.py": PASSING}, {"suites": ["unit"]}, "deselected all of them"),
    "no-test-files": ({"tests/unit/helpers.py": "VALUE = 1\n"}, {"suites": ["unit"]},
                      "unit: no tests (pytest collected no tests)"),
    "all-skipped": ({"tests/unit/test_a.py": "import pytest\n\n@pytest.mark.skip(reason='no camera')\n"
                                             "def test_a():\n    pass\n\n"
                                             "def test_b():\n    pytest.skip('no gpio')\n"},
                    {"suites": ["unit"]}, "all 2 tests were skipped"),
    "collect-only-in-pytest-args": ({"pyproject.toml": "[tool.doorbell-ci.suite.unit]\npytest_args = ['--co']\n",
                                     "tests/unit/test_a.py": PASSING}, {"suites": ["unit"]}, "unit: no tests"),
    "conftest-exits-0": ({"tests/unit/test_a.py": PASSING,
                          "tests/unit/conftest.py": "import pytest\n\ndef pytest_collection_finish(session):\n"
                                                    "    pytest.exit('nothing to do today', returncode=0)\n"},
                         {"suites": ["unit"]}, "unit: no tests"),
    "empty-command-junit": ({"pyproject.toml": "[tool.doorbell-ci.suite.web]\n"
                                               f"command = {json.dumps([sys.executable, 'w.py'])}\n"
                                               "junit = 'out.xml'\n",
                             "w.py": "open('out.xml', 'w').write('<testsuites/>')\n"},
                            {"suites": ["web"]}, "web: no tests (no test results)"),
}


@pytest.mark.parametrize("route", list(NOTHING_ROUTES))
def test_every_route_to_zero_tests_is_exit_8_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], route: str) -> None:
    files, cli, why = NOTHING_ROUTES[route]
    project = project_with(tmp_path, files)
    result, code, lines = run(project, capsys, **cli)
    assert code is ExitCode.NOTHING_TESTED == 8
    ending = [line for line in lines if line.startswith("doorbell-ci: nothing was tested: ")]
    assert len(ending) == 1 and why in ending[0] and "(exit 8; --allow-no-tests accepts such a run)" in ending[0]
    assert lines[-2] == ending[0]  # just above the closing line
    assert lines[-1].endswith("; nothing tested") and lines[-1].startswith("0 passed, 0 failed, ")
    summary, page, document = reports(project)
    assert summary.startswith("## doorbell-ci: ⚠️ nothing tested") and "nothing was tested" in summary
    assert "<h1>doorbell-ci: NOTHING TESTED</h1>" in page
    assert document["run"]["exit_code"] == 8 and any(n.startswith("nothing was tested") for n in document["notices"])


def test_allow_no_tests_passes_and_still_says_it_loudly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = project_with(tmp_path, {"tests/unit/helpers.py": "VALUE = 1\n"})
    _, code, lines = run(project, capsys, suites="unit", allow_no_tests="true")
    assert code is ExitCode.OK
    assert lines[-2].startswith("doorbell-ci: nothing was tested: unit: no tests")
    assert lines[-2].endswith("accepted by allow_no_tests (exit 0)") and lines[-1].endswith("; nothing tested")
    assert reports(project)[0].startswith("## doorbell-ci: ⚠️ nothing tested")


def test_one_empty_suite_next_to_one_that_ran_is_shown_not_failed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = project_with(tmp_path, {"tests/unit/test_a.py": PASSING, "tests/e2e/helpers.py": "X = 1\n"})
    result, code, lines = run(project, capsys)
    assert code is ExitCode.OK
    assert next(s for s in result.suites if s.name == "e2e").status is SuiteStatus.NO_TESTS
    assert lines[-1] == "1 passed, 0 failed, 0 skipped"


def test_a_shard_given_no_test_is_waived_but_no_test_at_all_is_not(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = project_with(tmp_path, {"tests/unit/test_a.py": PASSING})
    _, first, _ = run(project, capsys, shard="1/2")
    result, second, lines = run(project, capsys, shard="2/2")
    assert first is ExitCode.OK and second is ExitCode.OK
    assert any("shard 2/2 was given none of the 1 tests" in line for line in lines)
    empty = project_with(tmp_path / "empty", {"tests/unit/helpers.py": "X = 1\n"})
    _, code, _ = run(empty, capsys, shard="1/2")
    assert code is ExitCode.NOTHING_TESTED


# --- a suite error ends the run with its reason ---------------------------------------------------

ERROR_ROUTES = {
    "plugin-exit-1": ({"tests/unit/test_a.py": PASSING,
                       "tests/unit/conftest.py": "import os\n\ndef pytest_sessionfinish(session):\n"
                                                 "    os.write(1, b'\\nERROR: the licence server is unreachable\\n')\n"
                                                 "    session.exitstatus = 1\n"},
                      "exit code 1 although no test failed; last output: ERROR: the licence server is unreachable"),
    "crash": ({"tests/unit/test_a.py": "import os\n\ndef test_a():\n    pass\n\ndef test_b():\n    os.abort()\n"},
              "the runner died from signal 6 (SIGABRT); 1 tests had finished, 1 was running"),
    "collection-error": ({"tests/unit/test_a.py": "import no_such_module_anywhere\n"},
                         "pytest was interrupted (collection errors?)"),
    "timeout": ({"tests/unit/test_a.py": "import time\n\ndef test_a():\n    time.sleep(60)\n"},
                "killed at the suite timeout of 3s"),
    "broken-xml": ({"pyproject.toml": "[tool.doorbell-ci.suite.unit]\n"
                                      f"command = {json.dumps([sys.executable, 'w.py'])}\njunit = 'out.xml'\n",
                    "w.py": "open('out.xml', 'w').write('<testsuite tests=\"2\"><testcase name=\"a\"/><testc')\n"},
                   "is not well-formed XML"),
}


@pytest.mark.parametrize("route", list(ERROR_ROUTES))
def test_a_suite_error_ends_the_console_and_leads_both_reports(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], route: str) -> None:
    files, reason = ERROR_ROUTES[route]
    project = project_with(tmp_path, files)
    _, code, lines = run(project, capsys, suites="unit", **({"timeout": "3"} if route == "timeout" else {}))
    assert code is ExitCode.TESTS_FAILED
    ending = lines[-2]
    assert ending.startswith("doorbell-ci: suite unit ") and reason in ending, lines[-6:]
    assert lines[-1].endswith("; 1 suite error (unit)")
    summary, page, _ = reports(project)
    assert summary.startswith("## doorbell-ci: ❌ failed")
    assert next(line for line in summary.splitlines() if line.startswith("> ")).startswith("> 💥 suite unit ")
    assert '<div class="failure problem">suite unit ' in page
    assert reason.split(";")[0].replace("'", "&#39;").replace("(", "(") in page


# --- a project's own coverage fail_under ----------------------------------------------------------

APP = "def used():\n    return 1\n\n\ndef unused(flag):\n    if flag:\n        return 2\n    return 3\n"
APP_TEST = "from app import used\n\n\ndef test_used():\n    assert used() == 1\n"
COVERAGE_CONFIGS = {
    "pyproject": ("pyproject.toml", "[tool.coverage.run]\nsource = ['app']\n[tool.coverage.report]\nfail_under = 90\n"),
    "coveragerc": (".coveragerc", "[run]\nsource = app\n[report]\nfail_under = 90\n"),
    "setup.cfg": ("setup.cfg", "[coverage:run]\nsource = app\n[coverage:report]\nfail_under = 90\n"),
}


@pytest.mark.parametrize("where", list(COVERAGE_CONFIGS))
def test_the_projects_fail_under_is_a_coverage_failure_with_its_figures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    name, text = COVERAGE_CONFIGS[where]
    project = project_with(tmp_path, {name: text, "app/__init__.py": APP, "tests/unit/test_app.py": APP_TEST,
                                      **({"pyproject.toml": "[project]\nname = 'x'\n"} if name != "pyproject.toml"
                                         else {})})
    result, code, lines = run(project, capsys, suites="unit", coverage="true")
    assert code is ExitCode.COVERAGE
    unit = next(s for s in result.suites if s.name == "unit")
    assert unit.status is SuiteStatus.PASSED and unit.exit_code == 0  # pytest-cov no longer fails the suite
    assert result.coverage is not None and result.coverage.fail_under == 90.0 and result.coverage.percent == 50.0
    assert lines[-2] == "doorbell-ci: coverage failed: 50.00% of 6 statements is under the required 90%"
    assert lines[-1] == "1 passed, 0 failed, 0 skipped"
    assert any(f"the project's fail_under of 90% ({name})" in line for line in lines)
    summary, page, document = reports(project)
    assert summary.startswith("## doorbell-ci: ❌ coverage failed")
    assert "coverage failed: 50.00% of 6 statements is under the required 90%" in summary
    assert "coverage failed: 50.00% of 6 statements is under the required 90%" in page
    assert document["run"]["exit_code"] == 7


def test_doorbell_cis_coverage_fail_under_replaces_the_projects(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name, text = COVERAGE_CONFIGS["pyproject"]
    project = project_with(tmp_path, {name: text, "app/__init__.py": APP, "tests/unit/test_app.py": APP_TEST})
    result, code, _ = run(project, capsys, suites="unit", coverage="true", coverage_fail_under="40")
    assert code is ExitCode.OK and result.coverage is not None and result.coverage.fail_under == 40.0


def test_pytest_covs_own_failure_is_recognised_where_doorbell_ci_does_not_measure(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Coverage off in doorbell-ci, but the project's addopts start pytest-cov with its fail_under."""
    name, text = COVERAGE_CONFIGS["pyproject"]
    project = project_with(tmp_path, {name: text + "[tool.pytest.ini_options]\naddopts = '--cov=app'\n",
                                      "app/__init__.py": APP, "tests/unit/test_app.py": APP_TEST})
    result, code, lines = run(project, capsys, suites="unit")
    unit = next(s for s in result.suites if s.name == "unit")
    assert code is ExitCode.COVERAGE
    assert unit.status is SuiteStatus.COVERAGE_FAILED and unit.exit_code == 1
    assert "total coverage 50.00% is under its required 90%" in unit.reason
    assert lines[-2].startswith("doorbell-ci: suite unit: coverage failed: every test passed, but pytest-cov")
    summary, page, _ = reports(project)
    assert "total coverage 50.00% is under its required 90%" in summary
    assert "total coverage 50.00% is under its required 90%" in page


# --- the same in Docker -----------------------------------------------------------------------------


@pytest.mark.docker
def test_in_docker_a_flat_folder_runs_and_skipped_only_is_exit_8(tmp_path: Path) -> None:
    import subprocess

    from tests.docker_tools import docker_client, offline_env, readable_by_containers

    docker_client()  # skips or fails as the project's other Docker tests do when there is no engine

    def in_docker(project: Path) -> subprocess.CompletedProcess[str]:
        readable_by_containers(project)
        return subprocess.run([sys.executable, "-m", "doorbell_ci", "run", "--project", str(project),
                               "--environment", "docker", "--workers", "1", "--no-coverage", "--quiet"],
                              env=offline_env(), capture_output=True, text=True, timeout=300, check=False)

    flat = project_with(tmp_path / "flat", {"tests/test_app.py": PASSING})
    completed = in_docker(flat)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "tests/ (no pytest testpaths set) runs as the unit suite" in completed.stdout
    assert completed.stdout.rstrip().splitlines()[-1] == "1 passed, 0 failed, 0 skipped"
    skipped = project_with(tmp_path / "skipped", {"tests/test_app.py": "import pytest\n\n"
                                                  "def test_camera():\n    pytest.skip('no camera')\n"})
    completed = in_docker(skipped)
    assert completed.returncode == 8, completed.stdout[-3000:] + completed.stderr[-3000:]
    lines = completed.stdout.rstrip().splitlines()
    assert lines[-2].startswith("doorbell-ci: nothing was tested: the only test was skipped")
    assert lines[-1] == "0 passed, 0 failed, 1 skipped; nothing tested"


def test_fail_under_in_a_suites_pytest_args_is_that_suites_coverage_failure(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The suite's own --cov-fail-under comes after doorbell-ci's --cov-fail-under=0 and wins: recognised."""
    project = project_with(tmp_path, {"pyproject.toml": "[tool.coverage.run]\nsource = ['app']\n"
                                                        "[tool.doorbell-ci.suite.unit]\n"
                                                        "pytest_args = ['--cov-fail-under=75']\n",
                                      "app/__init__.py": APP, "tests/unit/test_app.py": APP_TEST})
    result, code, lines = run(project, capsys, suites="unit", coverage="true")
    unit = next(s for s in result.suites if s.name == "unit")
    assert code is ExitCode.COVERAGE and unit.status is SuiteStatus.COVERAGE_FAILED
    assert "total coverage 50.00% is under its required 75%" in unit.reason
    assert result.coverage is not None and result.coverage.fail_under is None  # no run-level threshold applies
