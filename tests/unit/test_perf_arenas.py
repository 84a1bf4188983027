"""Aligned pymalloc arenas (doorbell_ci/perf/arenas.py): installed for real in fresh interpreters.

The effect on counts is measured under Valgrind in tests/integration/test_perf_instructions.py; here:
the allocator swap is safe (arenas made before and after it are freed, also at exit) and the
launcher runs a module like ``python -m`` does.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHURN = '''
import gc, sys
early = [str(i) * 2 for i in range(300_000)]  # arenas of the default allocator, alive across the swap
from doorbell_ci.perf import arenas
assert arenas.align() is None and arenas.align() is None  # the second call is a no-op
for _ in range(3):  # arenas come and go: the new allocator's and, once `early` is gone, the old ones
    late = [(i, str(i)) for i in range(300_000)]
    del late
    early = None
    gc.collect()
print("ok")
'''


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, timeout=120,  # noqa: S603
                          check=False)


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.machine().lower() not in {"x86_64", "amd64"},
                    reason="aligned arenas are set up on x86-64 Linux only")
def test_arenas_before_and_after_the_swap_are_freed_without_a_crash() -> None:
    completed = _run("-c", CHURN)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "ok"


def test_the_launcher_runs_a_module_with_its_arguments(tmp_path: Path) -> None:
    data = tmp_path / "x.json"
    data.write_text('{"b": 1, "a": 2}')
    completed = _run("-m", "doorbell_ci.perf.arenas", "json.tool", "--sort-keys", str(data))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.index('"a"') < completed.stdout.index('"b"')


def test_the_launcher_without_a_module_says_how_to_call_it() -> None:
    completed = _run("-m", "doorbell_ci.perf.arenas")
    assert completed.returncode == 1 and "usage: python -m doorbell_ci.perf.arenas MODULE" in completed.stderr


@pytest.mark.skipif(platform.machine().lower() in {"x86_64", "amd64"}, reason="x86-64 aligns (test above)")
def test_elsewhere_the_arenas_stay_as_they_are_and_it_says_why() -> None:
    from doorbell_ci.perf import arenas

    reason = arenas.align()
    assert reason is not None and ("x86-64" in reason or platform.machine() in reason or "Linux" in reason)
