"""Stage 3: run the planned suites as real processes.

Every suite's process starts in its own session / process group, its output is streamed to
the console and to a log file, its whole process tree is sampled with psutil (CPU time,
peak memory), and at its timeout (or on Ctrl-C / SIGTERM) the whole tree is killed:
every process psutil can see below it, every process ever seen in it (children that were
re-parented after their parent died), and on POSIX the process group.

On POSIX every suite runs under a small watchdog (``environments/reaper.py``): on Linux a
child subreaper, so that whatever the suite detached (double fork, ``setsid``, a renamed
daemon) stays below it and is ended, named and reaped when the suite ends, pass or fail; and
everywhere the holder of a socket to this process, so that a SIGKILLed doorbell-ci still ends
its suites. The doorbell-ci program itself is a subreaper too (``contain_this_process``), the
second line for a suite that killed its own watchdog.

Suites run side by side while the core budget allows (``Plan.cores``): a suite spread over
N xdist workers costs N cores, a serial one costs one, and an exclusive suite (performance,
load) waits for the machine to be empty and keeps it to itself.
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

from doorbell_ci.environments import reaper
from doorbell_ci.environments.base import Environment, SuiteCommand, leftovers_report_name
from doorbell_ci.plan import Plan, PlannedSuite
from doorbell_ci.redaction import neutralise_commands, redacted_pieces, without_github_tokens
from doorbell_ci.results import ResourceUsage

SAMPLE_INTERVAL = 0.25  # seconds between process-tree samples at the start of a suite,
SAMPLE_INTERVAL_MAX = 1.0  # growing to this: each sample walks /proc, which adds up over a long suite
TERMINATE_GRACE = 3.0  # seconds between SIGTERM and SIGKILL
TAIL_LINES = 60
MAX_LINE_BYTES = 64 * 1024  # a longer line (a progress bar without newlines) is passed on in pieces
PROGRESS_INTERVAL = 5.0  # seconds between live "[suite] N/M done" lines
CONSOLE_MAX_CHARS = 2 * 1024 * 1024  # of one suite's output on the console; then one "truncated" line
LOG_HEAD_CHARS = 16 * 1024 * 1024  # a suite's log keeps the first 16 MiB of its output ...
LOG_TAIL_CHARS = 16 * 1024 * 1024  # ... and the last 16 MiB; what lies between is dropped with a note
_TAIL_BLOCK_CHARS = 256 * 1024  # the kept tail is held in blocks, so a million short lines cost their size
REPORT_WAIT = 5.0  # seconds to wait for the watchdog's report once it ended
MAX_NAMED = 5  # leftover processes named in a notice; the count is always exact

Printer = Callable[[str], None]


@dataclass
class Execution:
    """What happened when one suite's command ran (raw facts; results come later)."""

    suite: str
    argv: list[str]
    started_at: str
    exit_code: int | None = None  # None: never started or killed without a code
    duration: float = 0.0
    timed_out: bool = False
    interrupted: bool = False
    start_error: str | None = None  # the command could not be started at all
    resources: ResourceUsage = field(default_factory=ResourceUsage)
    output_tail: str = ""
    log_path: Path | None = None
    leftover_processes: int = 0  # processes still alive after the kill (should be 0)
    output_chars: int = 0  # everything the suite printed (characters; bytes for ASCII output)
    log_dropped_chars: int = 0  # left out of the log between its head and its tail
    console_truncated: bool = False  # the console stopped showing this suite's output
    log_problem: str | None = None  # the log could not be written (disk full, read-only folder)
    leftovers: list[dict] = field(default_factory=list)  # processes the suite left running, ended by the watchdog
    leftover_count: int = 0

    def output_notices(self) -> list[str]:
        """Degradations of this suite's output worth a line in every report."""
        notices = []
        log = f"logs/{self.log_path.name}" if self.log_path is not None else "its log"
        if self.log_dropped_chars:
            notices.append(
                f"{self.suite}: printed {_size(self.output_chars)} of output; {log} keeps the first "
                f"{_size(LOG_HEAD_CHARS)} and the last {_size(LOG_TAIL_CHARS)} "
                f"({_size(self.log_dropped_chars)} dropped in between)")
        elif self.console_truncated:
            notices.append(f"{self.suite}: printed {_size(self.output_chars)} of output; the console showed "
                           f"the first {_size(CONSOLE_MAX_CHARS)}, {log} has all of it")
        if self.log_problem:
            notices.append(f"{self.suite}: {self.log_problem}")
        return notices


