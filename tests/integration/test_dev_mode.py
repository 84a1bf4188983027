"""doorbell-ci under ``python -X dev -W error``: no ResourceWarning, DeprecationWarning or other warning.

-X dev turns on the checks a normal run hides (unclosed files and pipes, subprocesses never
waited for, threads left running); -W error makes every warning fatal. Warnings raised while
an object is finalised cannot raise, so they are printed as "Exception ignored ..." on stderr:
the tests look there too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tooling import time_scale

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "sample_project"
CORE_UNIT_TESTS = ["test_config.py", "test_plan.py", "test_platforms.py", "test_portability.py", "test_results.py",
                   "test_reports_json.py", "test_doctor.py"]
WARNING_SIGNS = ("ResourceWarning", "DeprecationWarning", "Exception ignored", "unclosed", "Warning:")


def dev_mode(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # not PYTEST_XDIST_WORKER & co. of the pytest running this test: the child is a run of its own
    env = {key: value for key, value in os.environ.items()
           if key not in {"PYTHONWARNINGS", "PYTHONDEVMODE"} and not key.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-X", "dev", "-W", "error", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, encoding="utf-8", errors="replace", timeout=300 * time_scale(), check=False)


def assert_no_warnings(completed: subprocess.CompletedProcess[str]) -> None:
    for sign in WARNING_SIGNS:
        assert sign not in completed.stderr, completed.stderr[-3000:]


def test_core_unit_tests_pass_with_every_warning_an_error() -> None:
    files = [str(Path("tests/unit") / name) for name in CORE_UNIT_TESTS if (REPO / "tests/unit" / name).exists()]
    assert len(files) >= 5
    # no xdist here: pytest-benchmark, when installed, warns that it is disabled under xdist
    completed = dev_mode("-m", "pytest", *files, "-q", "-p", "no:cacheprovider", cwd=REPO)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert " passed" in completed.stdout and "warning" not in completed.stdout.lower()
    assert_no_warnings(completed)


@pytest.mark.skipif(not (SAMPLE / "tests" / "unit").is_dir(), reason="tests/sample_project is missing")
def test_a_whole_run_leaves_no_resource_warning(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(SAMPLE, project, ignore=shutil.ignore_patterns("test-results", "__pycache__", ".pytest_cache"))
    completed = dev_mode("-m", "doorbell_ci", "run", "--project", str(project), "--suites", "unit", "--quiet",
                         "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    platform = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))["platform"]
    assert {"pi_model", "runner_label", "throttled", "throttle_flags", "camera", "gpio"} <= set(platform)
    assert_no_warnings(completed)


def test_a_killed_suite_leaves_no_resource_warning(tmp_path: Path) -> None:
    """The timeout path: the process tree is killed, its pipe and log closed, its reader thread joined."""
    project = tmp_path / "slow"
    (project / "tests" / "unit").mkdir(parents=True)
    (project / "tests" / "unit" / "test_slow.py").write_text(
        "import subprocess, sys, time\n\n"
        "def test_hangs_with_a_child():\n"
        "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "    time.sleep(60)\n", encoding="utf-8")
    completed = dev_mode("-m", "doorbell_ci", "run", "--project", str(project), "--suites", "unit", "--quiet",
                         "--timeout", "3", "--workers", "1", "--no-coverage", "--no-reports",
                         "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert completed.returncode == 1, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "timed out" in completed.stdout.lower() or "timeout" in completed.stdout.lower()
    assert_no_warnings(completed)
