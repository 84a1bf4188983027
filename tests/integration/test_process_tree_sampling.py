"""The process-tree sampler finds a suite's processes through /proc's per-thread child lists.

It replaced ``psutil.Process.children(recursive=True)``, which reads every process on the machine
(2 ms a sample here, several samples a second while a suite runs), on the same parent links. Checked
on a real tree: a child, a grandchild, and a child started from another thread than the main one
(the kernel lists a child under the thread that started it).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from doorbell_ci import execution

SLEEP = "import time; time.sleep(60)"
CHILD = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {SLEEP!r}]); time.sleep(60)"
TREE = f"""
import subprocess, sys, threading, time
subprocess.Popen([sys.executable, '-c', {CHILD!r}])
def from_a_thread():
    subprocess.Popen([sys.executable, '-c', {SLEEP!r}])
    time.sleep(60)  # the thread stays: its child is listed under it
threading.Thread(target=from_a_thread, daemon=True).start()
time.sleep(60)
"""

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="Linux /proc only")


def _started_tree() -> subprocess.Popen[bytes]:
    popen = subprocess.Popen([sys.executable, "-c", TREE], **execution._popen_options())  # type: ignore[arg-type]
    root = psutil.Process(popen.pid)
    deadline = time.monotonic() + 30
    while len(root.children(recursive=True)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    return popen


def test_the_child_lists_find_what_psutil_finds() -> None:
    popen = _started_tree()
    try:
        expected = sorted(p.pid for p in psutil.Process(popen.pid).children(recursive=True))
        found = execution._descendant_pids(popen.pid)
        if found is None:
            pytest.skip("this kernel keeps no /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN off)")
        assert len(expected) == 3
        assert sorted(found) == expected
    finally:
        execution.ProcessTree(popen).kill()
        popen.wait()


def test_a_sample_records_the_same_tree_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    popen = _started_tree()
    try:
        fast = execution.ProcessTree(popen)
        fast.sample()
        monkeypatch.setattr(execution, "_descendant_pids", lambda pid: None)  # as where /proc has no child lists
        slow = execution.ProcessTree(popen)
        slow.sample()
        monkeypatch.undo()
        assert fast.usage(1.0).processes == slow.usage(1.0).processes == 4  # the root and its three descendants
        assert fast.peak_rss > 0 and slow.peak_rss > 0
        assert fast.kill() == 0  # what the samples found is what the kill ends
        assert not psutil.pid_exists(popen.pid) or psutil.Process(popen.pid).status() == psutil.STATUS_ZOMBIE
    finally:
        if popen.poll() is None:
            popen.kill()
        popen.wait()


def test_a_process_that_is_gone_has_no_list() -> None:
    popen = subprocess.Popen([sys.executable, "-c", "pass"])
    popen.wait()
    assert execution._descendant_pids(popen.pid) is None