def _size(chars: int) -> str:
    if chars >= 1024 * 1024:
        return f"{chars / (1024 * 1024):.1f} MiB"
    return f"{chars / 1024:.1f} KiB" if chars >= 1024 else f"{chars} bytes"


class ProcessTree:
    """A started process and every descendant it ever had, with their resource use."""

    def __init__(self, popen: subprocess.Popen[bytes], watchdog: bool = False) -> None:
        self.popen = popen
        self.root = psutil.Process(popen.pid)
        self._measure_root = not watchdog  # the watchdog's own CPU and memory are not the suite's
        self._known: dict[tuple[int, float], psutil.Process] = {}
        self._cpu: dict[tuple[int, float], float] = {}
        self.peak_rss = 0
        self._lock = threading.Lock()
        self.sample()

    def _members(self) -> list[psutil.Process]:
        members = [self.root]
        try:
            members += self.root.children(recursive=True)
        except psutil.Error:
            pass
        return members

    def _sampled_members(self) -> list[psutil.Process]:
        """The members, found through the kernel's per-thread child lists where it keeps them.

        ``psutil.Process.children(recursive=True)`` reads the parent of every process on the
        machine (2 ms a sample with 100 processes here, most of a sample's cost, several times a
        second while a suite runs); following ``/proc/<pid>/task/<tid>/children`` from the root
        reads a few small files (0.07 ms). The same parent links either way; elsewhere, psutil.
        """
        pids = _descendant_pids(self.root.pid)
        if pids is None:
            return self._members()
        members = [self.root]
        for pid in pids:
            try:
                members.append(psutil.Process(pid))
            except psutil.Error:  # exited since it was listed
                continue
        return members

    def sample(self) -> None:
        rss = 0
        with self._lock:
            for proc in self._sampled_members():
                if proc is self.root and not self._measure_root:
                    continue
                try:
                    with proc.oneshot():
                        key = (proc.pid, proc.create_time())
                        times = proc.cpu_times()
                        rss += proc.memory_info().rss
                except psutil.Error:
                    continue
                self._known.setdefault(key, proc)
                self._cpu[key] = times.user + times.system
            self.peak_rss = max(self.peak_rss, rss)

    def usage(self, wall: float) -> ResourceUsage:
        with self._lock:
            return ResourceUsage(
                wall_seconds=round(wall, 3),
                cpu_seconds=round(sum(self._cpu.values()), 3),
                peak_rss_bytes=self.peak_rss,
                processes=len(self._known),
            )

    def alive(self) -> list[psutil.Process]:
        with self._lock:
            candidates = {(p.pid, _create_time(p)): p for p in self._members()}
            for key, proc in self._known.items():
                candidates.setdefault(key, proc)
        # is_running() also checks the create time, so a recycled pid is never touched.
        return [p for p in candidates.values() if _is_running(p)]

    def kill(self) -> int:
        """Terminate, then kill, the whole tree. Returns how many processes survived (0 is right)."""
        self.sample()  # catch children born since the last sample
        procs = self.alive()
        for proc in procs:
            _signal(proc, terminate=True)
        _, still_alive = psutil.wait_procs(procs, timeout=TERMINATE_GRACE)
        if os.name == "posix":
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for proc in still_alive + self.alive():
            _signal(proc, terminate=False)
        _, survivors = psutil.wait_procs(still_alive + self.alive(), timeout=TERMINATE_GRACE)
        return len(survivors)


def _descendant_pids(root: int) -> list[int] | None:
    """Every pid under ``root`` from ``/proc/<pid>/task/<tid>/children`` (Linux 3.5+ with
    CONFIG_PROC_CHILDREN); None where the root's own list cannot be read (another system, that
    kernel option off, the root gone), for the caller to ask psutil instead."""
    try:
        tasks = os.listdir(f"/proc/{root}/task")
        lists = []
        for task in tasks:
            with open(f"/proc/{root}/task/{task}/children", "rb") as handle:
                lists.append(handle.read())
    except OSError:
        return None
    found: list[int] = []
    pending = [int(pid) for data in lists for pid in data.split()]
    seen = {root}
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        found.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:  # exited since it was listed
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children", "rb") as handle:
                    pending += [int(child) for child in handle.read().split()]
            except OSError:  # that thread ended: a process it started is adopted by another, seen next sample
                continue
    return found


