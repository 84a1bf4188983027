"""Stage 3: run the planned suites as real processes.

Every suite's process starts in its own session / process group, its output is streamed to
the console and to a log file, its whole process tree is sampled with psutil (CPU time,
peak memory), and at its timeout (or on Ctrl-C / SIGTERM) the whole tree is killed:
every process psutil can see below it, every process ever seen in it (children that were
re-parented after their parent died), and on POSIX the process group.

Suites run side by side while the core budget allows (``Plan.cores``): a suite spread over
N xdist workers costs N cores, a serial one costs one, and an exclusive suite (performance,
load) waits for the machine to be empty and keeps it to itself.
"""

from __future__ import annotations

import json
import os
import signal
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

from doorbell_ci.environments.base import Environment, SuiteCommand
from doorbell_ci.plan import Plan, PlannedSuite
from doorbell_ci.redaction import redacted_pieces, without_github_tokens
from doorbell_ci.results import ResourceUsage

SAMPLE_INTERVAL = 0.25  # seconds between process-tree samples at the start of a suite,
SAMPLE_INTERVAL_MAX = 1.0  # growing to this: each sample walks /proc, which adds up over a long suite
TERMINATE_GRACE = 3.0  # seconds between SIGTERM and SIGKILL
TAIL_LINES = 60
MAX_LINE_BYTES = 64 * 1024  # a longer line (a progress bar without newlines) is passed on in pieces
PROGRESS_INTERVAL = 5.0  # seconds between live "[suite] N/M done" lines

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


class ProcessTree:
    """A started process and every descendant it ever had, with their resource use."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.root = psutil.Process(popen.pid)
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

    def sample(self) -> None:
        rss = 0
        with self._lock:
            for proc in self._members():
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
) -> Execution:
    """Run one command to completion, its timeout, or ``cancel``; never leaves a process behind.

    ``on_tick`` is called every ``PROGRESS_INTERVAL`` seconds while the command runs (live progress).
    """
    cancel = cancel or threading.Event()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    execution = Execution(suite=suite, argv=command.argv, started_at=started, log_path=log_path)
    # the GitHub token stays with doorbell-ci: tests do not need write access to the repository
    env = {**without_github_tokens(os.environ), **command.env} if command.inherit_env else dict(command.env)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    begin = time.monotonic()
    with open(log_path, "w", encoding="utf-8", errors="replace") as log:
        try:
            popen = subprocess.Popen(  # noqa: S603 - argv list, no shell
                command.argv,
                cwd=command.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                **_popen_options(),  # type: ignore[arg-type]
            )
        except OSError as error:
            execution.start_error = f"could not start {command.argv[0]!r}: {error.strerror or error}"
            log.write(execution.start_error + "\n")
            execution.output_tail = execution.start_error
            return execution
        try:
            tree = ProcessTree(popen)
        except psutil.NoSuchProcess:  # exited before we could look at it
            tree = None
        reader = threading.Thread(
            target=_pump, args=(popen, log, tail, printer), name=f"output-{suite}", daemon=True
        )
        reader.start()
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
                try:  # returns as soon as the suite exits, not at the end of the interval
                    popen.wait(timeout=interval)
                except subprocess.TimeoutExpired:
                    pass
                interval = min(interval * 1.25, SAMPLE_INTERVAL_MAX)
        finally:
            if tree is not None:
                if popen.poll() is None or tree.alive():
                    execution.leftover_processes = tree.kill()
                execution.resources = tree.usage(time.monotonic() - begin)
            else:
                popen.kill() if popen.poll() is None else None
            popen.wait()
            reader.join(timeout=10)
        execution.duration = round(time.monotonic() - begin, 3)
        execution.resources.wall_seconds = execution.duration
        execution.exit_code = popen.returncode
        if execution.timed_out:
            note = f"doorbell-ci: killed the suite's process tree at its timeout of {timeout:g}s"
            log.write(note + "\n")
            tail.append(note)
    execution.output_tail = "\n".join(tail)
    return execution


def _pump(popen: subprocess.Popen[bytes], log: object, tail: deque[str], printer: Printer | None) -> None:
    """Copy the process's output, line by line, to the log, the tail and the console."""
    assert popen.stdout is not None
    for raw in redacted_pieces(lambda: popen.stdout.readline(MAX_LINE_BYTES)):  # type: ignore[union-attr]
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        log.write(line + "\n")  # type: ignore[attr-defined]
        tail.append(line)
        if printer is not None:
            printer(line)
    popen.stdout.close()


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
            )
            self.environment.collect(suite)
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
