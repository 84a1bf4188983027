"""The watchdog every suite runs under: ``reaper.main([CONTROL_FD, GRACE, "--", *ARGV])``.

Why a process of its own between doorbell-ci and the suite:

* **Nothing a suite starts outlives it.** On Linux this process makes itself a *child
  subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``): every process the suite starts that loses
  its parent (a double fork, ``setsid``, a daemon) is re-parented to it instead of to init,
  however it detached, whatever it renamed itself to, whatever process group or session it
  chose. So when the suite's own process ends, everything still alive below this process is
  the suite's leftovers: they are named, sent SIGTERM, given ``GRACE`` seconds, then killed
  with SIGKILL pass after pass (a daemon that forks while it is being killed is adopted and
  caught by the next pass) until nothing is left, and reaped, so no zombie stays.
* **A killed doorbell-ci leaves nothing running.** ``CONTROL_FD`` is one end of a socket pair
  whose other end only the doorbell-ci process holds. When that process dies, even by
  SIGKILL, the kernel closes its end and this process reads end-of-file, and ends the suite
  the same way. ``PR_SET_PDEATHSIG`` is not used for this: it fires when the *thread* that
  forked the child exits, and doorbell-ci starts suites from threads; the socket belongs to
  the process, not to a thread.
* **It holds no secret.** It is started with the suite's environment, from which doorbell-ci
  removed the GitHub token variables, so reading this process's ``/proc`` files (which the
  tests can: it is their parent, of their user) gives nothing away.

When the suite's process has ended and its leftovers are gone, one JSON document goes back over
the socket (inside a Docker container, which has no socket to the host, to ``file:REPORT``):
the suite's exit status, the processes that were left (pid, name, command line), and whether
they could be found at all (Linux: always; elsewhere only the suite's process group is
signalled). This file uses the standard library only and runs with ``-I -S`` (isolated, no site-packages),
imported by a one-line ``-c`` so that its bytecode is cached: nothing from the project under test
can be imported into it, and it costs about 40 ms per suite on a busy 2-core machine.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import sys
import time

try:  # the C module under ``signal``: the same functions, without building its enums (a third of the start-up)
    import _signal as signal
except ImportError:  # not CPython
    import signal  # type: ignore[no-redef]

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
KILL_PASSES = 200  # SIGKILL passes over the leftovers; each adopts what the last one's victims forked
MAX_REPORTED = 50  # leftovers named in the report; the count is always exact
# (names, not numbers: SIGHUP, SIGCHLD and SIGPIPE do not exist on Windows, where execution imports this module)
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))
# dispositions the suite must get back: Python ignores SIGPIPE and SIGXFSZ, and this process handles the others
_RESET_SIGNALS = _STOP_SIGNALS + tuple(getattr(signal, name) for name in ("SIGCHLD", "SIGPIPE", "SIGXFSZ")
                                       if hasattr(signal, name))


def watched(python: str, control: str, grace: float, argv: list[str]) -> list[str]:
    """The command line that runs ``argv`` under this watchdog, with ``python`` (the host's or a container's).

    This module is imported, not run as a script, so that its compiled bytecode is cached; its folder
    goes last on the path, after the standard library, so that none of its neighbours (``docker.py``...)
    can stand in for a library module. The folder must be at the same path where ``python`` runs (in
    Docker, doorbell-ci's package is mounted at its host path).
    """
    folder = os.path.dirname(os.path.abspath(__file__))
    start = f"import sys; sys.path.append({folder!r}); import reaper; raise SystemExit(reaper.main(sys.argv[1:]))"
    return [python, "-I", "-S", "-c", start, control, f"{grace:g}", "--", *argv]


def to_json(value: object) -> str:
    """JSON of the report's plain values, without importing ``json`` (it pulls in ``re``: a third of the start-up).

    Strings go through the C encoder ``json`` itself uses, so every character is escaped as it would be.
    """
    try:
        from _json import encode_basestring_ascii as encode_string
    except ImportError:  # a Python built without the C accelerator
        import json

        return json.dumps(value)
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return encode_string(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{encode_string(str(key))}: {to_json(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_json(item) for item in value) + "]"
    raise TypeError(f"not in a report: {type(value).__name__}")


def prctl(option: int, value: int) -> bool:
    """``prctl(option, value)`` on Linux; False where it does not exist or is refused (psutil has no API for it)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                              ctypes.c_ulong(0))) == 0
    except (OSError, AttributeError):
        return False


def make_subreaper() -> bool:
    """Orphans of every descendant come to this process instead of init (Linux 3.4+)."""
    return prctl(PR_SET_CHILD_SUBREAPER, 1)