def _create_time(proc: psutil.Process) -> float:
    try:
        return proc.create_time()
    except psutil.Error:
        return 0.0


def _is_running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal(proc: psutil.Process, terminate: bool) -> None:
    try:
        proc.terminate() if terminate else proc.kill()
    except psutil.Error:
        pass


_own_children: set[int] = set()  # processes run_command started and has not reaped yet
_own_lock = threading.Lock()
_subreaper = False  # this process adopts orphans (the doorbell-ci program on Linux, see contain_this_process)
_leftover_notices: list[str] = []  # one per command that left processes behind, for the run's notices


def contain_this_process() -> dict[str, bool]:
    """Harden the doorbell-ci program itself; called once by its entry point, never by a test calling main().

    Non-dumpable (Linux): this process's /proc/<pid>/environ, mem, maps... become root-only and ptrace by
    the same user is refused, so a test cannot read the token from its ancestor, which holds it
    in its environment. A subreaper (Linux): the orphans of a suite whose own watchdog was killed come
    here instead of to init, and ``end_adopted_orphans`` ends them. Returns what took effect.
    """
    global _subreaper
    facts = {"non_dumpable": reaper.make_non_dumpable(), "subreaper": reaper.make_subreaper()}
    _subreaper = facts["subreaper"]
    return facts


def end_adopted_orphans() -> list[dict]:
    """Kill and reap every child of this process that ``run_command`` did not start; returns them.

    Only a subreaper has such children: processes of a suite whose watchdog died (a test can kill
    its parent). They are killed at once: their suite is over or has lost its watchdog.
    """
    if not _subreaper:
        return []
    me = psutil.Process()
    ended: dict[int, dict] = {}
    for _ in range(reaper.KILL_PASSES):
        with _own_lock:
            own = set(_own_children)
        try:
            strays = [child for child in me.children() if child.pid not in own]
        except psutil.Error:
            break
        if not strays:
            break
        for stray in strays:
            members = [stray]
            try:
                members += stray.children(recursive=True)
            except psutil.Error:
                pass
            for proc in members:
                if proc.pid not in ended:
                    ended[proc.pid] = reaper.describe(proc.pid)
                _signal(proc, terminate=False)
        psutil.wait_procs(strays, timeout=1.0)  # waits on our own children: this reaps them
    return list(ended.values())


def leftover_notices() -> list[str]:
    """The notices of every command that left processes running (suites, reruns, paired runs), once each."""
    with _own_lock:
        notices = list(_leftover_notices)
        _leftover_notices.clear()
    return notices


def leftover_notice(what: str, leftovers: list[dict], count: int, stopped: bool) -> str:
    """``unit: 2 processes it started were still running after it ended ...: sleep (pid 12: sleep 900), ...``."""
    named = []
    for entry in leftovers[:MAX_NAMED]:
        command = str(entry.get("cmdline") or "")[:80]
        named.append(f"{entry.get('name', '?')} (pid {entry.get('pid', '?')}" + (f": {command})" if command else ")"))
    more = f" and {count - len(named)} more" if count > len(named) else ""
    plural, were = ("process", "was") if count == 1 else ("processes", "were")
    when = (f"had left its process group and {were} killed with it" if stopped
            else f"{were} still running after it ended and {were} killed")
    return f"{what}: {count} {plural} it started {when}: {', '.join(named)}{more}"


def _watched(argv: list[str]) -> tuple[list[str], socket.socket | None, socket.socket | None]:
    """``argv`` under the watchdog (POSIX), with doorbell-ci's end of its socket and the watchdog's end."""
    if os.name != "posix" or not sys.executable:
        return argv, None, None  # Windows: the process group (CREATE_NEW_PROCESS_GROUP) and the tree sampler
    ours, theirs = socket.socketpair()
    return reaper.watched(sys.executable, str(theirs.fileno()), TERMINATE_GRACE, argv), ours, theirs


