"""The node-id selection plugin in a real pytest, plain and under pytest-xdist (doorbell_ci/selection_plugin.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = '''
import pytest

@pytest.mark.parametrize("value", ["a b", "c/d", "e[f]"])
def test_param(value):
    assert value

def test_plain():
    pass

@pytest.mark.slow
def test_slow():
    pass
'''


def run_pytest(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "pytest", "-p", "doorbell_ci.selection_plugin", "-p", "no:cacheprovider",
         "-p", "no:randomly", "-q", *args],
        cwd=project, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_mod.py").write_text(TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: slow\n")
    return tmp_path


def test_collect_only_writes_the_node_ids_after_markers(project: Path) -> None:
    out = project / "ids.txt"
    result = run_pytest(project, "tests", "--collect-only", "-m", "not slow", DOORBELL_CI_COLLECTED=str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert out.read_text().splitlines() == [
        "tests/test_mod.py::test_param[a b]", "tests/test_mod.py::test_param[c/d]",
        "tests/test_mod.py::test_param[e[f]]", "tests/test_mod.py::test_plain"]


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["plain", "xdist"])
def test_only_the_selected_tests_run(project: Path, xdist: list[str]) -> None:
    selection = project / "select.txt"
    selection.write_text("tests/test_mod.py::test_param[c/d]\ntests/test_mod.py::test_slow\nnot/a/test.py::x\n")
    junit = project / "out.xml"
    result = run_pytest(project, "tests", f"--junitxml={junit}", *xdist, DOORBELL_CI_SELECTION_FILE=str(selection))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout and "failed" not in result.stdout
    xml = junit.read_text()
    assert 'name="test_param[c/d]"' in xml and 'name="test_slow"' in xml and "test_plain" not in xml
