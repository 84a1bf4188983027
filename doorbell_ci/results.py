"""Result dataclasses shared by every stage, and the JUnit XML reader.

The reader accepts the dialects real tools write: pytest's xunit1/xunit2, a bare
``<testsuite>`` root, nested ``<testsuites>``, missing attributes, jest-junit, Maven
Surefire, googletest. Counting rule (documented in docs/REPORTS.md): one ``<testcase>`` is one
test; its outcome is *failed* if it has a ``<failure>``, else *error* if it has an ``<error>``,
else *skipped* if it has a ``<skipped>``, else *passed*. That is how pytest itself counts
``tests``, ``failures``, ``errors`` and ``skipped`` in the file, except for a test that fails
and then errors in teardown, which pytest reports as one failure *and* one error and we as
one failure.
"""

from __future__ import annotations

import codecs
import functools
import math
import os
import re
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from pyexpat import errors as expat_errors
from typing import TYPE_CHECKING, Any, BinaryIO
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_etree
from defusedxml import DefusedXmlException

from doorbell_ci.errors import CollectError

if TYPE_CHECKING:
    from junitparser import TestCase

MAX_TEXT = 20_000  # characters kept of one message, traceback or captured stream
MB = 1024 * 1024
DEFAULT_JUNIT_MAX_BYTES = 256 * MB  # options.py's junit_max_mb; a file over it is not parsed
MAX_DEPTH = 200  # open elements; real files nest testsuites a few levels deep
MAX_TESTS = 2_000_000  # testcases in one file; each is a TestResult held until the reports are written


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


class SuiteStatus(StrEnum):
    PASSED = "passed"  # ran, nothing failed
    FAILED = "failed"  # ran, some test failed or errored
    ERROR = "error"  # the runner crashed, wrote no/invalid results, or could not start
    TIMEOUT = "timeout"  # killed at its timeout; tests finished before that are kept
    NO_TESTS = "no tests"  # ran, collected nothing (pytest exit 5)
    ABSENT = "absent"  # its folder does not exist in this project
    NOT_RUN = "not run"  # skipped by --fail-fast or an interrupt

    @property
    def is_bad(self) -> bool:
        return self in {SuiteStatus.FAILED, SuiteStatus.ERROR, SuiteStatus.TIMEOUT}


@dataclass(slots=True)  # a run can hold millions: no per-instance __dict__ (~110 bytes each)
class TestResult:
    suite: str
    name: str
    classname: str = ""
    outcome: Outcome = Outcome.PASSED
    duration: float = 0.0
    file: str | None = None
    line: int | None = None
    message: str = ""
    details: str = ""  # traceback / failure body
    stdout: str = ""
    stderr: str = ""
    flaky: bool = False  # failed, then passed when rerun alone (analysis.flaky); outcome says how it counts
    __test__ = False  # not a pytest test class

    @property
    def nodeid(self) -> str:
        """The pytest node id when file and classname allow it, else classname::name."""
        if self.file and self.file.endswith(".py"):
            module = self.file[:-3].replace("\\", "/").replace("/", ".")
            rest = self.classname[len(module) :].lstrip(".") if self.classname.startswith(module) else ""
            return "::".join([self.file.replace("\\", "/"), *([rest.replace(".", "::")] if rest else []), self.name])
        return f"{self.classname}::{self.name}" if self.classname else self.name


@dataclass
class Counts:
    tests: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0

    @classmethod
    def of(cls, tests: Iterable[TestResult]) -> Counts:
        counts = cls()
        for test in tests:
            counts.tests += 1
            if test.outcome is Outcome.PASSED:
                counts.passed += 1
            elif test.outcome is Outcome.FAILED:
                counts.failed += 1
            elif test.outcome is Outcome.ERROR:
                counts.errors += 1
            else:
                counts.skipped += 1
        return counts

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(self.astuple(), other.astuple(), strict=True)))

    def astuple(self) -> tuple[int, int, int, int, int]:
        return (self.tests, self.passed, self.failed, self.errors, self.skipped)