def _watchdog_report(control: socket.socket) -> dict | None:
    """What the watchdog sent before it ended; None when it was killed before it could say."""
    control.settimeout(REPORT_WAIT)
    chunks = []
    try:
        while chunk := control.recv(65536):
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        control.close()
    try:
        report = json.loads(b"".join(chunks))
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def container_leftovers(output_dir: Path, execution: Execution, printer: Printer | None = None) -> None:
    """The report of the watchdog that ran inside the suite's container (Docker), once collected.

    The file lies in the output folder, which the suite can write too; the watchdog writes it after
    every process of the suite has ended, so a suite cannot hide its leftovers this way, only add a
    false line (and the container's end kills whatever is in it, named or not).
    """
    path = output_dir / leftovers_report_name(execution.suite)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        path.unlink()
    except (OSError, ValueError):
        return
    if not isinstance(report, dict) or not isinstance(report.get("leftover_count"), int):
        return
    leftovers = _leftover_entries(report.get("leftovers"))
    count = max(report["leftover_count"], len(leftovers))
    if count:
        stopped = execution.timed_out or execution.interrupted or report.get("stopped_by") is not None
        _record_leftovers(execution, leftovers, count, stopped, None, printer)


def _leftover_entries(raw: object) -> list[dict]:
    entries = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict):
            entries.append({"pid": item.get("pid") if isinstance(item.get("pid"), int) else "?",
                            "name": str(item.get("name", "?"))[:64], "cmdline": str(item.get("cmdline", ""))[:200]})
    return entries


def _popen_options() -> dict[str, object]:
    """Start the suite in its own process group so it can be signalled as a whole."""
    if os.name == "nt":  # the constant exists only on Windows; 0x200 is its documented value
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x00000200)}
    return {"start_new_session": True}


def run_command(
    suite: str,
    command: SuiteCommand,
    timeout: float,
    log_path: Path,
    printer: Printer | None = None,
    cancel: threading.Event | None = None,
    on_tick: Callable[[], None] | None = None,
    on_start: Callable[[], None] | None = None,
) -> Execution:
    """Run one command to completion, its timeout, or ``cancel``; never leaves a process behind.

    ``on_tick`` is called every ``PROGRESS_INTERVAL`` seconds while the command runs (live progress),
    ``on_start`` once its process exists.
    """
    cancel = cancel or threading.Event()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    execution = Execution(suite=suite, argv=command.argv, started_at=started, log_path=log_path)
    # the GitHub token stays with doorbell-ci: tests do not need write access to the repository
    env = {**without_github_tokens(os.environ), **command.env} if command.inherit_env else dict(command.env)
    output = OutputSink(log_path, printer)  # a log that cannot be written is recorded, never raised
    argv, control, watchdog_end = _watched(command.argv)
    report: dict | None = None
    adopted: list[dict] = []
    begin = time.monotonic()
    try:
        try:
            popen = subprocess.Popen(  # noqa: S603 - argv list, no shell
                argv,
                cwd=command.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(watchdog_end.fileno(),) if watchdog_end is not None else (),
                **_popen_options(),  # type: ignore[arg-type]
            )
        except OSError as error:
            execution.start_error = f"could not start {command.argv[0]!r}: {error.strerror or error}"
            output.note(execution.start_error)
            execution.output_tail = execution.start_error
            if control is not None:
                control.close()
            return execution
        finally:
            if watchdog_end is not None:
                watchdog_end.close()  # only the watchdog holds its end: it reads end-of-file when we die
        with _own_lock:
            _own_children.add(popen.pid)
        if on_start is not None:
            on_start()
        try:
            tree = ProcessTree(popen, watchdog=control is not None)
        except psutil.NoSuchProcess:  # exited before we could look at it
            tree = None
        reader = threading.Thread(
            target=_pump, args=(popen, output), name=f"output-{suite}", daemon=True
        )
        reader.start()
        exited = _exit_descriptor(popen)
        deadline = begin + timeout
        next_tick = begin + PROGRESS_INTERVAL
        interval = SAMPLE_INTERVAL
        try:
            while popen.poll() is None:
                if cancel.is_set():
                    execution.interrupted = True
                    break
                if time.monotonic() >= deadline:
                    execution.timed_out = True
                    break
                if tree is not None:
                    tree.sample()
                if on_tick is not None and time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + PROGRESS_INTERVAL
                    on_tick()
                _wait_for_exit(popen, exited, interval)
                interval = min(interval * 1.25, SAMPLE_INTERVAL_MAX)
        finally:
            if exited is not None:
                os.close(exited)
            if control is not None and popen.poll() is None:  # the watchdog ends its suite, then reports
                popen.send_signal(signal.SIGTERM)
                try:
                    popen.wait(timeout=TERMINATE_GRACE + 2.0)
                except subprocess.TimeoutExpired:
                    pass  # a stuck watchdog: the tree kill below ends it with the rest
            if control is not None and popen.poll() is not None:
                report = _watchdog_report(control)
                # no report: a test killed its watchdog (it is their parent); what it held came to us
                adopted = end_adopted_orphans() if report is None else []
            if tree is not None:
                if popen.poll() is None or tree.alive():
                    execution.leftover_processes = tree.kill()
                execution.resources = tree.usage(time.monotonic() - begin)
            else:
                popen.kill() if popen.poll() is None else None
            popen.wait()
            with _own_lock:
                _own_children.discard(popen.pid)
            reader.join(timeout=10)
        execution.duration = round(time.monotonic() - begin, 3)
        execution.resources.wall_seconds = execution.duration
        execution.exit_code = popen.returncode
        if control is not None:
            _apply_watchdog_report(execution, report, adopted, output, printer)
        if execution.timed_out:
            output.note(f"doorbell-ci: killed the suite's process tree at its timeout of {timeout:g}s")
    finally:
        output.close()
        execution.output_chars = output.chars
        execution.log_dropped_chars = output.dropped_chars
        execution.console_truncated = output.console_truncated
        execution.log_problem = output.log_problem
    execution.output_tail = "\n".join(output.tail)
    return execution


