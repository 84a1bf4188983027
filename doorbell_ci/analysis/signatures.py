"""Failure signatures: which failures share one cause.

Two failures share a cause when they raise the same exception type, with the same message once
the parts that change from run to run are masked (numbers, hex addresses, temp paths, uuids and
long ids), from the same innermost frame inside the project. That frame's file and line are
also where a CI annotation belongs: it is the line a maintainer has to look at, which is often
not the test's own line.

Tracebacks come from ``TestResult.details`` as pytest writes them into JUnit XML (``--tb=long``
or ``short``: ``path:line: ...`` lines; ``--tb=native``: ``File "path", line N``). When there is
no traceback, the test's own file and line (xunit1 gives them) stand in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath

from doorbell_ci.results import Outcome, TestResult, primary_details

# "tests/unit/test_a.py:7: in test_x", "src/pkg/mod.py:3: ValueError", "C:\\x\\y.py:3: ..."
_FRAME_LINE = re.compile(r"^(?P<file>(?:[A-Za-z]:)?[^\s:][^:]*?\.\w+):(?P<line>\d+):(?: (?P<rest>.*))?$")
_NATIVE_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')
_E_LINE = re.compile(r"^E\s+(?P<text>.*)$")
_EXCEPTION_NAME = re.compile(r"^(?P<name>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Failed|Warning|Failure"
                             r"|Timeout|Iteration|Skipped))(?::\s?(?P<message>.*))?$")
_BARE_NAME = re.compile(r"^[A-Za-z_][\w.]*$")

# Masks, applied in this order (paths before numbers, so a temp path is one token).
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<uuid>"),
    (re.compile(r"(?:/private)?(?:/tmp|/var/folders|/var/tmp|/dev/shm)(?:/[^\s'\"]*)?"), "<tmp>"),
    (re.compile(r"[A-Za-z]:\\(?:[^\s'\"\\]+\\)*?(?:Temp|tmp)(?:\\[^\s'\"]*)?", re.IGNORECASE), "<tmp>"),
    (re.compile(r"\bpytest-of-[^\s'\"/\\]+(?:[/\\][^\s'\"]*)?"), "<tmp>"),
    (re.compile(r"0x[0-9a-fA-F]+"), "<addr>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<id>"),
    (re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"), "<n>"),
)
MESSAGE_LIMIT = 300


@dataclass(frozen=True)
class Frame:
    file: str
    line: int


@dataclass
class Failure:
    """One failing test, reduced to what identifies its cause."""

    key: str  # "suite::nodeid", unique within a run
    test: TestResult
    exception: str
    message: str  # first line of the exception message, as raised
    normalised: str
    frame: Frame | None  # innermost frame inside the project, or the test's own location

    @property
    def signature(self) -> str:
        where = f"{self.frame.file}:{self.frame.line}" if self.frame else ""
        digest = hashlib.sha256(f"{self.exception}\n{self.normalised}\n{where}".encode()).hexdigest()
        return "sig-" + digest[:10]


@dataclass
class Group:
    signature: str
    exception: str
    message: str  # normalised
    frame: Frame | None
    failures: list[Failure] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.failures)


def test_key(test: TestResult) -> str:
    return f"{test.suite}::{test.nodeid}"


def normalise(message: str) -> str:
    """The message with its run-specific parts masked, on one line, cut to a readable length."""
    text = " ".join(message.split())
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text[:MESSAGE_LIMIT]


def frames(details: str) -> list[Frame]:
    """Every frame of a pytest or native traceback, outermost first."""
    found: list[Frame] = []
    for raw in details.splitlines():
        match = _FRAME_LINE.match(raw) or _NATIVE_FRAME.match(raw)
        if match:
            found.append(Frame(match["file"], int(match["line"])))
    return found


def inside_project(path: str) -> bool:
    """pytest prints paths under its rootdir relative and others absolute; site-packages is never ours."""
    if path.startswith("<") or "site-packages" in path or "dist-packages" in path:
        return False
    pure = PureWindowsPath(path) if re.match(r"^[A-Za-z]:", path) or "\\" in path else PurePosixPath(path)
    return not pure.is_absolute() and ".." not in pure.parts


def exception_of(test: TestResult) -> tuple[str, str]:
    """(exception type, message) from the traceback's last lines, else from the JUnit message."""
    details_lines = [line.rstrip() for line in primary_details(test.details).splitlines() if line.strip()]
    exception = ""
    for raw in reversed(details_lines):
        match = _FRAME_LINE.match(raw)
        if match and match["rest"] and _BARE_NAME.match(match["rest"].strip()):
            exception = match["rest"].strip()  # pytest's closing "path:line: ValueError"
            break
    e_lines = [m["text"] for m in map(_E_LINE.match, details_lines) if m]
    message = test.message.strip().splitlines()[0] if test.message.strip() else ""
    candidates = ([e_lines[0]] if e_lines else []) + ([message] if message else []) + details_lines[-1:]
    for text in candidates:
        named = _EXCEPTION_NAME.match(text.strip())
        if named:
            name = named["name"].rsplit(".", 1)[-1]
            if not exception or exception == name:
                return name, (named["message"] or "").strip()
    if exception:
        return exception, (e_lines[0] if e_lines else message).strip()
    if test.outcome is Outcome.ERROR and not e_lines and message:
        return "Error", message
    if message.startswith("assert") or (e_lines and e_lines[0].startswith("assert")):
        return "AssertionError", (e_lines[0] if e_lines else message).strip()
    return "Failure", message or (e_lines[0] if e_lines else "")


