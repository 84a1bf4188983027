"""Nothing a suite starts outlives it: real runs whose tests detach processes in every way we know.

The mechanism (``environments/reaper.py``): every suite runs under a watchdog that is a Linux
child subreaper, so a process that detaches (double fork, ``setsid``, its own process group, a
new name, an empty environment) is re-parented to the watchdog instead of init and is ended,
named and reaped when the suite ends; the watchdog holds a socket to doorbell-ci, so a
SIGKILLed doorbell-ci still ends its suites; and doorbell-ci itself is a subreaper, for a test
that kills its own watchdog. Each test plants processes that record their pid and start time,
and checks afterwards that none of them is alive.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from doorbell_ci import execution
from doorbell_ci.environments.base import SuiteCommand
from tests.nonroot import give_to_nonroot, nonroot_env, nonroot_python, run_as_nonroot
from tests.tooling import require_tool, time_scale

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the subreaper is Linux's")

# What doorbell-ci's own entry point gets from the kernel, measured in a process of its own (it changes the caller).
PROBE = """
import ctypes, json
from doorbell_ci import execution
from doorbell_ci.environments.reaper import PR_SET_CHILD_SUBREAPER
facts = execution.contain_this_process()
libc = ctypes.CDLL(None, use_errno=True)
refused = libc.prctl(PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
print(json.dumps({**facts, "errno": ctypes.get_errno() if refused else 0}))
"""


@functools.cache
def _containment_facts() -> dict:
    completed = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,  # noqa: S603
                               timeout=60 * time_scale(), check=True,
                               env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    return json.loads(completed.stdout)


@pytest.fixture
def subreaper() -> None:
    """Skips a test that needs the child subreaper where the kernel interface is refused, as measured now.

    Decided by the call itself, never by the machine's name: qemu-user (the arm64 suites, docs/PLATFORMS.md)
    answers prctl(PR_SET_CHILD_SUBREAPER) with EINVAL, a real Linux kernel (3.4+) has it. There the
    fallback is what ``test_without_the_subreaper_the_suite_s_process_group_is_still_ended`` covers. With
    DOORBELL_CI_REQUIRE_TOOLS=1 (CI on x86-64) a refused call fails the test instead of skipping it.
    """
    facts = _containment_facts()
    if facts["subreaper"]:
        return
    name = errno.errorcode.get(facts["errno"], str(facts["errno"]))
    require_tool("the child subreaper", False,
                 f"prctl(PR_SET_CHILD_SUBREAPER) is refused here with {name} (qemu-user answers EINVAL; "
                 f"execution.contain_this_process() reported {facts!r}): an orphan goes to init, out of reach")

# Planting helpers, shared by the projects' tests: each process writes {"pid", "created"} to PROBE_PIDS/<tag>-<pid>.
PLANT = '''
import ctypes, json, os, signal, sys, time
from pathlib import Path

PIDS = Path(os.environ["PROBE_PIDS"])


def record(tag, pid=None):
    import psutil
    me = psutil.Process(pid)
    (PIDS / f"{tag}-{me.pid}.json").write_text(json.dumps({"pid": me.pid, "created": me.create_time()}))


def detach(tag, body, new_group=False):
    """Double fork + setsid; the grandchild runs body() after recording itself. The caller waits for the record."""
    before = len(list(PIDS.glob(f"{tag}-*.json")))
    if os.fork() == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                if new_group:
                    os.setpgid(0, 0)  # a group of its own, not the session's
                record(tag)
                body()
        finally:
            os._exit(0)
    deadline = time.monotonic() + 10
    while len(list(PIDS.glob(f"{tag}-*.json"))) <= before and time.monotonic() < deadline:
        time.sleep(0.02)


def sleeper():
    os.execvp("sleep", ["sleep", "900"])


def renamed():
    """A new name (comm), a new command line and an empty environment: nothing left to recognise it by."""
    ctypes.CDLL(None).prctl(15, b"kworker/u8:3", 0, 0, 0)
    os.execve("/bin/sleep", ["[kworker/u8:3]", "900"], {})


def ignores_sigterm():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(1)


def forks_when_terminated():
    def again(signum, frame):
        child = os.fork()
        if child == 0:
            os.setsid()
            time.sleep(900)
            os._exit(0)
        record("forked-in-teardown", child)  # by the parent: no race with the kill, however slow the machine
        time.sleep(0.2)
        os._exit(0)
    signal.signal(signal.SIGTERM, again)
    while True:
        time.sleep(1)
'''

DAEMON_TESTS = '''
from plant import detach, sleeper, renamed, ignores_sigterm, forks_when_terminated


def test_plants_daemons():
    detach("setsid", sleeper)
    detach("renamed", renamed, new_group=True)
    detach("ignores-term", ignores_sigterm)
    detach("forks-on-term", forks_when_terminated)
'''

LATE_CONFTEST = '''
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def pytest_unconfigure(config):
    from plant import detach, sleeper
    if not hasattr(config, "workerinput"):  # the main pytest process, as it ends
        detach("in-teardown", sleeper)
'''


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A folder outside pytest's temp root: on a machine shared by several root pytest sessions, each new session
    prunes all but the newest three numbered folders, which removed a running test's pid files."""
    folder = Path(tempfile.mkdtemp(prefix="doorbell-ci-containment-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_project(root: Path, tests: dict[str, str]) -> Path:
    (root / "tests" / "unit").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'probe'\n", encoding="utf-8")
    (root / "tests" / "unit" / "plant.py").write_text(PLANT, encoding="utf-8")
    (root / "tests" / "unit" / "conftest.py").write_text(LATE_CONFTEST, encoding="utf-8")
    for name, text in tests.items():
        (root / "tests" / "unit" / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def doorbell_ci(project: Path, pids: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", "unit",
            "--no-coverage", "--no-reports", *args]


def child_env(pids: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_", "PYTEST_"))}
    return {**env, "PROBE_PIDS": str(pids)}


def planted(pids: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in pids.glob("*.json")}


def survivors(pids: Path) -> list[str]:
    """The planted processes still alive (same pid and start time, not a zombie)."""
    alive = []
    for name, entry in planted(pids).items():
        try:
            proc = psutil.Process(entry["pid"])
            if abs(proc.create_time() - entry["created"]) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{name}: {proc.name()} {proc.cmdline()}")
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.usefixtures("subreaper")
@pytest.mark.parametrize("user", ["root", "nonroot"])
def test_a_passing_run_ends_every_process_its_suite_detached_and_names_it(tmp_path: Path, user: str) -> None:
    """Double fork + setsid; a new group, name, argv and empty environment; one that ignores SIGTERM; one
    that forks while it is being killed; one started by pytest's own teardown. The run passes, and says so.
    Also as uid 65534: the watchdog needs no privilege (and the non-dumpable doorbell-ci still works)."""
    pids = tmp_path / "pids"
    pids.mkdir()
    project = write_project(tmp_path / "project", {"test_daemons.py": DAEMON_TESTS})

    if user == "root":
        run = subprocess.run(doorbell_ci(project, pids, "--workers", "1"), env=child_env(pids),  # noqa: S603
                             capture_output=True, text=True, timeout=120 * time_scale(), check=False)
    else:
        argv = doorbell_ci(project, pids, "--workers", "1")
        give_to_nonroot(tmp_path)
        run = run_as_nonroot([nonroot_python(), *argv[1:]], env=nonroot_env({"PROBE_PIDS": str(pids)}),
                             timeout=120 * time_scale())

    assert run.returncode == 0, run.stdout + run.stderr
    tags = {name.rsplit("-", 1)[0] for name in planted(pids)}
    assert tags == {"setsid", "renamed", "ignores-term", "forks-on-term", "in-teardown", "forked-in-teardown"}
    assert survivors(pids) == []
    report = json.loads((project / "test-results" / "report.json").read_text(encoding="utf-8"))
    notice = next(n for n in report["notices"] if n.startswith("unit: ") and "were killed" in n)
    assert "still running after it ended" in notice
    daemons = {entry["pid"] for name, entry in planted(pids).items() if not name.startswith("forked-in-teardown")}
    for pid in daemons:  # each named by pid (the one forked while dying is counted)
        assert f"pid {pid}" in notice or "more" in notice
    assert "[kworker/u8:3] 900" in notice  # the renamed one, by the command line it chose
    assert f"notice: {notice}" in run.stdout
    assert f"[unit] doorbell-ci: {notice}" in run.stdout


@pytest.mark.usefixtures("subreaper")
def test_a_timed_out_xdist_suite_leaves_no_detached_daemon(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    project = write_project(tmp_path / "project", {"test_hang.py": '''
        import time
        from plant import detach, renamed, ignores_sigterm

        def test_detaches_then_hangs():
            detach("renamed", renamed, new_group=True)
            detach("ignores-term", ignores_sigterm)
            time.sleep(900)

        def test_other_worker_hangs():
            time.sleep(900)
    '''})

    suite_timeout = str(round(8 * time_scale()))  # long enough for both workers to start, also under emulation
    run = subprocess.run(doorbell_ci(project, pids, "--workers", "2", "--timeout", suite_timeout),  # noqa: S603
                         env=child_env(pids),
                         capture_output=True, text=True, timeout=120 * time_scale(), check=False)

    assert run.returncode != 0
    assert {name.rsplit("-", 1)[0] for name in planted(pids)} >= {"renamed", "ignores-term"}
    assert survivors(pids) == []
    report = json.loads((project / "test-results" / "report.json").read_text(encoding="utf-8"))
    assert report["suites"][0]["status"] == "timeout"
    notice = next(n for n in report["notices"] if n.startswith("unit: "))
    assert "had left its process group" in notice and "[kworker/u8:3] 900" in notice


def _project_processes(project: Path) -> list[str]:
    """Every living process whose working folder is the project (the watchdog, pytest, its workers)."""
    found = []
    for proc in psutil.process_iter(["pid", "cwd", "status", "cmdline"]):
        cwd = proc.info.get("cwd") or ""
        if cwd.startswith(str(project)) and proc.info.get("status") != psutil.STATUS_ZOMBIE:
            found.append(f"{proc.info['pid']} {proc.info['cmdline']}")
    return found


@pytest.mark.usefixtures("subreaper")
def test_a_sigkilled_doorbell_ci_leaves_nothing_of_its_run(tmp_path: Path) -> None:
    """SIGKILL (nothing can be caught) mid-run, with xdist workers and detached daemons: all of it ends."""
    pids = tmp_path / "pids"
    pids.mkdir()
    project = write_project(tmp_path / "project", {"test_long.py": '''
        import time
        from plant import detach, record, sleeper, ignores_sigterm

        def test_one():
            record("worker")
            detach("setsid", sleeper, new_group=True)
            detach("ignores-term", ignores_sigterm)
            time.sleep(900)

        def test_two():
            record("worker")
            time.sleep(900)
    '''})
    orchestrator = subprocess.Popen(doorbell_ci(project, pids, "--workers", "2"), env=child_env(pids),  # noqa: S603
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(planted(pids)) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(planted(pids)) == 4, planted(pids)
        assert _project_processes(project)
    finally:
        orchestrator.kill()  # also when the test fails early: its watchdog then ends the rest
        orchestrator.wait()

    deadline = time.monotonic() + execution.TERMINATE_GRACE + 10
    while (survivors(pids) or _project_processes(project)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert survivors(pids) == []
    assert _project_processes(project) == []


@pytest.mark.usefixtures("subreaper")
def test_a_suite_that_kills_its_own_watchdog_still_leaves_nothing(tmp_path: Path) -> None:
    """The watchdog is the tests' parent and of their user, so a test can kill it: doorbell-ci adopts the rest."""
    pids = tmp_path / "pids"
    pids.mkdir()
    project = write_project(tmp_path / "project", {"test_kill_parent.py": '''
        import os, signal, time
        from plant import detach, sleeper

        def test_kills_the_watchdog():
            detach("setsid", sleeper, new_group=True)
            os.kill(os.getppid(), signal.SIGKILL)
            time.sleep(900)
    '''})

    run = subprocess.run(doorbell_ci(project, pids, "--workers", "1"), env=child_env(pids),  # noqa: S603
                         capture_output=True, text=True, timeout=120 * time_scale(), check=False)

    assert run.returncode != 0  # the suite's runner was killed: an error, never a pass
    assert set(planted(pids)) and survivors(pids) == []
    assert _project_processes(project) == []
    assert "watchdog was killed" in run.stdout
    report = json.loads((project / "test-results" / "report.json").read_text(encoding="utf-8"))
    setsid = next(entry["pid"] for name, entry in planted(pids).items() if name.startswith("setsid"))
    assert any(f"pid {setsid}" in notice for notice in report["notices"]), report["notices"]


def test_the_watchdog_reaps_the_orphans_it_adopts(tmp_path: Path) -> None:
    """Orphans that end while the suite runs must not stay zombies of the watchdog (checked from inside)."""
    pids = tmp_path / "pids"
    pids.mkdir()
    project = write_project(tmp_path / "project", {"test_zombies.py": '''
        import os, time
        from pathlib import Path

        def zombies_of(parent):
            found = []
            for name in os.listdir("/proc"):
                try:
                    stat = Path(f"/proc/{name}/stat").read_text()
                except OSError:
                    continue
                fields = stat.rsplit(")", 1)[1].split()
                if fields[0] == "Z" and int(fields[1]) == parent:
                    found.append(name)
            return found

        def test_short_lived_orphans_are_reaped():
            for _ in range(30):
                if os.fork() == 0:
                    if os.fork() == 0:
                        os._exit(0)  # the orphan ends at once: a zombie of whoever adopted it
                    os._exit(0)
                os.wait()
            time.sleep(1.0)
            assert zombies_of(os.getppid()) == []
    '''})

    run = subprocess.run(doorbell_ci(project, pids, "--workers", "1"), env=child_env(pids),  # noqa: S603
                         capture_output=True, text=True, timeout=120 * time_scale(), check=False)

    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


@pytest.mark.usefixtures("subreaper")
def test_run_command_in_process_ends_a_detached_daemon_and_reports_it(tmp_path: Path) -> None:
    """The watchdog does not depend on the doorbell-ci program: any caller of run_command gets it."""
    pids = tmp_path / "pids"
    pids.mkdir()
    (tmp_path / "plant.py").write_text(PLANT, encoding="utf-8")
    script = "from plant import detach, ignores_sigterm\ndetach('ignores-term', ignores_sigterm)\nprint('done')\n"
    command = SuiteCommand(argv=[sys.executable, "-c", script], env={"PROBE_PIDS": str(pids),
                                                                     "PYTHONPATH": os.pathsep.join(sys.path)},
                           cwd=tmp_path)

    result = execution.run_command("probe", command, 60, tmp_path / "probe.log")

    assert result.exit_code == 0 and "done" in result.output_tail
    assert survivors(pids) == []
    daemon = next(iter(planted(pids).values()))["pid"]
    assert result.leftover_count == 1 and result.leftovers[0]["pid"] == daemon
    assert f"pid {daemon}" in (tmp_path / "probe.log").read_text()
    assert any(f"pid {daemon}" in notice for notice in execution.leftover_notices())


IN_THE_GROUP = """
import os, sys
sys.path.insert(0, os.environ["PLANT_DIR"])
from plant import ignores_sigterm, record, sleeper
for tag, body in (("group-sleeper", sleeper), ("group-ignores-term", ignores_sigterm)):
    read, write = os.pipe()
    if os.fork() == 0:
        if os.fork() == 0:  # the grandchild stays in the suite's process group, orphaned when its parent ends
            record(tag)
            os.write(write, b"x")
            body()
        os._exit(0)
    os.wait()
    os.read(read, 1)
print("done")
"""


def test_without_the_subreaper_the_suite_s_process_group_is_still_ended(tmp_path: Path) -> None:
    """The fallback where prctl(PR_SET_CHILD_SUBREAPER) is refused (qemu-user: EINVAL): orphans that stayed in the
    suite's process group are found there (/proc), ended and named. With the subreaper they are the watchdog's
    children anyway, so this holds on every Linux; under emulation it is the mechanism that does it."""
    pids = tmp_path / "pids"
    pids.mkdir()
    (tmp_path / "plant.py").write_text(PLANT, encoding="utf-8")
    command = SuiteCommand(argv=[sys.executable, "-c", IN_THE_GROUP],
                           env={"PROBE_PIDS": str(pids), "PLANT_DIR": str(tmp_path),
                                "PYTHONPATH": os.pathsep.join(sys.path)}, cwd=tmp_path)

    result = execution.run_command("probe", command, 60 * time_scale(), tmp_path / "probe.log")

    assert result.exit_code == 0 and "done" in result.output_tail, result.output_tail
    assert {name.rsplit("-", 1)[0] for name in planted(pids)} == {"group-sleeper", "group-ignores-term"}
    assert survivors(pids) == []
    planted_pids = {entry["pid"] for entry in planted(pids).values()}
    assert result.leftover_count == 2 and {entry["pid"] for entry in result.leftovers} == planted_pids
    log = (tmp_path / "probe.log").read_text()
    assert all(f"pid {pid}" in log for pid in planted_pids)
    assert "still running after it ended" in log


def test_a_suite_that_cannot_start_is_still_a_start_error(tmp_path: Path) -> None:
    result = execution.run_command("probe", SuiteCommand(argv=["no-such-program-doorbell"], cwd=tmp_path), 30,
                                   tmp_path / "probe.log")
    assert result.exit_code is None
    assert result.start_error == "could not start 'no-such-program-doorbell': No such file or directory"


@pytest.mark.parametrize("signum", [signal.SIGSEGV, signal.SIGABRT])
def test_the_suite_s_own_exit_status_comes_through_the_watchdog(tmp_path: Path, signum: int) -> None:
    command = SuiteCommand(argv=[sys.executable, "-c", f"import os; os.kill(os.getpid(), {int(signum)})"],
                           cwd=tmp_path)
    assert execution.run_command("probe", command, 30, tmp_path / "probe.log").exit_code == -signum
    exits = SuiteCommand(argv=[sys.executable, "-c", "raise SystemExit(3)"], cwd=tmp_path)
    assert execution.run_command("probe", exits, 30, tmp_path / "probe.log").exit_code == 3


def test_the_watchdog_costs_little_per_suite(tmp_path: Path) -> None:
    """The price of containment per suite: one small process start (measured, bounded loosely for a busy CI)."""
    command = SuiteCommand(argv=["true"], cwd=tmp_path)
    begin = time.perf_counter()
    for _ in range(5):
        execution.run_command("probe", command, 30, tmp_path / "probe.log")
    per_suite = (time.perf_counter() - begin) / 5
    assert per_suite < 1.0 * time_scale(), f"{per_suite:.3f}s per suite"  # qemu-user: 2.3 s at load 8
    assert threading.active_count() < 50  # no thread per suite is left behind


def test_a_docker_run_ends_and_names_what_its_suite_detached_in_the_container(tmp_path: Path) -> None:
    """In a container the watchdog runs inside too: the daemons are named; the container's end kills them anyway."""
    from tests.docker_tools import docker_client, offline_env, readable_by_containers

    client = docker_client()
    pids = tmp_path / "pids"
    pids.mkdir()
    project = tmp_path / "project"
    (project / "tests" / "unit").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'probe'\n", encoding="utf-8")
    name = f"[doorbell-probe-{secrets.token_hex(4)}]"  # other tests plant processes too, some at the same time
    (project / "tests" / "unit" / "test_daemon.py").write_text(textwrap.dedent('''
        import ctypes, os, time

        def test_plants_daemons():
            for new_group in (False, True):
                if os.fork() == 0:
                    os.setsid()
                    if os.fork() == 0:
                        if new_group:
                            os.setpgid(0, 0)
                        os.execve("/bin/sleep", ["NAME", "900"], {})
                    os._exit(0)
                os.wait()
            time.sleep(0.5)
    ''').replace("NAME", name), encoding="utf-8")
    readable_by_containers(project)

    run = subprocess.run([sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", "unit",  # noqa: S603
                          "--environment", "docker", "--workers", "1", "--no-coverage", "--no-reports"],
                         env=offline_env(), capture_output=True, text=True, timeout=300, check=False)

    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads((project / "test-results" / "report.json").read_text(encoding="utf-8"))
    notice = next(n for n in report["notices"] if n.startswith("unit: "))
    assert "2 processes it started were still running after it ended and were killed" in notice
    assert notice.count(f"{name} 900") == 2
    assert f"notice: {notice}" in run.stdout
    assert client.containers.list(all=True, filters={"label": f"doorbell-ci.project={project}"}) == []
    assert not [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [""])[0] == name]


HOPPER = '''
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
if os.fork() == 0:
    os.setsid()
    hops = 0
    while True:  # a new pid all the time: a kill aimed at the pid it had a moment ago misses
        if os.fork():
            os._exit(0)
        hops += 1
        if hops % 500 == 0:
            os.setsid()  # and a new session and process group now and then
time.sleep(0.5)
print("main done")
'''


@pytest.mark.usefixtures("subreaper")
def test_a_process_that_keeps_changing_its_pid_and_session_is_caught(tmp_path: Path) -> None:
    """Fork and exit in a loop, ignoring SIGTERM: each new pid comes to the watchdog, whose SIGKILL passes catch it."""
    script = tmp_path / "hopper.py"
    script.write_text(HOPPER, encoding="utf-8")

    def hoppers() -> list[psutil.Process]:
        return [p for p in psutil.process_iter(["cmdline"]) if str(script) in (p.info["cmdline"] or [])]

    try:
        result = execution.run_command("probe", SuiteCommand(argv=[sys.executable, str(script)], cwd=tmp_path), 60,
                                       tmp_path / "probe.log")
        assert result.exit_code == 0 and "main done" in result.output_tail
        assert result.leftover_count >= 1
        time.sleep(0.5)
        assert hoppers() == []
    finally:
        for proc in hoppers():
            proc.kill()
