"""The progress plugin in a real pytest process that dies without any cleanup.

The plugin buffers each test's reports until its ``finish`` and writes every ``start`` at once
(``ProgressWriter``). What that must keep: a suite killed with SIGKILL (the end of its timeout) or
crashing in a test leaves every finished test's result and the running test's ``start`` in the
file, and the file shows a finished test while the suite still runs (live progress).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from doorbell_ci import collect
from doorbell_ci.results import Outcome

QUICK = 6


def _pytest(tmp_path: Path, tests: str, *options: str) -> tuple[list[str], dict[str, str]]:
    (tmp_path / "test_p.py").write_text(tests, encoding="utf-8")
    return _pytest_files(tmp_path, ["test_p.py"], *options)


def _pytest_files(tmp_path: Path, files: list[str], *options: str) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_", "PYTEST_", "COV_CORE"))}
    env["DOORBELL_CI_PROGRESS"] = str(tmp_path / "progress.jsonl")
    argv = [sys.executable, "-m", "pytest", "-p", "doorbell_ci.progress_plugin", "-p", "no:cacheprovider", "-q",
            *(str(tmp_path / name) for name in files), *options]
    return argv, env


def _events(path: Path) -> list[dict]:
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    return events


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_test_that_kills_its_own_pytest_leaves_every_earlier_result_and_its_start(tmp_path: Path) -> None:
    tests = ("import os, signal\n\n"
             "def test_passes():\n    pass\n\n"
             "def test_fails():\n    assert 1 == 2\n\n"
             "def test_skips():\n    import pytest\n    pytest.skip('not here')\n\n"
             "def test_crashes():\n    os.kill(os.getpid(), signal.SIGKILL)\n\n"
             "def test_never_runs():\n    pass\n")
    argv, env = _pytest(tmp_path, tests)
    done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)  # noqa: S603
    assert done.returncode == -signal.SIGKILL
    results = {t.name: t for t in collect.tests_from_progress(tmp_path / "progress.jsonl", "unit", killed=True)}
    assert {name: t.outcome for name, t in results.items()} == {
        "test_passes": Outcome.PASSED, "test_fails": Outcome.FAILED, "test_skips": Outcome.SKIPPED,
        "test_crashes": Outcome.ERROR}
    assert "assert 1 == 2" in results["test_fails"].details
    assert results["test_crashes"].message.startswith("killed:")


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGKILL")
def test_finished_tests_are_in_the_file_while_another_worker_hangs(tmp_path: Path) -> None:
    """xdist: one worker hangs, the other finishes its tests and goes idle; nothing may wait in a buffer."""
    (tmp_path / "test_quick.py").write_text("".join(f"def test_quick_{n}():\n    pass\n\n" for n in range(QUICK)),
                                            encoding="utf-8")
    (tmp_path / "test_hang.py").write_text("import time\n\ndef test_hangs():\n    time.sleep(600)\n", encoding="utf-8")
    argv, env = _pytest_files(tmp_path, ["test_hang.py", "test_quick.py"], "-n", "2", "--dist", "loadfile")
    proc = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,  # noqa: S603
                            stderr=subprocess.DEVNULL, start_new_session=True)
    progress = tmp_path / "progress.jsonl"
    try:
        deadline = time.monotonic() + 90
        finished: set[str] = set()
        while time.monotonic() < deadline and len(finished) < QUICK:
            time.sleep(0.2)
            if progress.exists():
                finished = {e["nodeid"] for e in _events(progress) if e.get("event") == "finish"}
        assert len(finished) == QUICK, f"only {sorted(finished)} reached the file while the suite ran"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # as the timeout's last step does: no cleanup at all
        proc.wait(timeout=30)
    results = {t.name: t.outcome for t in collect.tests_from_progress(progress, "unit", killed=True)}
    assert results == {**{f"test_quick_{n}": Outcome.PASSED for n in range(QUICK)}, "test_hangs": Outcome.ERROR}


def test_the_live_counts_match_a_full_parse_of_the_same_file(tmp_path: Path) -> None:
    """ProgressTail counts most lines by their prefix; the counts must be those of parsing every line."""
    from doorbell_ci.execution import ProgressTail

    tests = ("import pytest\n\n"
             "@pytest.mark.parametrize('n', range(30))\ndef test_many(n):\n    assert n % 7\n\n"
             "def test_named_like_a_report():\n    pass\n\n"
             "@pytest.fixture\ndef broken():\n    raise RuntimeError\n\n"
             "def test_setup_error(broken):\n    pass\n\n"
             "@pytest.mark.parametrize('x', ['\"outcome\":\"failed\"'])\ndef test_quote_in_id(x):\n    pass\n")
    argv, env = _pytest(tmp_path, tests)
    subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, timeout=120, check=False)  # noqa: S603
    tail = ProgressTail(tmp_path / "progress.jsonl")
    tail.update()
    events = _events(tmp_path / "progress.jsonl")
    failed = {e["nodeid"] for e in events if e["event"] == "report" and e["outcome"] in ("failed", "error")}
    assert (tail.collected, tail.done, tail.failed) == (33, sum(e["event"] == "finish" for e in events), len(failed))
    assert tail.failed == 5 + 1  # n = 0, 7, 14, 21, 28 and the setup error; the quoted id passed