@dataclass
class ResourceUsage:
    """What a suite's whole process tree used (sampled with psutil)."""

    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0  # user + system, summed over every process of the tree
    peak_rss_bytes: int = 0  # highest sum of resident memory of the tree at one sample
    processes: int = 0  # distinct processes seen in the tree


@dataclass
class SuiteResult:
    name: str
    status: SuiteStatus
    tests: list[TestResult] = field(default_factory=list)
    reason: str = ""  # why the status is what it is, for error/timeout/absent/not run
    exit_code: int | None = None
    started_at: str | None = None
    duration: float = 0.0
    resources: ResourceUsage = field(default_factory=ResourceUsage)
    command: list[str] = field(default_factory=list)
    junit_file: str | None = None  # relative to the output directory
    log_file: str | None = None
    output_tail: str = ""

    @property
    def counts(self) -> Counts:
        return Counts.of(self.tests)


@dataclass
class FileCoverage:
    path: str
    statements: int
    missing: int
    percent: float


@dataclass
class CoverageSummary:
    percent: float
    statements: int
    covered: int
    files: list[FileCoverage] = field(default_factory=list)
    fail_under: float | None = None
    reports: dict[str, str] = field(default_factory=dict)  # kind -> path relative to output dir

    @property
    def below_threshold(self) -> bool:
        return self.fail_under is not None and self.percent < self.fail_under


@dataclass
class RunResult:
    """Everything one run produced; serialised as report.json (see reports/json_report.py)."""

    run_id: str
    project: str
    started_at: str
    finished_at: str
    duration: float
    suites: list[SuiteResult]
    environment: dict[str, Any] = field(default_factory=dict)
    platform: dict[str, Any] = field(default_factory=dict)
    coverage: CoverageSummary | None = None
    command: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # degradations worth telling the reader
    performance: dict[str, Any] | None = None  # filled by the compare stage
    analysis: dict[str, Any] | None = None  # filled by the analyse stage

    @property
    def counts(self) -> Counts:
        total = Counts()
        for suite in self.suites:
            total = total + suite.counts
        return total

    @property
    def failed(self) -> bool:
        return any(suite.status.is_bad for suite in self.suites)

    def iter_tests(self) -> Iterator[TestResult]:
        for suite in self.suites:
            yield from suite.tests


# --- JUnit XML -------------------------------------------------------------------------------


@functools.cache
def _case_type() -> type[TestCase]:
    """junitparser's testcase with the attributes other dialects add (pytest xunit1, jest, Surefire).

    Made on first use: importing junitparser takes about 30 ms (it asks importlib.metadata for its
    own version), which every ``doorbell-ci run`` would otherwise pay before its first suite starts;
    the pipeline imports it while the suites run (see "Orchestrator overhead" in docs/PERFORMANCE.md).
    """
    from junitparser import Attr, TestCase

    class _Case(TestCase):
        file = Attr()
        line = Attr()
        filepath = Attr("filepath")  # some tools write filepath=

    return _Case


_CUT_OFF = {expat_errors.codes[message] for message in (  # expat's errors for a document that stops early
    expat_errors.XML_ERROR_NO_ELEMENTS, expat_errors.XML_ERROR_UNCLOSED_TOKEN,
    expat_errors.XML_ERROR_PARTIAL_CHAR, expat_errors.XML_ERROR_UNCLOSED_CDATA_SECTION)}
_INVALID_TOKEN = expat_errors.codes[expat_errors.XML_ERROR_INVALID_TOKEN]
_ROOT, _SUITE, _CASE, _OTHER = range(4)


