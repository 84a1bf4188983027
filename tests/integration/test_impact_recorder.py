"""The two recorders give the same map, and recording leaves the project's coverage data alone.

``doorbell-ci run --record-impact`` on a real project (test_impact_run's package, committed in a
real git repository), once with the in-memory recorder (the default) and once with coverage's
dynamic contexts (``DOORBELL_CI_IMPACT_RECORDER=contexts``, the recorder before it): the maps
must be equal, test by test and line by line, with xdist workers, with branch coverage, with
shared fixtures and with the project's own ``--cov-context=test``. The suite's coverage data must be
what the same run writes without recording.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import coverage
import pytest

from doorbell_ci.impact.impactmap import ImpactMap, read_map
from tests.git_repo import commit_files
from tests.integration.test_impact_run import ALL_TESTS, FILES

PYPROJECT = FILES["pyproject.toml"]


def project(tmp_path: Path, pyproject: str, extra: dict[str, str] | None = None) -> Path:
    root = tmp_path / "project"
    commit_files(root, {**FILES, "pyproject.toml": pyproject, **(extra or {})}, "A", init=True)
    return root


def run(root: Path, output: str, *args: str, recorder: str | None = None, exit_codes: tuple[int, ...] = (0,)) -> Path:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_CI_", "GITHUB_"))}
    if recorder is not None:
        environment["DOORBELL_CI_IMPACT_RECORDER"] = recorder
    done = subprocess.run(  # noqa: S603 - our own CLI on a project the test made
        [sys.executable, "-m", "doorbell_ci", "run", "--project", str(root), "--suites", "unit", "--quiet",
         "--no-history", "--output-dir", str(root / output), *args],
        cwd=root, env=environment, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode in exit_codes, done.stdout + done.stderr
    return root / output


def coverage_data(output: Path) -> dict[str, dict[str, tuple[list[int], list[tuple[int, int]]]]]:
    """context -> measured file of the project -> (lines, arcs): what the suite's coverage file says.

    (doorbell-ci's own files are left out: run from a checkout, as here, the recording plugin's code
    is measured too, only in the runs that load it.)
    """
    data = coverage.CoverageData(basename=str(output / "coverage" / ".coverage.unit"))
    data.read()
    project = str(output.parent)
    found: dict[str, dict[str, tuple[list[int], list[tuple[int, int]]]]] = {}
    for context in sorted(data.measured_contexts()):
        data.set_query_contexts([f"^{re.escape(context)}$"] if context else ["^$"])
        found[context] = {name: (sorted(data.lines(name) or []), sorted(data.arcs(name) or []))
                          for name in sorted(data.measured_files()) if name.startswith(project)}
    return found


def assert_same_map(new: ImpactMap, old: ImpactMap) -> None:
    assert set(new.tests) == ALL_TESTS | {"unit::"}
    assert new.tests == old.tests
    assert new.files == old.files
    assert new.suites == old.suites == ["unit"]


@pytest.mark.parametrize(("pyproject", "args"), [
    (PYPROJECT, ()),
    (PYPROJECT + "\n[tool.coverage.run]\nbranch = true\n", ("--workers", "2")),
], ids=["lines-one-process", "branch-two-workers"])
def test_the_in_memory_recorder_gives_the_contexts_recorders_map(tmp_path: Path, pyproject: str,
                                                                  args: tuple[str, ...]) -> None:
    root = project(tmp_path, pyproject)
    new = run(root, "new", "--record-impact", *args)
    old = run(root, "old", "--record-impact", *args, recorder="contexts")
    plain = run(root, "plain", *args)
    assert_same_map(read_map(new / "impact.json.gz"), read_map(old / "impact.json.gz"))
    # the module-scoped fixture's lines are its own, credited to both tests that use it
    for key in ("unit::tests/unit/test_db.py::test_db_rows", "unit::tests/unit/test_db.py::test_db_exact"):
        assert read_map(new / "impact.json.gz").tests[key]["src/pkg/data.py"] == ((3, 3),)
    assert coverage_data(new) == coverage_data(plain)  # no context of ours in the project's data
    assert set(coverage_data(old)) > {""}  # (the contexts recorder's were there)
    assert not list((new / "logs").glob("*.lines"))  # read once, then removed
    notices = [json.loads((output / "report.json").read_text(encoding="utf-8"))["notices"] for output in (new, old)]
    assert not any("dynamic contexts" in notice for notice in notices[0])
    assert any("recorded with coverage's dynamic contexts, which is slower (DOORBELL_CI_IMPACT_RECORDER=contexts)"
               in notice for notice in notices[1])


def test_the_projects_own_test_contexts_stay_as_they_are(tmp_path: Path) -> None:
    root = project(tmp_path, PYPROJECT.replace('pythonpath = ["src"]',
                                               'pythonpath = ["src"]\naddopts = "--cov-context=test"'))
    new = run(root, "new", "--record-impact")
    old = run(root, "old", "--record-impact", recorder="contexts")
    plain = run(root, "plain")
    assert_same_map(read_map(new / "impact.json.gz"), read_map(old / "impact.json.gz"))
    contexts = coverage_data(plain)
    assert "tests/unit/test_calc.py::test_neg|run" in contexts
    assert coverage_data(new) == contexts


def test_a_flaky_rerun_under_the_projects_own_cov_does_not_replace_the_suites_recording(tmp_path: Path) -> None:
    # the rerun runs without doorbell-ci's --cov, but the project's addopts start coverage anyway: it
    # must not overwrite the suite's .lines file or fixture lists (every other test would look empty)
    root = project(tmp_path, PYPROJECT.replace('pythonpath = ["src"]', 'pythonpath = ["src"]\naddopts = "--cov"'),
                   {"tests/unit/test_fail.py": "def test_fail():\n    assert False\n"})
    new = run(root, "new", "--record-impact", "--reruns", "1", exit_codes=(1,))
    old = run(root, "old", "--record-impact", "--reruns", "1", recorder="contexts", exit_codes=(1,))
    new_map, old_map = read_map(new / "impact.json.gz"), read_map(old / "impact.json.gz")
    assert new_map.tests == old_map.tests and new_map.files == old_map.files
    assert new_map.tests["unit::tests/unit/test_calc.py::test_neg"]["src/pkg/calc.py"] == ((25, 25),)
    assert new_map.tests["unit::tests/unit/test_db.py::test_db_exact"]["src/pkg/data.py"] == ((3, 3),)
