"""The Windows branch of the process-tree kill, run for real on this machine.

Windows has no process groups to signal, so there the kill must find and stop every process
through psutil alone. Simulating ``os.name == "nt"`` around ``ProcessTree.kill`` runs exactly
that branch against a real tree: a parent, its child and a grandchild.
"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from doorbell_ci import execution

GRANDCHILD = "import time; time.sleep(120)"
CHILD = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {GRANDCHILD!r}]); time.sleep(120)"
TREE = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {CHILD!r}]); time.sleep(120)"


def test_windows_kill_stops_the_whole_tree_without_process_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    popen = subprocess.Popen([sys.executable, "-c", TREE], **execution._popen_options())  # type: ignore[arg-type]
    try:
        tree = execution.ProcessTree(popen)
        deadline = time.monotonic() + 30
        while len(tree.alive()) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
            tree.sample()
        members = tree.alive()
        assert len(members) >= 3, "the parent, child and grandchild should all be running"
        group_kills: list[int] = []
        monkeypatch.setattr(execution.os, "name", "nt")
        monkeypatch.setattr(execution.os, "killpg", lambda pid, sig: group_kills.append(pid), raising=False)
        survivors = tree.kill()
        monkeypatch.undo()
        assert survivors == 0
        assert group_kills == []  # the Windows branch never touches process groups
        assert not [p for p in members if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    finally:
        if popen.poll() is None:
            popen.kill()
        popen.wait()
