"""Faults during a run: each ends with one clear outcome, no orphan process, and the results kept.

Every test here runs the real command line (``python -m doorbell_ci run``) on a small project
written into tmp_path, with real pytest processes underneath. Each run carries a unique marker
in its environment; every process the run started inherits it, so a scan of all processes for
the marker afterwards finds any orphan, whatever it renamed itself to or whichever session it
fled into.

The read-only and disk-full cases need root and mount namespaces: doorbell-ci runs under
``unshare --mount`` with a small tmpfs as its output folder, so nothing reaches the host's
mounts. The kernel refuses to remount a filesystem read-only while a file on it is open for
writing (EBUSY), and a running suite's log is always open, so the "folder turns read-only" test
bind-mounts the folder onto itself and makes that mount read-only: every later open through the
path gets EROFS, exactly what a run sees when its output folder goes read-only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import psutil
import pytest

from doorbell_ci import execution, output_folder
from doorbell_ci.environments.base import SuiteCommand
from tests.tooling import require_tool

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process trees")

MARKER_VAR = "DOORBELL_FAULT_MARKER"


def make_project(root: Path, files: dict[str, str], table: str = "") -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    (root / "pyproject.toml").write_text(
        f"[project]\nname = 'faulty'\n\n[tool.doorbell-ci]\n{textwrap.dedent(table)}\n", encoding="utf-8")
    return root


def clean_environment(marker: str, **extra: str) -> dict[str, str]:
    """The host's environment without doorbell-ci/pytest settings of the outer run, plus the marker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_", "PYTEST_", "COV_CORE"))}
    return {**env, MARKER_VAR: marker, **extra}


def cli(project: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--no-coverage",
            "--parallel-suites", "1", "--workers", "1", *options]


