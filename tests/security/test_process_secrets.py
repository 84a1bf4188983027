"""No process a suite can reach holds a secret: a test that reads its ancestors' /proc files finds nothing.

doorbell-ci needs the GitHub token in its own environment (for the baseline download and the
publish step), and a process's initial environment stays readable in ``/proc/<pid>/environ``
for the rest of its life, whatever it later removes from ``os.environ``. Any process of the
same user may read it, and ptrace it, unless the process is non-dumpable. So the defence is
``prctl(PR_SET_DUMPABLE, 0)`` in the doorbell-ci program, plus starting every other process
(the suites' watchdog, the docker helper, git) without the token variables.

The attack runs as uid 65534, the same user as doorbell-ci (as root nothing would stop it): a
real run whose project test walks every ancestor and every process of its user, reads their
``environ`` and ``cmdline``, opens ``mem`` and reads the environment block through it where
that is allowed, and tries ``PTRACE_ATTACH`` on every process of the run (not on other
programs of that user, which it would stop for a moment). Everything it read goes to a file, searched here
for four fake secrets (``ghs_``, ``ghp_``, ``github_pat_`` and a token without a known prefix).
"""

from __future__ import annotations

import json
import secrets
import shutil
import string
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nonroot import give_to_nonroot, nonroot_env, nonroot_python, run_as_nonroot

PROBE = r'''
import ctypes
import json
import os
from pathlib import Path

PTRACE_ATTACH, PTRACE_DETACH = 16, 17
LIBC = ctypes.CDLL(None, use_errno=True)


def status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return fields


def read(path, limit=1 << 20):
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).hex()
    except OSError as error:
        return f"error: {type(error).__name__} errno {error.errno}"


def through_mem(pid):
    """Open /proc/pid/mem and read the environment block (its address is in stat when we may see it)."""
    try:
        handle = open(f"/proc/{pid}/mem", "rb")
    except OSError as error:
        return f"error: {type(error).__name__} errno {error.errno}"
    with handle:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        start, end = int(fields[-3]), int(fields[-2])  # env_start, env_end
        if not start or end <= start:
            return "opened; no address"
        try:
            handle.seek(start)
            return handle.read(min(end - start, 1 << 20)).hex()
        except OSError as error:
            return f"opened; read error errno {error.errno}"


def attach(pid):
    if LIBC.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
        return f"refused errno {ctypes.get_errno()}"
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # it ended meanwhile
    LIBC.ptrace(PTRACE_DETACH, pid, None, None)
    return "attached"


def run_tree(top):
    """``top`` and everything below it: the processes of this run (others of this user are only read, not stopped)."""
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                parents[int(name)] = int(status(name)["PPid"][0])
            except (OSError, KeyError):
                pass
    tree, grew = {top}, True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree


def test_reads_every_process_it_can():
    me = os.getpid()
    ancestors, pid = [], os.getppid()
    while pid > 1:
        ancestors.append(pid)
        pid = int(status(pid)["PPid"][0])
    uid = os.getuid()
    same_user = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != me:
            try:
                if int(status(name)["Uid"][0]) == uid:
                    same_user.append(int(name))
            except (OSError, KeyError):
                pass
    top = [pid for pid in ancestors if int(status(pid)["Uid"][0]) == uid][-1]  # the process setpriv became
    ours = run_tree(top)
    seen = {}
    for pid in dict.fromkeys(ancestors + same_user):
        try:
            seen[pid] = {
                "ancestor": pid in ancestors,
                "uid": int(status(pid)["Uid"][0]),
                "cmdline": read(f"/proc/{pid}/cmdline"),
                "environ": read(f"/proc/{pid}/environ"),
                "mem": through_mem(pid),
                "ptrace": attach(pid) if pid in ours and pid != me else "not tried",
            }
        except OSError:
            pass  # it ended meanwhile
    Path(os.environ["PROBE_OUT"]).write_text(json.dumps({"me": me, "uid": uid, "seen": seen}))
'''


def _fake(prefix: str, length: int = 36) -> str:
    return prefix + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


@pytest.fixture
def nonroot_folder() -> Iterator[Path]:
    """A folder outside pytest's own temp root, which any root pytest starting meanwhile makes 0700 again."""
    folder = Path(tempfile.mkdtemp(prefix="doorbell-ci-proc-secrets-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_no_ancestor_or_process_of_the_same_user_gives_a_suite_the_secrets(nonroot_folder: Path) -> None:
    python = nonroot_python()
    tmp_path = nonroot_folder
    project = tmp_path / "project"
    (project / "tests" / "unit").mkdir(parents=True)
    (project / "tests" / "unit" / "test_probe.py").write_text(PROBE)
    findings = tmp_path / "findings.json"
    give_to_nonroot(tmp_path)
    fake = {
        "GITHUB_TOKEN": _fake("ghs_"),
        "GH_TOKEN": _fake("ghp_"),
        "DOORBELL_CI_GITHUB_TOKEN": _fake("github_pat_", 82),
        "INPUT_TOKEN": _fake("", 40),  # a token without a known prefix (GitHub Enterprise, another forge)
    }
    env = nonroot_env({**fake, "PROBE_OUT": str(findings)})

    run = run_as_nonroot([python, "-m", "doorbell_ci", "run", "--suites", "unit", "--workers", "2",
                          "--no-coverage", "--no-reports"], cwd=project, env=env, timeout=240)

    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(findings.read_text())
    assert report["uid"] == 65534
    seen = report["seen"]
    ours = python.encode() + b"\0-m\0doorbell_ci\0run\0"  # not a doorbell-ci that runs this test (a self-run)
    orchestrators = [entry for entry in seen.values()
                     if entry["ancestor"] and _bytes(entry["cmdline"]).startswith(ours)]
    assert len(orchestrators) == 1, "the probe must have found the doorbell-ci process among its ancestors"
    orchestrator = orchestrators[0]
    assert orchestrator["environ"].startswith("error: PermissionError"), orchestrator["environ"]
    assert orchestrator["mem"].startswith("error: PermissionError"), orchestrator["mem"]
    assert orchestrator["ptrace"] == "refused errno 1"  # EPERM, although it is the same user
    assert "attached" in [entry["ptrace"] for entry in seen.values()], "the probe can attach to the run's others"
    assert len(seen) >= 4  # the watchdog, the xdist workers' controller, the other worker...
    assert any(entry["environ"].startswith("error") is False for entry in seen.values()), \
        "the probe could read some environments (its siblings'), so its reading works"
    for pid, entry in seen.items():
        everything = b"".join(_bytes(entry[key]) for key in ("cmdline", "environ", "mem"))
        for name, value in fake.items():
            assert value.encode() not in everything, f"{name} readable from pid {pid}: {entry}"


def _bytes(field: str) -> bytes:
    return b"" if field.startswith(("error", "opened", "refused")) else bytes.fromhex(field)