def make_non_dumpable() -> bool:
    """Make this process's /proc files (environ, mem, ...) root-only and refuse ptrace by the same user (Linux)."""
    return prctl(PR_SET_DUMPABLE, 0)


def _parents() -> dict[int, tuple[int, int, int]] | None:
    """pid -> (parent pid, process group, session) of every process, from /proc; None where there is no /proc."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    parents = {}
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rfind(b")") + 2:].split()  # the name may hold spaces and parentheses
        if len(fields) > 3 and fields[0] != b"Z":  # a zombie is dead already: reaping is all it needs
            parents[int(name)] = (int(fields[1]), int(fields[2]), int(fields[3]))
    return parents


def descendants(root: int, group: int | None = None) -> list[int] | None:
    """Every living process below ``root``, parents first, then those of process ``group`` that are not below it.

    With the subreaper nothing leaves ``root``'s tree, so ``group`` adds nothing. Without it (a kernel
    or an emulator that refuses the prctl: qemu-user answers EINVAL) an orphan goes to init, and
    the suite's process group is what still finds the ones that did not leave it. Only members in
    this process's session count: a group id is a pid, and once the group is empty the kernel may
    give that pid to a stranger, which would lead a group of its own in a session of its own. None
    where processes cannot be listed.
    """
    parents = _parents()
    if parents is None:
        return None
    children: dict[int, list[int]] = {}
    for pid, (parent, _group, _session) in parents.items():
        children.setdefault(parent, []).append(pid)
    found, queue = [], list(children.get(root, ()))
    while queue:
        pid = queue.pop(0)
        found.append(pid)
        queue.extend(children.get(pid, ()))
    if group is not None:
        below, session = set(found), os.getsid(0)
        found += [pid for pid, (_parent, pgid, sid) in parents.items()
                  if pgid == group and sid == session and pid not in below and pid != root]
    return found


def describe(pid: int) -> dict[str, object]:
    """pid, name and command line (cut short) of a process, as far as /proc tells."""
    entry: dict[str, object] = {"pid": pid, "name": "?", "cmdline": ""}
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
            entry["name"] = handle.read().strip()
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            entry["cmdline"] = handle.read(400).replace(b"\0", b" ").decode("utf-8", "replace").strip()[:200]
    except OSError:
        pass
    return entry


def find_program(name: str, path: str | None) -> str:
    """The file ``execvp`` would run for ``name``, or the ``OSError`` it would fail with.

    Looked up here rather than left to ``posix_spawnp``: glibc's posix_spawn learns of a failed
    exec through memory it shares with the child (``CLONE_VM | CLONE_VFORK``), and qemu-user runs
    that clone as a plain fork, so under emulation a missing program "starts" and exits 127 instead
    of raising (measured in the arm64 root). A file that vanishes between here and the exec is still
    an exit 127 there; on a real kernel ``posix_spawn`` raises as before.
    """
    if "/" in name:
        candidates = [name]
    else:
        folders = (os.defpath if path is None else path).split(os.pathsep)
        candidates = [os.path.join(folder or ".", name) for folder in folders]
    refused = None
    for candidate in candidates:
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            refused = candidate  # execvp goes on looking, and reports EACCES if nothing else is found
        elif os.path.isdir(candidate) and "/" in name:
            refused = candidate
    if refused is not None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), refused)
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


def _exit_code(status: int) -> int:
    """Like ``os.waitstatus_to_exitcode`` (Python 3.9+): an image's Python may be older."""
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _process_group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