@dataclass(slots=True)
class _Open:
    """One element the streaming reader is inside of, with what it has read under it so far."""

    elem: Element
    kind: int  # _ROOT, _SUITE, _CASE or _OTHER
    top: bool = False  # a testsuite directly under the root (or the root testsuite itself)
    zero_based_lines: bool = False  # inherited from the top-level testsuite
    direct: list[TestResult] = field(default_factory=list)  # its own testcases, nested suites excluded
    nested: list[TestResult] = field(default_factory=list)  # the testcases of the testsuites inside it


_IN_CASE = _Open(Element("in-case"), _OTHER)  # stands for every element inside a counted testcase
_A_CASE = _Open(Element("testcase"), _CASE)  # stands for every counted testcase: nothing is kept on it


class _Capped:
    """A binary file that refuses to yield more than ``limit`` bytes, even if it grows while read."""

    def __init__(self, handle: BinaryIO, limit: int, name: str) -> None:
        self.handle, self.left, self.limit, self.name = handle, limit, limit, name

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(self.left + 1 if size < 0 else min(size, self.left + 1))
        self.left -= len(data)
        if self.left < 0:
            raise CollectError(_over_limit_message(self.name, self.limit + 1, self.limit))
        return data


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f}".removesuffix(".0")


def _over_limit_message(name: str, size: int, limit: int) -> str:
    return (f"{name} is {_megabytes(size)} MB, over the {_megabytes(limit)} MB limit (--junit-max-mb); "
            "it was not read")


def junit_size_problem(path: Path, max_bytes: int) -> str | None:
    """Why ``path`` must not even be copied (not a regular file, or over the limit), or None.

    A missing file passes (the reader says it was not written). A device such as /dev/zero
    behind a symlink reports size 0 and never ends: copying it would fill the disk.
    """
    try:
        status = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(status.st_mode):
        return f"{path.name} is not a regular file"
    if status.st_size > max_bytes:
        return _over_limit_message(path.name, status.st_size, max_bytes)
    return None


def read_junit(path: Path, suite: str, max_bytes: int = DEFAULT_JUNIT_MAX_BYTES) -> list[TestResult]:
    """Read one JUnit XML file into TestResults; anything unreadable is a CollectError with the reason."""
    return list(iter_junit(path, suite, max_bytes))


def iter_junit(path: Path, suite: str, max_bytes: int = DEFAULT_JUNIT_MAX_BYTES) -> Iterator[TestResult]:
    """Stream the TestResults of one JUnit XML file, in junitparser's order, in bounded memory.

    The file is parsed with defusedxml's ``iterparse`` (expat; DTD entities and external
    references are refused before anything is expanded or fetched, as ``defusedxml.parse``
    does). Each finished ``<testcase>`` is handed to junitparser (``_case_type().fromelem``) so the
    dialects are interpreted as before, then removed from the tree together with everything
    else already read, so the parser holds the open elements and one testcase at a time, not
    the file. What it cannot bound: expat holds a single text node or attribute value whole
    until its element ends (a test that printed 300 MB without a newline is one text node), and
    the results list grows with the number of tests. ``max_bytes`` (``--junit-max-mb``) bounds
    both, and so does ``MAX_TESTS``; ``MAX_DEPTH`` bounds the stack of open elements.

    Order: a testsuite's own testcases, then those of the testsuites nested in it, depth first,
    which is how junitparser's ``TestSuite.__iter__`` walks them; testcases outside a chain of
    ``<testsuite>`` elements from the root are not tests (junitparser does not see them either).
    """
    name = path.name
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block us
    except FileNotFoundError:
        raise CollectError(f"{name} was not written") from None
    except OSError as error:
        raise CollectError(f"{name} could not be read: {error.strerror or error}") from None
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(handle.fileno())  # the file actually opened, not whatever the path names now
        if not stat.S_ISREG(status.st_mode):
            raise CollectError(f"{name} is not a regular file")
        if status.st_size == 0:
            raise CollectError(f"{name} is empty (the runner was probably killed before writing it)")
        if status.st_size > max_bytes:
            raise CollectError(_over_limit_message(name, status.st_size, max_bytes))
        try:
            yield from _stream(_Capped(handle, max_bytes, name), name, suite)
        except DefusedXmlException as error:
            raise CollectError(f"{name} declares a DTD or entities, which are refused: {error}") from None
        except LookupError as error:  # expat asks the codecs module for the declared encoding
            raise CollectError(f"{name} declares an encoding Python does not know ({error})") from None
        except (OSError, ValueError) as error:
            raise CollectError(f"{name} could not be read: {error}") from None