def survivors(marker: str) -> list[str]:
    """Every live process whose environment or command line carries ``marker`` (should be none)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "environ", "status"]):
        info = proc.info
        if info["status"] == psutil.STATUS_ZOMBIE or info["pid"] == os.getpid():
            continue
        environ = info["environ"] or {}
        cmdline = " ".join(info["cmdline"] or [])
        if environ.get(MARKER_VAR) == marker or marker in cmdline:
            found.append(f"{info['pid']}: {cmdline[:200]}")
    return found


def wait_for_survivors_to_go(marker: str, seconds: float = 5.0) -> list[str]:
    """A killed process may take a moment to be reaped by init; give it that moment, no more."""
    deadline = time.monotonic() + seconds
    while (left := survivors(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text(encoding="utf-8"))


def suite_of(document: dict, name: str) -> dict:
    return next(s for s in document["suites"] if s["name"] == name)


def outcomes(suite: dict) -> dict[str, str]:
    return {t["name"]: t.get("outcome", "passed") for t in suite["tests"]}  # report.json leaves "passed" out


PASSING_UNIT = {"tests/unit/test_fine.py": "def test_one():\n    pass\n\ndef test_two():\n    pass\n"}


# --- 1 and 2: a suite that hangs; one whose child ignores SIGTERM ---------------------------------

HANGING = '''
    import os, subprocess, sys, time

    def test_before_the_hang():
        pass

    def test_hangs():
        if os.environ.get("FAULT_KIND") == "stubborn-child":
            # its own session (the suite's process group misses it) and SIGTERM ignored
            subprocess.Popen([sys.executable, "-c",
                "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"],
                start_new_session=True)
        time.sleep(600)
'''


@pytest.mark.parametrize("kind", ["hang", "stubborn-child"])
def test_hung_suite_times_out_with_its_tree_killed_and_the_other_suite_kept(tmp_path: Path, kind: str) -> None:
    marker = f"fault-{uuid.uuid4().hex}"
    project = make_project(tmp_path / "proj", {**PASSING_UNIT, "tests/integration/test_hang.py": HANGING},
                           "[tool.doorbell-ci.suite.integration]\npaths = ['tests/integration']\ntimeout = 6\n")
    begin = time.monotonic()
    done = subprocess.run(cli(project, "--suites", "unit", "integration"), capture_output=True, text=True,  # noqa: S603
                          env=clean_environment(marker, FAULT_KIND=kind), timeout=120)
    elapsed = time.monotonic() - begin

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert elapsed < 6 + 2 * execution.TERMINATE_GRACE + 30  # killed at the timeout, not after the sleep
    document = report(project / "test-results")
    assert suite_of(document, "unit")["status"] == "passed"
    assert suite_of(document, "unit")["counts"]["passed"] == 2
    integration = suite_of(document, "integration")
    assert integration["status"] == "timeout"
    assert integration["reason"].startswith("killed at the suite timeout of 6s; 1 tests had finished, 1 was running")
    assert outcomes(integration) == {"test_before_the_hang": "passed", "test_hangs": "error"}
    assert any(line.split()[:2] == ["integration", "timeout"] for line in done.stdout.splitlines())
    assert wait_for_survivors_to_go(marker) == []


# --- 3: a gigabyte of output --------------------------------------------------------------------

FLOOD = '''
    import os

    def test_before():
        pass

    def test_floods_stdout():
        line = b"flood " + b"x" * 1017 + b"\\n"  # 1 KiB lines
        chunk = line * 1024                         # 1 MiB writes
        os.write(1, b"FLOOD-START\\n")
        for _ in range(1024):                        # 1 GiB
            os.write(1, chunk)
        os.write(1, b"FLOOD-END\\n")

    def test_after():
        pass
'''

RSS_PROBE = (  # VmHWM starts afresh at exec; ru_maxrss would keep the forking pytest worker's own peak
    "import sys\n"
    "from pathlib import Path\n"
    "from doorbell_ci.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "peak = next(line.split()[1] for line in Path('/proc/self/status').read_text().splitlines()\n"
    "            if line.startswith('VmHWM:'))\n"
    "print('ORCHESTRATOR_PEAK_RSS_KB', peak, file=sys.stderr)\n"
    "raise SystemExit(code)\n"
)


def test_a_gigabyte_of_output_is_capped_on_the_console_and_in_the_log(tmp_path: Path) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("the orchestrator's peak memory is read from /proc/self/status (VmHWM), which only Linux has")
    marker = f"fault-{uuid.uuid4().hex}"
    project = make_project(tmp_path / "proj", {**PASSING_UNIT, "tests/integration/test_flood.py": FLOOD},
                           "[tool.doorbell-ci.suite.integration]\npaths = ['tests/integration']\n"
                           "pytest_args = ['-s']\n")
    argv = [sys.executable, "-c", RSS_PROBE, *cli(project, "--suites", "unit", "integration")[3:]]
    done = subprocess.run(argv, capture_output=True, env=clean_environment(marker), timeout=600)  # noqa: S603
    stdout, stderr = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")

    assert done.returncode == 0, stdout[-3000:] + stderr[-3000:]
    peak_kb = int(stderr.split("ORCHESTRATOR_PEAK_RSS_KB")[1].split()[0])
    print(f"orchestrator peak RSS with 1 GiB of suite output: {peak_kb / 1024:.0f} MiB")
    assert peak_kb < 300 * 1024  # the orchestrator's memory does not grow with the output

    # the console: the first 2 MiB of the suite, then one line naming the log
    assert len(done.stdout) < execution.CONSOLE_MAX_CHARS + 256 * 1024
    assert stdout.count("output truncated on the console after 2.0 MiB") == 1
    assert "FLOOD-START" in stdout and "FLOOD-END" not in stdout

    # the log: its head and its tail, with one line saying what was dropped between them
    log = project / "test-results" / "logs" / "integration.log"
    assert log.stat().st_size <= execution.LOG_HEAD_CHARS + execution.LOG_TAIL_CHARS + 4096
    with open(log, "rb") as handle:
        head = handle.read(1 << 20)
        handle.seek(execution.LOG_HEAD_CHARS - 4096)
        seam = handle.read(8192)
        handle.seek(-(1 << 20), os.SEEK_END)
        tail = handle.read()
    assert b"FLOOD-START" in head
    assert b"of output dropped here; this log keeps the first 16.0 MiB and the last 16.0 MiB" in seam
    assert b"FLOOD-END" in tail and b"3 passed" in tail  # pytest's own summary after the flood

    document = report(project / "test-results")
    integration = suite_of(document, "integration")
    assert integration["status"] == "passed"
    assert outcomes(integration) == {"test_before": "passed", "test_floods_stdout": "passed", "test_after": "passed"}
    assert suite_of(document, "unit")["counts"]["passed"] == 2
    notice = next(n for n in document["notices"] if n.startswith("integration: printed"))
    assert "MiB of output; logs/integration.log keeps the first 16.0 MiB and the last 16.0 MiB" in notice
    assert f"notice: {notice}" in stdout
    assert wait_for_survivors_to_go(marker) == []


# --- 4: pytest itself segfaults -----------------------------------------------------------------

SEGFAULTING = '''
    import ctypes

    def test_first():
        pass

    def test_second():
        pass

    def test_crashes_the_interpreter():
        ctypes.string_at(0)  # reads address 0: SIGSEGV in the pytest process itself

    def test_never_reached():
        pass
'''


def test_segfaulting_pytest_is_an_error_that_keeps_the_finished_tests(tmp_path: Path) -> None:
    marker = f"fault-{uuid.uuid4().hex}"
    project = make_project(tmp_path / "proj", {**PASSING_UNIT, "tests/integration/test_crash.py": SEGFAULTING})
    done = subprocess.run(cli(project, "--suites", "unit", "integration"), capture_output=True, text=True,  # noqa: S603
                          env=clean_environment(marker), timeout=120)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "doorbell-ci: error" not in done.stderr
    document = report(project / "test-results")
    integration = suite_of(document, "integration")
    assert integration["status"] == "error"
    assert integration["exit_code"] == -signal.SIGSEGV
    assert integration["reason"] == "the runner died from signal 11 (SIGSEGV); 2 tests had finished, 1 was running"
    assert outcomes(integration) == {"test_first": "passed", "test_second": "passed",
                                     "test_crashes_the_interpreter": "error"}
    crashed = next(t for t in integration["tests"] if t["name"] == "test_crashes_the_interpreter")
    assert crashed["message"] == "crashed: the runner died from signal 11 (SIGSEGV) while this test ran"
    assert "Segmentation fault" in integration["output_tail"]  # pytest's faulthandler said where
    assert suite_of(document, "unit")["status"] == "passed"
    summary_line = next(line for line in done.stdout.splitlines() if line.split()[:1] == ["integration"])
    assert "error" in summary_line and "the runner died from signal 11 (SIGSEGV)" in summary_line
    assert wait_for_survivors_to_go(marker) == []


def test_segfaulting_xdist_worker_is_that_test_s_error_and_the_suite_goes_on(tmp_path: Path) -> None:
    """Under xdist only a worker dies: pytest-xdist reports the test, starts a new worker, and goes on."""
    marker = f"fault-{uuid.uuid4().hex}"
    project = make_project(tmp_path / "proj", {**PASSING_UNIT, "tests/integration/test_crash.py": SEGFAULTING})
    argv = cli(project, "--suites", "unit", "integration")
    argv[argv.index("--workers") + 1] = "2"
    done = subprocess.run(argv, capture_output=True, text=True, env=clean_environment(marker), timeout=120)  # noqa: S603

    assert done.returncode == 1, done.stdout + done.stderr
    integration = suite_of(report(project / "test-results"), "integration")
    assert integration["status"] == "failed" and integration["exit_code"] == 1
    assert outcomes(integration) == {"test_first": "passed", "test_second": "passed",
                                     "test_crashes_the_interpreter": "error", "test_never_reached": "passed"}
    crashed = next(t for t in integration["tests"] if t["name"] == "test_crashes_the_interpreter")
    assert "crashed while running" in crashed["message"]
    assert done.stdout.rstrip().splitlines()[-1] == "5 passed, 1 failed, 0 skipped"
    assert wait_for_survivors_to_go(marker) == []


# --- 5 and 6: the output folder turns read-only; the disk fills up -------------------------------


def _mount_namespaces_work(probe: Path) -> bool:
    if not (shutil.which("unshare") and shutil.which("mount")):
        return False
    probe.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",  # noqa: S607
                               'mount -t tmpfs -o size=1m probe "$0" && mount --bind "$0" "$0" '
                               '&& mount -o remount,bind,ro "$0"', str(probe)],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


# Runs doorbell-ci in a private mount namespace with a tmpfs as its output folder. An earlier run's
# report.json is put there first, and everything is copied out afterwards so the test can look.
NAMESPACE_SCRIPT = '''
set -u
mount -t tmpfs -o "size=$FAULT_TMPFS_SIZE" doorbell-faults "$FAULT_OUT"
printf '%s' "$FAULT_EARLIER_REPORT" > "$FAULT_OUT/report.json"
if [ -n "${FAULT_TMP_INSIDE:-}" ]; then  # the temp folder on the same (soon full) filesystem
    mkdir "$FAULT_OUT/tmp" && export TMPDIR="$FAULT_OUT/tmp"
fi
"$@"
code=$?
cp -a "$FAULT_OUT/." "$FAULT_COPY/"
exit $code
'''

EARLIER_REPORT = '{"schema": "doorbell-ci/report", "earlier": "a previous run, must stay intact"}'


def run_in_namespace(tmp_path: Path, project: Path, marker: str, tmpfs_size: str,
                     suites: tuple[str, ...] = ("unit", "integration"), temp_inside: bool = False,
                     ) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """Run doorbell-ci on ``project`` in a private mount namespace; (result, copy of the output, TMPDIR)."""
    require_tool("mount namespaces", _mount_namespaces_work(tmp_path / "probe"),
                 "needs root and unshare/mount (util-linux) to give doorbell-ci a private tmpfs output folder")
    out, copy = tmp_path / "out", tmp_path / "copy"
    out.mkdir()
    copy.mkdir()
    env = clean_environment(marker, FAULT_OUT=str(out), FAULT_COPY=str(copy), FAULT_TMPFS_SIZE=tmpfs_size,
                            FAULT_EARLIER_REPORT=EARLIER_REPORT, TMPDIR=str(tmp_path / "tmp"),
                            FAULT_TMP_INSIDE="1" if temp_inside else "")
    (tmp_path / "tmp").mkdir()
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", NAMESPACE_SCRIPT, "fault-namespace",
            *cli(project, "--suites", *suites, "--output-dir", str(out))]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)  # noqa: S603
    assert not any(out.iterdir()), "the tmpfs leaked out of the namespace"
    return done, copy, tmp_path / "tmp"


def error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("doorbell-ci: error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def fallback_folder(line: str) -> Path:
    return Path(line.split("this run's reports were written to ")[1].split(" instead")[0])


TURNS_READ_ONLY = '''
    import os, subprocess

    def test_turns_the_output_folder_read_only():
        out = os.environ["FAULT_OUT"]
        # a read-only mount of the same folder over itself: every later open through the path gets EROFS
        subprocess.run(["mount", "--bind", out, out], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", out], check=True)

    def test_after_the_switch():
        pass
'''


def test_output_folder_turning_read_only_keeps_the_results_in_a_named_fallback(tmp_path: Path) -> None:
    marker = f"fault-{uuid.uuid4().hex}"
    project = make_project(tmp_path / "proj", {**PASSING_UNIT, "tests/integration/test_ro.py": TURNS_READ_ONLY,
                                               "tests/e2e/test_late.py": "def test_starts_after_the_switch():\n"
                                                                         "    pass\n"})
    done, copy, temp = run_in_namespace(tmp_path, project, marker, "16m", ("unit", "integration", "e2e"))

    assert done.returncode == 4, done.stdout + done.stderr  # reports could not be written (errors.py)
    line = error_line(done.stderr)
    assert f"could not write {tmp_path / 'out' / 'report.json'}: Read-only file system (errno 30, EROFS)" in line
    assert "the report.json already there is an earlier run's, left intact" in line
    fallback = fallback_folder(line)
    assert fallback.parent == temp  # the temp folder, named in the one line
    assert (copy / "report.json").read_text(encoding="utf-8") == EARLIER_REPORT  # never half overwritten

    document = report(fallback)
    assert suite_of(document, "unit")["status"] == "passed" and suite_of(document, "unit")["counts"]["passed"] == 2
    integration = suite_of(document, "integration")
    assert outcomes(integration) == {"test_turns_the_output_folder_read_only": "passed",
                                     "test_after_the_switch": "passed"}  # from the progress events
    assert integration["status"] == "error"  # pytest could not write its JUnit XML
    assert "integration.xml" in integration["reason"]
    for name in ("report.html", "summary.md", "junit.xml"):
        assert (fallback / name).is_file()
    # a suite that starts after the switch: no log, no progress file, no JUnit XML, yet it ran and said so
    late = suite_of(document, "e2e")
    assert late["status"] == "error" and "e2e.xml was not written" in late["reason"]
    assert late["output_tail"].rstrip().endswith(f"Read-only file system: '{tmp_path / 'out' / 'junit' / 'e2e.xml'}'")
    assert "[e2e] doorbell-ci progress plugin: no progress events:" in done.stdout  # pytest went on without it
    assert "[e2e] tests/e2e/test_late.py ." in done.stdout  # the test ran and passed
    assert any(notice.startswith(f"e2e: could not write its log {tmp_path / 'out' / 'logs' / 'e2e.log'}: "
                                 "Read-only file system (errno 30, EROFS)") for notice in document["notices"])
    assert f"report: {fallback / 'report.html'}" in done.stdout  # the summary still printed, pointing there
    # the errored suites are named in the closing line (issue 12 item 7), after the counts parsers read
    assert done.stdout.rstrip().splitlines()[-1] == "4 passed, 0 failed, 0 skipped; 2 suite errors (integration, e2e)"
    assert wait_for_survivors_to_go(marker) == []


FILLS_THE_DISK = '''
    import errno, os

    def test_fills_the_disk():
        ballast = os.path.join(os.environ["FAULT_OUT"], "ballast")
        with open(ballast, "wb", buffering=0) as handle:
            try:
                while True:
                    handle.write(b"\\0" * 65536)
            except OSError as error:
                assert error.errno == errno.ENOSPC
        # room for this suite's own small files, not for a report of the 1,500 tests before it
        os.truncate(ballast, os.path.getsize(ballast) - 192 * 1024)
'''

MANY_TESTS = '''
    import pytest

    @pytest.mark.parametrize("case", [f"{n:04d}-" + "a-long-and-descriptive-test-case-id-" * 3 for n in range(1500)])
    def test_case(case):
        pass
'''


def test_disk_full_while_writing_reports_keeps_the_results_in_a_named_fallback(tmp_path: Path) -> None:
    marker = f"fault-{uuid.uuid4().hex}"
    project = make_project(tmp_path / "proj", {"tests/unit/test_many.py": MANY_TESTS,
                                               "tests/integration/test_fill.py": FILLS_THE_DISK})
    done, copy, _ = run_in_namespace(tmp_path, project, marker, "8m")

    assert done.returncode == 4, done.stdout + done.stderr
    line = error_line(done.stderr)
    assert f"could not write {tmp_path / 'out' / 'report.json'}: No space left on device (errno 28, ENOSPC)" in line
    assert (copy / "report.json").read_text(encoding="utf-8") == EARLIER_REPORT  # intact, not half a file
    assert not [p.name for p in copy.iterdir() if p.name.startswith(".report.json.")]  # no temp file left
    document = report(fallback_folder(line))
    assert suite_of(document, "unit")["counts"]["passed"] == 1500
    assert suite_of(document, "integration")["status"] == "passed"
    assert done.stdout.rstrip().splitlines()[-1] == "1501 passed, 0 failed, 0 skipped"
    assert wait_for_survivors_to_go(marker) == []


# --- 7: SIGTERM to doorbell-ci itself -----------------------------------------------------------

SLEEPS_WITH_A_CHILD = '''
    import os, subprocess, sys, time
    from pathlib import Path

    def test_finishes():
        pass

    def test_sleeps_with_a_child():
        child = subprocess.Popen([sys.executable, "-c",  # ignores SIGTERM: stopping it takes the grace period
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
        Path(os.environ["FAULT_READY"]).write_text(str(child.pid))
        time.sleep(600)
'''


@pytest.mark.parametrize("repeated", [False, True], ids=["once", "again-while-stopping"])
def test_sigterm_to_doorbell_ci_exits_130_with_the_results_so_far(tmp_path: Path, repeated: bool) -> None:
    """A cancelled CI job. GitHub sends SIGINT, then SIGTERM 7.5 s later; people press Ctrl-C twice."""
    marker = f"fault-{uuid.uuid4().hex}"
    ready = tmp_path / "ready"
    project = make_project(tmp_path / "proj", {**PASSING_UNIT, "tests/integration/test_sleep.py": SLEEPS_WITH_A_CHILD})
    proc = subprocess.Popen(cli(project, "--suites", "unit", "integration"),  # noqa: S603
                            env=clean_environment(marker, FAULT_READY=str(ready)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert ready.exists(), "the second suite never reached its sleeping test"
    child = psutil.Process(int(ready.read_text()))
    time.sleep(1.0)  # let the tree sampler see the child
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    if repeated:  # while the suite's tree is in its SIGTERM grace period
        time.sleep(0.7)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    took = time.monotonic() - sent

    assert proc.returncode == 130, stdout + stderr
    assert took < 2 * execution.TERMINATE_GRACE + 10  # terminate, grace, kill: not the 600 s sleep
    assert "doorbell-ci: interrupted; stopping every suite and keeping the results so far" in stdout
    assert "Traceback" not in stderr
    assert stderr.count("doorbell-ci: already stopping; writing the results so far") == (2 if repeated else 0)
    assert stdout.rstrip().splitlines()[-1] == "3 passed, 1 failed, 0 skipped; 1 suite error (integration)"
    document = report(project / "test-results")  # valid JSON, written before exiting
    assert document["run"]["exit_code"] == 130
    assert suite_of(document, "unit")["status"] == "passed"
    integration = suite_of(document, "integration")
    assert integration["reason"] == "interrupted (Ctrl-C or SIGTERM)"
    assert outcomes(integration) == {"test_finishes": "passed", "test_sleeps_with_a_child": "error"}
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert wait_for_survivors_to_go(marker) == []


@pytest.mark.parametrize("stage", ["collect_coverage", "write_all"])
def test_an_interrupt_after_the_suites_ended_still_writes_every_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], stage: str) -> None:
    """SIGTERM while the finished run is being collected or written: every result is saved.

    Before the exit code is decided (collecting, coverage, analysis) the run ends with 130 and a
    notice; once the reports are being written it keeps the exit code report.json states, since
    every result is in. In process, so that the signal lands in a chosen stage: the stage is
    wrapped to send a real SIGTERM to this process before doing its real work, with the CLI's
    real handlers installed.
    """
    from doorbell_ci import cli, pipeline, reports

    for name in [name for name in os.environ if name.startswith(("DOORBELL_", "PYTEST_", "COV_CORE"))]:
        monkeypatch.delenv(name)  # the outer run's settings are not this run's
    project = make_project(tmp_path / "proj", PASSING_UNIT)
    owner = pipeline if stage == "collect_coverage" else reports
    real_stage = getattr(owner, stage)

    def interrupted_then_real(*args: object, **kwargs: object) -> object:
        os.kill(os.getpid(), signal.SIGTERM)
        return real_stage(*args, **kwargs)

    monkeypatch.setattr(owner, stage, interrupted_then_real)
    handlers = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = cli.main(["run", "--project", str(project), "--suites", "unit", "--workers", "1", "--quiet"])
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    out, err = capfd.readouterr()

    expected = 130 if stage == "collect_coverage" else 0
    assert code == expected, out + err
    assert "already stopping; writing the results so far" in err  # noted, not raised
    assert "Traceback" not in err
    assert out.rstrip().splitlines()[-1] == "2 passed, 0 failed, 0 skipped"
    document = report(project / "test-results")
    assert document["run"]["exit_code"] == expected
    assert outcomes(suite_of(document, "unit")) == {"test_one": "passed", "test_two": "passed"}
    interrupted_notices = [n for n in document["notices"] if "interrupted after the suites had finished" in n]
    assert len(interrupted_notices) == (1 if expected == 130 else 0)
    for name in ("report.html", "summary.md", "junit.xml"):
        assert (project / "test-results" / name).is_file(), name


# --- the smaller pieces of the same faults, without a mount namespace ----------------------------


def test_a_full_disk_under_the_progress_file_does_not_stop_the_tests(tmp_path: Path) -> None:
    """/dev/full answers every write with ENOSPC: the plugin says so once and pytest goes on."""
    tests = tmp_path / "test_p.py"
    tests.write_text("def test_a():\n    pass\n\ndef test_b():\n    pass\n", encoding="utf-8")
    env = {**clean_environment("unused"), "DOORBELL_CI_PROGRESS": "/dev/full"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "doorbell_ci.progress_plugin", "-q",  # noqa: S603
                           "-p", "no:cacheprovider", str(tests)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    assert done.stderr.count("doorbell-ci progress plugin: progress events stopped:") == 1
    assert "No space left on device" in done.stderr


def test_a_log_that_cannot_be_written_never_blocks_the_suite(tmp_path: Path) -> None:
    """The output is drained whatever happens to the log: a blocked pipe would hang the suite."""
    printer_lines: list[str] = []
    command = SuiteCommand(
        argv=[sys.executable, "-c", "for n in range(100_000):\n    print(f'line {n}')\n"], env={}, cwd=tmp_path)
    result = execution.run_command("unit", command, timeout=120, log_path=Path("/dev/full"),
                                   printer=printer_lines.append)
    assert result.exit_code == 0 and not result.timed_out
    assert result.log_problem is not None
    assert "No space left on device (errno 28, ENOSPC)" in result.log_problem
    assert result.output_tail.splitlines()[-1] == "line 99999"
    assert printer_lines[-1] == "line 99999"  # under the console cap: every line shown
    assert result.output_notices() == [f"unit: {result.log_problem}"]


def test_a_report_after_report_json_that_cannot_be_written_is_named_and_the_others_are_written(
        tmp_path: Path) -> None:
    """report.json is the record; a later report failing is exit 4 with that report named, the rest written."""
    marker = f"fault-{uuid.uuid4().hex}"
    project = make_project(tmp_path / "proj", PASSING_UNIT)
    (project / "test-results" / "report.html").mkdir(parents=True)  # something in the way of report.html
    (project / "test-results" / output_folder.MARKER).write_text("")  # left there by an earlier run
    (project / "test-results" / "report.html" / "keep").write_text("occupied", encoding="utf-8")
    done = subprocess.run(cli(project, "--suites", "unit"), capture_output=True, text=True,  # noqa: S603
                          env=clean_environment(marker), timeout=120)

    assert done.returncode == 4, done.stdout + done.stderr
    line = error_line(done.stderr)
    assert f"could not write the html report in {project / 'test-results'}: Is a directory (errno 21, EISDIR)" in line
    assert "report.json and the other reports were written" in line
    output = project / "test-results"
    assert report(output)["suites"][0]["counts"]["passed"] == 2
    assert (output / "summary.md").is_file() and (output / "junit.xml").is_file()
    assert not [p.name for p in output.iterdir() if p.name.endswith(".tmp")]  # no temp file left behind
    assert done.stdout.rstrip().splitlines()[-1] == "2 passed, 0 failed, 0 skipped"


def test_disk_full_for_the_fallback_too_still_prints_every_result(tmp_path: Path) -> None:
    """On a runner the temp folder is often on the same full disk: the summary is then all there is."""
    marker = f"fault-{uuid.uuid4().hex}"
    project = make_project(tmp_path / "proj", {"tests/unit/test_many.py": MANY_TESTS,
                                               "tests/integration/test_fill.py": FILLS_THE_DISK})
    done, copy, _ = run_in_namespace(tmp_path, project, marker, "8m", temp_inside=True)

    assert done.returncode == 4, done.stdout + done.stderr
    line = error_line(done.stderr)
    assert f"could not write {tmp_path / 'out' / 'report.json'}: No space left on device (errno 28, ENOSPC)" in line
    assert "the fallback folder failed too (could not write " in line
    assert line.endswith("so this run's results are only in the summary printed above")
    assert (copy / "report.json").read_text(encoding="utf-8") == EARLIER_REPORT
    assert not [p for p in (copy / "tmp").rglob("*") if p.name.startswith("doorbell-ci-reports-")]  # removed
    assert "  unit         passed    1500 passed, 0 failed, 0 errors, 0 skipped" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1] == "1501 passed, 0 failed, 0 skipped"
    assert wait_for_survivors_to_go(marker) == []
