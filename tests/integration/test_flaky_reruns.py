"""Flaky reruns with real pytest processes in the local environment (doorbell_ci/analysis/flaky.py)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from doorbell_ci.analysis.flaky import MAX_RERUN_TESTS, rerun_failed
from doorbell_ci.config import load_config
from doorbell_ci.environments.local import LocalEnvironment
from doorbell_ci.execution import Console
from doorbell_ci.plan import make_plan

TESTS = '''
from pathlib import Path

MARKER = Path(__file__).with_name("first-try.marker")


def test_flaky():
    first = not MARKER.exists()
    MARKER.write_text("seen")
    assert not first, "fails on its first try only"


def test_broken():
    assert 1 == 2


def test_fine():
    pass
'''


def prepared(tmp_path: Path, tests: str) -> tuple:
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    (tmp_path / "tests" / "unit" / "test_mod.py").write_text(tests)
    config = load_config(tmp_path, {"suites": ["unit"], "coverage": "false", "workers": "1"})
    plan = make_plan(config)
    (plan.output_dir / "junit").mkdir(parents=True)
    (plan.output_dir / "logs").mkdir()
    subprocess.run(  # noqa: S603 - the suite's first run, as the pipeline would have made it
        [sys.executable, "-m", "pytest", "tests/unit", "-p", "no:cacheprovider", "-p", "no:randomly", "-q",
         "-o", "junit_family=xunit1", f"--junitxml={plan.output_dir / 'junit' / 'unit.xml'}"],
        cwd=tmp_path, capture_output=True, timeout=300, check=False)
    environment = LocalEnvironment(config)
    environment.prepare(plan)
    return plan, environment


def test_a_test_passing_on_rerun_is_flaky_and_a_broken_one_is_rerun_every_time(tmp_path: Path) -> None:
    plan, environment = prepared(tmp_path, TESTS)
    stream = io.StringIO()
    try:
        reruns = rerun_failed(plan, environment, 2, Console(quiet=True, stream=stream))
    finally:
        environment.cleanup()
    assert reruns.attempts == {
        "unit::tests/unit/test_mod.py::test_flaky": ["passed"],
        "unit::tests/unit/test_mod.py::test_broken": ["failed", "failed"],
    }
    assert reruns.passed_on_rerun("unit::tests/unit/test_mod.py::test_flaky")
    assert "rerun 1/2 of tests/unit/test_mod.py::test_flaky (unit): passed" in stream.getvalue()
    assert (plan.output_dir / "logs" / "unit-rerun-0-1.log").is_file()


def test_too_many_failures_are_not_rerun(tmp_path: Path) -> None:
    many = "\n".join(f"def test_{i}():\n    assert False\n" for i in range(MAX_RERUN_TESTS + 1))
    plan, environment = prepared(tmp_path, many)
    try:
        reruns = rerun_failed(plan, environment, 3, Console(quiet=True, stream=io.StringIO()))
    finally:
        environment.cleanup()
    assert reruns.attempts == {}
    assert "none was rerun" in reruns.notices[0]