def _stream(source: _Capped, name: str, suite: str) -> Iterator[TestResult]:
    events = safe_etree.iterparse(source, events=("start", "end"))
    case_type = _case_type()
    path: list[_Open] = []  # the open elements, root first
    in_case = False  # inside a counted testcase: its subtree is kept whole until it ends
    count = 0
    started = False
    try:
        for event, elem in events:
            if event == "start":
                if len(path) >= MAX_DEPTH:
                    raise CollectError(f"{name} nests elements more than {MAX_DEPTH} levels deep, "
                                       "too deep to be real test results")
                started = True
                if in_case:
                    path.append(_IN_CASE)
                    continue
                opened = _classify(path[-1] if path else None, elem, name)
                in_case = opened.kind == _CASE
                path.append(opened)
                continue
            closed = path.pop()
            if closed is _IN_CASE:
                continue
            parent = path[-1] if path else None
            if closed.kind == _CASE and parent is not None:
                in_case = False
                count += 1
                if count > MAX_TESTS:
                    raise CollectError(f"{name} holds more than {MAX_TESTS:,} testcases; split the suite")
                result = _plain_passed(elem, suite, parent.zero_based_lines) or _to_result(
                    case_type.fromelem(elem), suite, parent.zero_based_lines)
                result.classname = sys.intern(result.classname)  # one copy per class, not per test
                if result.file:
                    result.file = sys.intern(result.file)
                if parent.top:
                    yield result  # nothing can come before a top-level suite's own testcases
                else:
                    parent.direct.append(result)
            elif closed.kind == _SUITE:
                if closed.top:
                    yield from closed.nested
                elif parent is not None:
                    parent.nested += closed.direct + closed.nested
            if parent is not None:
                parent.elem.remove(elem)  # read: drop it (it is the only child left) and all below it
                elem.clear()
    except ParseError as error:
        raise CollectError(_parse_problem(name, error, source.handle, started)) from None


def _classify(parent: _Open | None, elem: Element, name: str) -> _Open:
    """What a just-opened element is, going by junitparser's rules (see ``iter_junit``)."""
    if parent is None:
        if elem.tag == "testsuites":
            return _Open(elem, _ROOT)
        if elem.tag == "testsuite":
            return _Open(elem, _SUITE, top=True, zero_based_lines=elem.get("name") == "pytest")
        raise CollectError(f"{name} is not JUnit XML: its root element is <{elem.tag}>, "
                           "not <testsuites> or <testsuite>")
    if parent.kind in (_ROOT, _SUITE) and elem.tag == "testsuite":
        top = parent.kind == _ROOT
        # pytest writes item.location's 0-based line; its testsuite is named "pytest"
        zero_based = elem.get("name") == "pytest" if top else parent.zero_based_lines
        return _Open(elem, _SUITE, top=top, zero_based_lines=zero_based)
    if parent.kind == _SUITE and elem.tag == "testcase":
        return _A_CASE
    return _Open(elem, _OTHER)


def _parse_problem(name: str, error: ParseError, handle: BinaryIO, started: bool) -> str:
    """The reason for a parse error, saying when the file was cut off or is not UTF-8."""
    text = f"{name} is not well-formed XML ({error})"
    if error.code in _CUT_OFF and not started:
        return f"{text}: it holds no element at all (only whitespace or an XML declaration)"
    if error.code in _CUT_OFF:
        return f"{text}: it stops inside an element, so it was cut off (was the runner killed while writing it?)"
    if error.code == _INVALID_TOKEN:
        offset = _first_invalid_utf8(handle)
        if offset is not None:
            return f"{text}: byte {offset:,} is not valid UTF-8"
    return text


