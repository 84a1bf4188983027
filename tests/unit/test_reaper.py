"""The watchdog's own pieces: its JSON writer (it avoids importing json) and the notice built from its report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

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


def _program_folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    """bin-a holds a non-executable ``tool``, bin-b an executable one, bin-c a folder named ``tool``."""
    folders = [tmp_path / "bin-a", tmp_path / "bin-b", tmp_path / "bin-c"]
    for folder in folders:
        folder.mkdir()
    (folders[0] / "tool").write_text("#!/bin/sh\necho a\n", encoding="utf-8")
    (folders[0] / "tool").chmod(0o644)
    (folders[1] / "tool").write_text("#!/bin/sh\necho b\n", encoding="utf-8")
    (folders[1] / "tool").chmod(0o755)
    (folders[2] / "tool").mkdir()
    return folders[0], folders[1], folders[2]


@pytest.mark.skipif(os.name != "posix", reason="the watchdog runs on POSIX only")
def test_the_program_is_found_the_way_execvp_finds_it(tmp_path: Path) -> None:
    """posix_spawnp would do this lookup, but under qemu-user it cannot report a failed exec (exit 127 instead)."""
    a, b, c = _program_folders(tmp_path)
    assert reaper.find_program("tool", os.pathsep.join([str(c), str(a), str(b)])) == str(b / "tool")
    with pytest.raises(PermissionError):  # only a file without the x bit (execvp: EACCES)
        reaper.find_program("tool", os.pathsep.join([str(a), str(c)]))
    with pytest.raises(FileNotFoundError):
        reaper.find_program("tool", str(c))  # a folder is skipped, as execvp skips it
    with pytest.raises(FileNotFoundError):
        reaper.find_program("no-such-program-doorbell", os.pathsep.join([str(a), str(b)]))
    assert reaper.find_program(str(b / "tool"), "") == str(b / "tool")  # a path is not looked up
    with pytest.raises(PermissionError):
        reaper.find_program(str(a / "tool"), str(b))
    with pytest.raises(FileNotFoundError):
        reaper.find_program(str(tmp_path / "missing"), str(b))
    os.chdir(b)  # an empty PATH entry is the working folder, as for execvp
    try:
        assert reaper.find_program("tool", os.pathsep.join(["", str(a)])) == os.path.join(".", "tool")
    finally:
        os.chdir(tmp_path)


@pytest.mark.skipif(os.name != "posix", reason="the watchdog runs on POSIX only")
@pytest.mark.parametrize("user", ["root", "nonroot"])
def test_the_watchdog_reports_a_program_it_cannot_start(tmp_path: Path, user: str) -> None:
    """The real watchdog (stdlib only, run by Debian's Python) with a missing and a forbidden program: a start error,
    never a started process exiting 127. As uid 65534 a root-only program (mode 0700) is the forbidden one."""
    forbidden = tmp_path / "forbidden"
    forbidden.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    forbidden.chmod(0o700 if user == "nonroot" else 0o600)
    script = tmp_path / "reaper.py"  # a copy: uid 65534 may not enter this checkout's folders
    script.write_bytes(Path(reaper.__file__).read_bytes())
    reports = {}
    for name, program in (("missing", "no-such-program-doorbell"), ("forbidden", str(forbidden))):
        report = tmp_path / f"{name}.json"
        argv = [sys.executable, "-I", "-S", str(script), f"file:{report}", "1", "--", program]
        if user == "root":
            completed = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
        else:
            from tests.nonroot import SYSTEM_PYTHON, give_to_nonroot, run_as_nonroot

            give_to_nonroot(tmp_path)  # the reports are written here, by uid 65534
            os.chown(forbidden, 0, 0)  # root's, mode 0700
            argv[0] = str(SYSTEM_PYTHON)  # the watchdog needs no package: Debian's Python, which uid 65534 may run
            completed = run_as_nonroot(argv, env={"PATH": "/usr/bin:/bin"}, timeout=60)
        assert completed.returncode == 127, completed.stdout + completed.stderr
        reports[name] = json.loads(report.read_text(encoding="utf-8"))
    assert reports["missing"]["start_error"] == "could not start 'no-such-program-doorbell': No such file or directory"
    assert reports["forbidden"]["start_error"] == f"could not start {str(forbidden)!r}: Permission denied"
    assert reports["missing"]["exit_code"] is None and reports["forbidden"]["exit_code"] is None