class Reaper:
    """Starts the suite, reaps what comes to it, and ends everything left when the suite ends."""

    def __init__(self, argv: list[str], control: int | None, grace: float) -> None:
        self.argv = argv
        self.control = control
        self.grace = grace
        self.subreaper = make_subreaper()
        self.child = 0
        self.status: int | None = None  # the suite's wait status once it ended
        self.seen: dict[int, dict[str, object]] = {}  # every leftover, by pid
        self.stopped_by: str | None = None  # "signal 15", "doorbell-ci is gone"
        self._stop: list[int] = []

    def start(self) -> None:
        self._wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)  # a signal wakes select() below at once
        for number in _STOP_SIGNALS:
            signal.signal(number, lambda signum, _frame: self._stop.append(signum))
        signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)  # wakes select() through the wakeup fd
        # its own process group: doorbell-ci's tree kill still finds it, and this process can signal the group
        self.child = os.posix_spawn(find_program(self.argv[0], os.environ.get("PATH")), self.argv, dict(os.environ),
                                    setpgroup=0, setsigdef=_RESET_SIGNALS, setsigmask=())

    def _reap(self) -> bool:
        """Collect every child that ended; True while any child is left."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            if pid == 0:
                return True
            if pid == self.child:
                self.status = status

    def wait(self) -> None:
        """Until the suite's process ends, a stop signal arrives, or doorbell-ci goes away."""
        watched = [self._wake_r] + ([self.control] if self.control is not None else [])
        while True:
            self._reap()
            if self.status is not None:
                return
            if self._stop:
                self.stopped_by = f"signal {self._stop[0]}"
                return
            ready, _, _ = select.select(watched, [], [], 5.0)
            if self.control is not None and self.control in ready:
                try:
                    gone = not os.read(self.control, 256)
                except OSError:
                    gone = True
                if gone:
                    self.stopped_by = "doorbell-ci is gone"
                    return
            if self._wake_r in ready:
                try:
                    os.read(self._wake_r, 512)
                except BlockingIOError:
                    pass

    def _signal(self, pids: list[int], number: int) -> None:
        for pid in pids:
            try:
                os.kill(pid, number)
            except OSError:
                pass  # ended meanwhile

    def _note(self, pids: list[int]) -> None:
        for pid in pids:
            if pid not in self.seen and pid != self.child:
                self.seen[pid] = {**describe(pid), "pgid": _process_group(pid)}

    def _below(self) -> list[int] | None:
        """What this process must end: its descendants, and what is left in the suite's process group."""
        return descendants(os.getpid(), self.child or None)

    def end_everything(self) -> None:
        """SIGTERM everything below this process, wait up to ``grace``, then SIGKILL until nothing is left."""
        below = self._below()
        if below is None:  # no /proc (macOS): the suite's process group is all that can be reached
            self._end_group()
            return
        self._note(below)
        self._signal(below, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while below and time.monotonic() < deadline:
            time.sleep(0.02)
            self._reap()
            below = self._below() or []
            self._note(below)
        for _ in range(KILL_PASSES):
            if not below and not self._reap():
                break
            self._signal(below, signal.SIGKILL)
            time.sleep(0.005)
            self._reap()
            below = self._below() or []
            self._note(below)

    def _end_group(self) -> None:
        try:
            os.killpg(self.child, signal.SIGTERM)
        except OSError:
            return
        deadline = time.monotonic() + self.grace
        while self._reap() and time.monotonic() < deadline:
            time.sleep(0.02)
        try:
            os.killpg(self.child, signal.SIGKILL)
        except OSError:
            pass
        while self._reap() and time.monotonic() < deadline + self.grace:
            time.sleep(0.02)

    def report(self, start_error: str | None = None) -> dict[str, object]:
        exit_code = _exit_code(self.status) if self.status is not None else None
        child_group = self.child
        leftovers = list(self.seen.values())
        # after a normal end every survivor is a leftover; when stopped, only what left the suite's group
        if self.stopped_by is not None:
            leftovers = [entry for entry in leftovers if entry.get("pgid") != child_group]
        for entry in leftovers:
            entry.pop("pgid", None)
        return {
            "exit_code": exit_code,
            "start_error": start_error,
            "stopped_by": self.stopped_by,
            "subreaper": self.subreaper,
            "leftover_count": len(leftovers),
            "leftovers": leftovers[:MAX_REPORTED],
        }


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: reaper.py CONTROL_FD|file:REPORT|- GRACE -- ARGV...", file=sys.stderr)
        return 2
    control = None  # a socket's file descriptor, read and written as a plain one (no socket module to import)
    report_file = argv[0][len("file:"):] if argv[0].startswith("file:") else None  # inside a container
    if argv[0] != "-" and report_file is None:
        control = int(argv[0])
        os.set_inheritable(control, False)  # the suite must not hold doorbell-ci's line
    reaper = Reaper(argv[3:], control, float(argv[1]))
    start_error = None
    try:
        reaper.start()
    except OSError as error:
        start_error = f"could not start {argv[3]!r}: {error.strerror or error}"
    if start_error is None:
        reaper.wait()
        reaper.end_everything()
    document = reaper.report(start_error)
    if control is not None:
        data = to_json(document).encode("utf-8")
        try:
            while data:
                data = data[os.write(control, data):]
            os.close(control)
        except OSError:
            pass  # doorbell-ci is gone; the suite was ended all the same
    if report_file is not None:
        try:
            with open(report_file + ".partial", "w", encoding="utf-8") as handle:
                handle.write(to_json(document))
            os.replace(report_file + ".partial", report_file)
        except OSError:
            pass  # the output folder is gone or read-only: the leftovers were ended, only not named
    exit_code = document["exit_code"]
    if not isinstance(exit_code, int):
        return 127 if start_error else 128 + signal.SIGKILL
    return exit_code if exit_code >= 0 else 128 - exit_code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