def _first_invalid_utf8(handle: BinaryIO) -> int | None:
    """Offset of the first byte that is not UTF-8, when the file does not declare another encoding."""
    handle.seek(0)
    head = handle.read(200)
    declared = re.match(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)""", head)
    if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return None
    handle.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # of the first byte the decoder has not consumed yet (it may hold a partial character)
    while chunk := handle.read(1 << 16):
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as problem:
            return offset - pending + problem.start
        offset += len(chunk)
    return None


_PLAIN_CASE = frozenset(("name", "classname", "time", "file", "line"))  # what pytest writes on a passed test


def _plain_passed(elem: Element, suite: str, zero_based_lines: bool) -> TestResult | None:
    """A passed test in pytest's own form, read from its attributes alone; None for anything else.

    Most testcases of a big run are childless ``<testcase name classname file line time/>``:
    building junitparser's objects for each (``fromelem``, its result list, the searches of
    ``_to_result``) was two thirds of reading 100,000 of them (docs/PERFORMANCE.md, "Report
    building"). This handles only that exact shape with well-formed numbers; a child element, any
    other attribute (``status``, ``filepath``, ...) or a number it does not take at face value
    returns None, and ``_to_result`` decides as before. The result is the one ``_to_result`` gives.
    """
    attrib = elem.attrib
    if len(elem) or not attrib.keys() <= _PLAIN_CASE:
        return None
    time_text = attrib.get("time")
    line_text = attrib.get("line")
    try:
        duration = float(time_text) if time_text else 0.0
    except ValueError:
        return None
    if not 0.0 <= duration < math.inf:  # nan, inf, negative: the general path's rules apply
        return None
    line = None
    if line_text is not None:
        if not (line_text.isdecimal() and len(line_text) <= 9):
            return None
        line = int(line_text) + int(zero_based_lines)
    return TestResult(suite=suite, name=attrib.get("name") or "(unnamed)", classname=attrib.get("classname") or "",
                      duration=duration, file=attrib.get("file") or None, line=line)


def _to_result(case: Any, suite: str, zero_based_lines: bool = False) -> TestResult:
    from junitparser import Error, Failure, Skipped

    outcome = Outcome.PASSED
    message = details = ""
    entries = case.result
    for kind, value in ((Failure, Outcome.FAILED), (Error, Outcome.ERROR), (Skipped, Outcome.SKIPPED)):
        found = [entry for entry in entries if isinstance(entry, kind)]
        if found:
            outcome = value
            message = found[0].message or ""
            details = "\n".join(entry.text or "" for entry in found).strip()
            break
    try:
        duration = float(case.time or 0.0)
    except (TypeError, ValueError):
        duration = 0.0
    if not math.isfinite(duration):  # time="nan" / "inf" would make report.json invalid JSON
        duration = 0.0
    line_text = (case.line or "").strip()
    # isdecimal, not isdigit: int() refuses "²"; and a 4,300-digit line number is no line
    line_number = int(line_text) if line_text.isdecimal() and len(line_text) <= 9 else None
    return TestResult(
        suite=suite,
        name=case.name or "(unnamed)",
        classname=case.classname or "",
        outcome=outcome,
        duration=max(duration, 0.0),
        file=case.file or case.filepath or None,
        line=line_number + int(zero_based_lines) if line_number is not None else None,
        message=_clip(message),
        details=_clip(details),
        stdout=_clip(case.system_out or "") if outcome is not Outcome.PASSED else "",
        stderr=_clip(case.system_err or "") if outcome is not Outcome.PASSED else "",
    )


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    if len(text) <= limit:
        return text
    return text[: limit // 2] + f"\n... [{len(text) - limit} characters cut] ...\n" + text[-limit // 2 :]