def in_project(frame: Frame, project: str | None) -> Frame | None:
    """``frame`` with its path relative to the project, or None when it is not a project file.

    pytest prints paths under its working folder (the project) relative, but ``--tb=native``
    and some plugins print them absolute; an absolute path under ``project`` (which Docker runs
    mount at the same path) is made relative. site-packages is never the project's, even in a
    virtual environment inside the project folder.
    """
    if inside_project(frame.file):
        return frame
    if not project or "site-packages" in frame.file or "dist-packages" in frame.file:
        return None
    windows = bool(re.match(r"^[A-Za-z]:", frame.file))
    kind = PureWindowsPath if windows else PurePosixPath
    try:
        relative = kind(frame.file).relative_to(kind(project))
    except ValueError:
        return None
    return Frame(relative.as_posix(), frame.line) if relative.parts and ".." not in relative.parts else None


def failure_frame(test: TestResult, project: str | None = None) -> Frame | None:
    """Where a test failed: the innermost traceback frame inside the project, else the test's own line.

    The assert, the ``raise`` in a fixture's setup or teardown, or the line of a project helper
    deeper down; a failure inside a library (site-packages, the standard library) is placed at
    the last project line that called into it. The test's own ``def`` line (what JUnit's
    ``line`` attribute says) is only used when the report holds no traceback. Every place that
    says where a test failed (annotations, ``::error`` lines, "at file:line") asks this one function.
    """
    for raw in reversed(primary_details(test.details).splitlines()):  # innermost first, in the deciding result
        match = _FRAME_LINE.match(raw) or _NATIVE_FRAME.match(raw)
        found = in_project(Frame(match["file"], int(match["line"])), project) if match else None
        if found is not None:
            return found
    if test.file and test.line:
        return Frame(test.file, test.line)
    return None


def describe(test: TestResult, project: str | None = None) -> Failure:
    exception, message = exception_of(test)
    frame = failure_frame(test, project)
    return Failure(key=test_key(test), test=test, exception=exception, message=message[:MESSAGE_LIMIT],
                   normalised=normalise(message), frame=frame)


def group(tests: Iterable[TestResult], project: str | None = None) -> list[Group]:
    """Failures and errors grouped by cause; the largest group first, then by first appearance."""
    groups: dict[str, Group] = {}
    for test in tests:
        if test.outcome not in (Outcome.FAILED, Outcome.ERROR):
            continue
        failure = describe(test, project)
        entry = groups.get(failure.signature)
        if entry is None:
            entry = groups[failure.signature] = Group(failure.signature, failure.exception, failure.normalised,
                                                      failure.frame)
        entry.failures.append(failure)
    return sorted(groups.values(), key=lambda g: -g.count)