def _exit_descriptor(popen: subprocess.Popen[bytes]) -> int | None:
    """A descriptor that becomes readable the moment the process exits (Linux 5.3+ pidfd), else None."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        return pidfd_open(popen.pid)
    except OSError:  # an older kernel, a seccomp filter, qemu-user: Popen.wait's polling below
        return None


def _wait_for_exit(popen: subprocess.Popen[bytes], exited: int | None, timeout: float) -> None:
    """Return when the process has exited, or after ``timeout`` seconds.

    ``Popen.wait(timeout=...)`` polls, sleeping up to 50 ms between looks, so the end of every suite
    was noticed 25 ms late on average; with a pidfd the wait ends when the process does.
    """
    if exited is not None:
        try:
            select.select([exited], [], [], timeout)
            return
        except (OSError, ValueError):
            pass
    try:
        popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass


def _apply_watchdog_report(execution: Execution, report: dict | None, adopted: list[dict], output: OutputSink,
                           printer: Printer | None) -> None:
    """The suite's own exit status and the processes it left, from its watchdog (or, without one, adopted)."""
    stopped = execution.timed_out or execution.interrupted
    if report is None:
        leftovers, count = adopted, len(adopted)
        lost = "its watchdog was killed before it could report; doorbell-ci ended what it had held"
        output.note(f"doorbell-ci: {execution.suite}: {lost}")
        if printer is not None:
            printer(f"doorbell-ci: {execution.suite}: {lost}")
    else:
        if isinstance(report.get("start_error"), str):
            execution.start_error = report["start_error"]
            execution.exit_code = None
            output.note(execution.start_error)
        code = report.get("exit_code")
        if isinstance(code, int) and not isinstance(code, bool):
            execution.exit_code = code
        leftovers = _leftover_entries(report.get("leftovers"))
        count = report.get("leftover_count") if isinstance(report.get("leftover_count"), int) else len(leftovers)
        stopped = stopped or report.get("stopped_by") is not None
    if count:
        _record_leftovers(execution, leftovers, count, stopped, output, printer)


def _record_leftovers(execution: Execution, leftovers: list[dict], count: int, stopped: bool,
                      output: OutputSink | None, printer: Printer | None) -> None:
    execution.leftovers, execution.leftover_count = execution.leftovers + leftovers, execution.leftover_count + count
    notice = leftover_notice(execution.suite, leftovers, count, stopped)
    with _own_lock:
        _leftover_notices.append(notice)
    if output is not None:
        output.note(f"doorbell-ci: {notice}")
    if printer is not None:
        printer(f"doorbell-ci: {notice}")


