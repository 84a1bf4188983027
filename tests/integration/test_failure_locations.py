"""Where a failure is said to be: check-run annotations, ``::error`` lines and the summary's "at file:line".

A real ``doorbell-ci run`` of tests/fixtures/failure_locations (in a sub-folder of a repository)
fails in every way a failure can be placed: an assert in the body, a helper module, a fixture's
setup and teardown, a conftest fixture, a parametrized test under two decorators, a class
method, a library called through a helper and one called directly; under pytest's long,
``--tb=native`` (absolute paths) and ``--tb=short`` tracebacks. The fixture marks each failing
line with ``# fails: <test>``; all three places must name that line (never the test's ``def``
or decorator line), with the sub-folder as the path prefix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.github_double import GitHubDouble

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "failure_locations"
PREFIX = "services/api"  # where the project lives inside the repository
SUITES = ("unit", "integration", "e2e")


def expected_locations(project: Path) -> dict[str, str]:
    """``test name -> services/api/<file>:<line>`` from the ``# fails:`` marks in the fixture's sources."""
    found = {}
    for path in sorted(project.rglob("*.py")):
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            mark = re.search(r"# fails: (\S+)$", text)
            if mark:
                found[mark[1]] = f"{PREFIX}/{path.relative_to(project).as_posix()}:{number}"
    return found


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(repository, results folder) of one real run of the fixture project."""
    repository = tmp_path_factory.mktemp("repository")
    project = repository / PREFIX
    shutil.copytree(FIXTURE, project)
    run = subprocess.run([sys.executable, "-m", "doorbell_ci", "run", "--suites", *SUITES, "--quiet"],
                         cwd=project, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    return repository, project / "test-results"


def clean_env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "DOORBELL_CI_"))} | extra


def publish(repository: Path, results_folder: Path, double: GitHubDouble, tmp_path: Path,
            **env: str) -> subprocess.CompletedProcess[str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 3, "head": {"sha": "d" * 40}}}), encoding="utf-8")
    environment = clean_env(
        GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"),
        GITHUB_OUTPUT=str(tmp_path / "output.txt"), GITHUB_API_URL=double.url, GITHUB_WORKSPACE=str(repository),
        GITHUB_REPOSITORY=f"{double.owner}/{double.repo}", GITHUB_TOKEN="ghs_locations", GITHUB_EVENT_NAME="push",
        GITHUB_EVENT_PATH=str(event), GITHUB_SHA="e" * 40, GITHUB_WORKFLOW="CI", GITHUB_JOB="tests",
        GITHUB_RUN_ID="5", DOORBELL_CI_COMMENT="off", **env)
    return subprocess.run([sys.executable, "-m", "doorbell_ci", "publish", str(results_folder)],
                          cwd=results_folder.parent, env=environment, capture_output=True, text=True, timeout=120)


def by_test(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """``(suite, test name) -> location`` from (title "suite: nodeid", location) pairs."""
    table = {}
    for title, where in pairs:
        suite, nodeid = title.split(": ", 1)
        name = nodeid.split("::", 1)[1]
        table[(suite, name)] = where
    return table


def assert_all_at_the_failing_line(found: dict[tuple[str, str], str], expected: dict[str, str]) -> None:
    wanted = {(suite, name): where for suite in SUITES for name, where in expected.items()}
    assert found == wanted


def test_check_run_annotations_point_at_the_failing_line(results, double, tmp_path) -> None:
    repository, folder = results
    run = publish(repository, folder, double, tmp_path, DOORBELL_CI_CHECK_RUN="true")
    assert run.returncode == 0, run.stderr
    (check,) = double.check_runs.values()
    notes = [*check["create"]["output"].get("annotations", [])]
    for update in check["updates"]:
        notes += update["output"].get("annotations", [])
    assert len(notes) == len(expected_locations(FIXTURE)) * len(SUITES)
    assert all(n["start_line"] == n["end_line"] for n in notes)
    found = by_test([(n["title"], f"{n['path']}:{n['start_line']}") for n in notes])
    assert_all_at_the_failing_line(found, expected_locations(FIXTURE))
    assert double.invalid == []


def test_error_lines_and_the_job_summary_point_at_the_failing_line(results, double, tmp_path) -> None:
    repository, folder = results
    run = publish(repository, folder, double, tmp_path, DOORBELL_CI_CHECK_RUN="false")
    assert run.returncode == 0, run.stderr
    expected = expected_locations(FIXTURE)
    errors = re.findall(r"^::error file=([^,]+),line=(\d+),title=([^:]+%3A [^\n]*?)::", run.stdout, re.MULTILINE)
    assert len(errors) == 10  # GitHub shows at most 10 per step: the rest are in the summary
    for file, line, title in errors:
        suite, nodeid = title.replace("%3A", ":").split(": ", 1)
        assert f"{file}:{line}" == expected[nodeid.split("::", 1)[1]], title

    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    shown = re.findall(r"^- \*\*(.+?)\*\* \((\w+), (?:failed|error)\) at `([^`]+)`", summary, re.MULTILINE)
    found = {(suite, name.replace("\\", "").split("::", 1)[1]): where for name, suite, where in shown}
    assert len(found) == 20  # the summary lists the first 20 failures
    assert all(expected[name] == where for (_, name), where in found.items())
    # the same failure in three suites is (mostly) one group; the groups table names the same lines
    grouped = re.findall(r"^\| \d+ \| .* \| `([^`]+)` \|$", summary, re.MULTILINE)
    assert set(grouped) == set(expected.values())


def test_the_reports_of_the_run_itself_name_the_same_lines(results) -> None:
    """summary.md and report.html written by ``run`` (no repository known yet): the same lines, project-relative."""
    _, folder = results
    expected = {name: where.removeprefix(PREFIX + "/") for name, where in expected_locations(FIXTURE).items()}
    html = (folder / "report.html").read_text(encoding="utf-8")
    for name, where in expected.items():
        for suite in SUITES:
            assert f"({suite}, {where}," in html, (suite, name)
    analysis = json.loads((folder / "report.json").read_text(encoding="utf-8"))["analysis"]
    assert {(f["suite"], f["nodeid"].split("::", 1)[1]): f"{f['file']}:{f['line']}" for f in analysis["failures"]} \
        == {(suite, name): where for suite in SUITES for name, where in expected.items()}
