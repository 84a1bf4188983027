"""The watchdog's own pieces: its JSON writer (it avoids importing json) and the notice built from its report."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from doorbell_ci import execution
from doorbell_ci.environments import reaper
from doorbell_ci.environments.reaper import PR_SET_PDEATHSIG, to_json

plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(plain)
def test_the_report_writer_is_json(value: object) -> None:
    assert json.loads(to_json(value)) == value


def test_the_notice_names_five_processes_and_counts_the_rest() -> None:
    leftovers = [{"pid": 100 + i, "name": "sleep", "cmdline": f"sleep {i}"} for i in range(7)]
    notice = execution.leftover_notice("unit", leftovers, 9, stopped=False)
    assert notice.startswith("unit: 9 processes it started were still running after it ended and were killed: ")
    assert "sleep (pid 104: sleep 4)" in notice and "pid 105" not in notice
    assert notice.endswith(" and 4 more")
    one = execution.leftover_notice("unit", leftovers[:1], 1, stopped=True)
    assert one == ("unit: 1 process it started had left its process group and was killed with it: "
                   "sleep (pid 100: sleep 0)")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_the_parent_death_signal_fires_when_the_forking_thread_ends() -> None:
    """Why the watchdog watches a socket and not PR_SET_PDEATHSIG: the signal follows the *thread* that started
    the child, and doorbell-ci starts every suite from a thread of its own, which ends while the program lives on."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        started.append(subprocess.Popen(["sleep", "30"], preexec_fn=lambda: reaper.prctl(PR_SET_PDEATHSIG, 9)))  # noqa: PLW1509

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    child = started[0]
    try:
        assert child.wait(timeout=10) == -9  # killed, although this process (its parent) is alive
    finally:
        child.kill()
        child.wait()