def _pump(popen: subprocess.Popen[bytes], output: OutputSink) -> None:
    """Copy the process's output, line by line, to the log, the tail and the console."""
    assert popen.stdout is not None
    for raw in redacted_pieces(lambda: popen.stdout.readline(MAX_LINE_BYTES)):  # type: ignore[union-attr]
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        output.line(line)
    popen.stdout.close()


class OutputSink:
    """Where one suite's output goes: the log (head and tail), the console (capped) and the short tail.

    A suite may print a gigabyte (a debug loop, a test run with ``-s``): neither the disk, the
    console nor the orchestrator's memory may grow with it. The first ``LOG_HEAD_CHARS`` go to
    the log as they come; after that the last ``LOG_TAIL_CHARS`` are held in memory in blocks
    and written at the end, after one line saying how much was dropped between them. Output
    under both caps together is logged whole. The console shows ``CONSOLE_MAX_CHARS`` of each
    suite, then one line naming the log. A log that cannot be written (read-only folder, full
    disk) is recorded in ``log_problem``; the output is still drained, so the suite never blocks
    on a full pipe.
    """

    def __init__(self, log_path: Path, printer: Printer | None) -> None:
        self.log_path = log_path
        self.printer = printer
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.chars = 0
        self.dropped_chars = 0
        self.console_truncated = False
        self.log_problem: str | None = None
        self._log_chars = 0  # written to the head of the log so far
        self._kept: deque[str] = deque()  # blocks of the tail beyond the head
        self._kept_chars = 0
        self._block: list[str] = []
        self._block_chars = 0
        self._console_chars = 0
        self._closed = False
        self._lock = threading.Lock()  # close() may race a reader still draining a leftover's pipe
        self._log = None
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(log_path, "w", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed in close()
        except OSError as error:
            self._fail(error)

    def line(self, line: str) -> None:
        with self._lock:
            if not self._closed:
                self._line(line)

    def _line(self, line: str) -> None:
        size = len(line) + 1
        self.chars += size
        self.tail.append(line)
        if self._log_chars + size <= LOG_HEAD_CHARS and not self._kept_chars:
            self._log_chars += size
            self._write(line + "\n")
        else:
            self._keep(line + "\n", size)
        if self.printer is not None and not self.console_truncated:
            self._console_chars += size
            if self._console_chars <= CONSOLE_MAX_CHARS:
                self.printer(line)
            else:
                self.console_truncated = True
                self.printer(f"... output truncated on the console after {_size(CONSOLE_MAX_CHARS)}; "
                             f"the log {self.log_path} keeps its head and tail")

    def note(self, text: str) -> None:
        """A line of doorbell-ci's own (a kill at the timeout): in the tail and the log, never dropped."""
        with self._lock:
            self.tail.append(text)
            if self._kept_chars:
                self._keep(text + "\n", len(text) + 1)
            else:
                self._write(text + "\n")

    def _keep(self, text: str, size: int) -> None:
        self._block.append(text)
        self._block_chars += size
        self._kept_chars += size
        if self._block_chars >= _TAIL_BLOCK_CHARS:
            self._kept.append("".join(self._block))
            self._block, self._block_chars = [], 0
        while self._kept and self._kept_chars - len(self._kept[0]) >= LOG_TAIL_CHARS:
            dropped = self._kept.popleft()
            self._kept_chars -= len(dropped)
            self.dropped_chars += len(dropped)

    def close(self) -> None:
        """Write the kept tail (after a note on what was dropped) and close the log."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._close()

    def _close(self) -> None:
        tail = "".join([*self._kept, *self._block])
        self._kept.clear()
        self._block = []
        if len(tail) > LOG_TAIL_CHARS:  # cut to the cap, at a line start
            cut = len(tail) - LOG_TAIL_CHARS
            newline = tail.find("\n", cut - 1)
            cut = newline + 1 if newline >= 0 else cut
            self.dropped_chars += cut
            tail = tail[cut:]
        if self.dropped_chars:
            self._write(f"[doorbell-ci: {_size(self.dropped_chars)} of output dropped here; this log keeps the "
                        f"first {_size(LOG_HEAD_CHARS)} and the last {_size(LOG_TAIL_CHARS)}]\n")
        self._write(tail)
        if self._log is not None:
            try:
                self._log.close()
            except OSError as error:
                self._fail(error)
            self._log = None

    def _write(self, text: str) -> None:
        if self._log is None or not text:
            return
        try:
            self._log.write(text)
        except OSError as error:
            self._fail(error)

    def _fail(self, error: OSError) -> None:
        """Stop writing the log, say why once; the suite's output still reaches the console and the tail."""
        if self.log_problem is None:
            code = f"errno {error.errno}, {errno.errorcode.get(error.errno, '?')}" if error.errno else "no errno"
            self.log_problem = (f"could not write its log {self.log_path}: {error.strerror or error} ({code}); "
                                "its output still reached the console and the report's output tail")
        if self._log is not None:
            try:
                self._log.close()
            except OSError:
                pass
            self._log = None


class SuiteRunner:
    """Runs a Plan's suites within the core budget, honouring fail-fast and interrupts."""

    def __init__(self, plan: Plan, environment: Environment, console: Console) -> None:
        self.plan = plan
        self.environment = environment
        self.console = console
        self.cancel = threading.Event()
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self.executions: dict[str, Execution] = {}
        self.threads: dict[str, threading.Thread] = {}
        self.stopped_by: str | None = None  # the suite that triggered fail-fast
        self.first_started = threading.Event()  # a suite's process exists (or could not be started)

    def stop(self) -> None:
        """Interrupt: kill every running suite's process tree and wait for their threads."""
        self.cancel.set()
        for thread in list(self.threads.values()):
            thread.join()

    def run(self, is_failure: Callable[[PlannedSuite, Execution], bool]) -> dict[str, Execution]:
        pending = list(self.plan.suites)
        running: dict[str, tuple[PlannedSuite, threading.Thread]] = {}
        used = 0
        with self._done:
            while pending or running:
                if self.cancel.is_set() or self.stopped_by:
                    pending.clear()
                started = False
                for suite in list(pending):
                    cost = self._cost(suite)
                    busy_exclusive = any(other.config.exclusive for other, _ in running.values())
                    fits = used + cost <= self.plan.cores and len(running) < self.plan.max_parallel_suites
                    if busy_exclusive or not (fits or not running):
                        if suite.config.exclusive:
                            break  # keep the order: an exclusive suite waits for an empty machine
                        continue
                    pending.remove(suite)
                    used += cost
                    thread = threading.Thread(
                        target=self._run_one, args=(suite, cost, is_failure), name=f"suite-{suite.name}"
                    )
                    running[suite.name] = (suite, thread)
                    self.threads[suite.name] = thread
                    thread.start()
                    started = True
                    if suite.config.exclusive:
                        break
                if not started:
                    self._done.wait(timeout=0.5)
                for name in [n for n in running if n in self.executions]:
                    finished, thread = running.pop(name)
                    thread.join()
                    used -= self._cost(finished)
        return self.executions

    def _cost(self, suite: PlannedSuite) -> int:
        """Cores of the budget a suite holds while it runs: an exclusive suite holds all of them."""
        return self.plan.cores if suite.config.exclusive else min(suite.cost, self.plan.cores)

    def _run_one(self, suite: PlannedSuite, cost: int,
                 is_failure: Callable[[PlannedSuite, Execution], bool]) -> None:
        self.console.suite_started(suite)
        progress = ProgressTail(self.plan.output_dir / suite.progress_name)
        try:
            command = self.environment.command(suite)
            execution = run_command(
                suite.name,
                command,
                suite.timeout,
                self.plan.output_dir / suite.log_name,
                printer=self.console.line_printer(suite.name),
                cancel=self.cancel,
                on_tick=None if self.console.quiet else lambda: self.console.progress(suite.name, progress),
                on_start=self.first_started.set,
            )
            self.environment.collect(suite)
            container_leftovers(self.plan.output_dir, execution, self.console.line_printer(suite.name))
        except Exception as error:  # noqa: BLE001 - recorded as this suite's error, others go on
            execution = Execution(
                suite=suite.name,
                argv=[],
                started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                start_error=f"{type(error).__name__}: {error}",
                output_tail=f"{type(error).__name__}: {error}",
            )
        with self._done:
            self.executions[suite.name] = execution
            if self.plan.fail_fast and self.stopped_by is None and is_failure(suite, execution):
                self.stopped_by = suite.name
            self._done.notify_all()
        self.console.suite_finished(suite, execution)


# The progress plugin's own spelling (compact JSON, "event" first): lines that start so are counted or
# skipped without json.loads, which was most of the parent's CPU while a suite of 64,000 tests ran
# (three lines a test). A "report" line holding the failed/error outcome as written is parsed; a
# test name cannot fake that, JSON escapes its quotes. Any other spelling is parsed as before.
_FINISH, _START, _REPORT = b'{"event":"finish",', b'{"event":"start",', b'{"event":"report",'
_FAILED, _ERROR = b'"outcome":"failed"', b'"outcome":"error"'


class ProgressTail:
    """Live counts of one suite, read from its progress file (``progress_plugin``) as it grows.

    Each update reads only the bytes appended since the last one, so a suite of 100,000 tests
    costs a few kilobytes of reading every few seconds, never a re-read of the whole file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.collected: int | None = None
        self.done = 0
        self._failed: set[str] = set()
        self._offset = 0
        self._partial = b""
        self.last_shown: str | None = None  # the console prints a line only when the counts change

    @property
    def failed(self) -> int:
        return len(self._failed)

    def update(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            return  # not written yet (pytest still starting) or not a pytest suite
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # an event still being written
        for line in lines:
            if line.startswith(_FINISH):  # most lines: counted without parsing them (below)
                self.done += 1
                continue
            if line.startswith(_START) or (line.startswith(_REPORT) and _FAILED not in line and _ERROR not in line):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            kind = event.get("event")
            if kind == "collected":
                self.collected = int(event.get("count") or 0)
            elif kind == "finish":
                self.done += 1
            elif kind == "report" and event.get("outcome") in ("failed", "error"):
                self._failed.add(str(event.get("nodeid")))

    def summary(self) -> str | None:
        """``120/500 done, 2 failed``, or None while nothing is known yet."""
        if self.collected is None and not self.done:
            return None
        total = f"/{self.collected}" if self.collected is not None else ""
        return f"{self.done}{total} done, {self.failed} failed"


class Console:
    """Live output: each suite's lines (prefixed when suites overlap), or only results with quiet."""

    def __init__(self, quiet: bool = False, stream=None) -> None:  # noqa: ANN001
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._active = 0

    def write(self, text: str) -> None:
        text = neutralise_commands(text)  # a test's line must not be a workflow command in the job log
        with self._lock:
            try:
                self.stream.write(text + "\n")
                self.stream.flush()
            except UnicodeEncodeError:
                encoding = getattr(self.stream, "encoding", None) or "ascii"
                self.stream.write(text.encode(encoding, "replace").decode(encoding) + "\n")

    def line_printer(self, suite: str) -> Printer | None:
        if self.quiet:
            return None

        def printer(line: str) -> None:
            self.write(f"[{suite}] {line}")

        return printer

    def progress(self, suite: str, tail: ProgressTail) -> None:
        """Print the suite's live counts (called every ``PROGRESS_INTERVAL`` seconds while it runs)."""
        if self.quiet:
            return
        tail.update()
        summary = tail.summary()
        if summary is not None and summary != tail.last_shown:
            tail.last_shown = summary
            self.write(f"[{suite}] {summary}")

    def suite_started(self, suite: PlannedSuite) -> None:
        with self._lock:
            self._active += 1
        how = f"{suite.workers} workers" if suite.workers > 1 else "1 process"
        self.write(f"==> {suite.name}: starting ({how}, timeout {suite.timeout:g}s)")

    def suite_finished(self, suite: PlannedSuite, execution: Execution) -> None:
        with self._lock:
            self._active -= 1
        if execution.timed_out:
            state = "TIMED OUT"
        elif execution.start_error:
            state = "could not start"
        else:
            state = f"exit {execution.exit_code}"
        self.write(f"<== {suite.name}: {state} after {execution.duration:.1f}s")
