"""Result dataclasses shared by every stage, and the JUnit XML reader.

The reader accepts the dialects real tools write: pytest's xunit1/xunit2, a bare
``<testsuite>`` root, nested ``<testsuites>``, missing attributes, jest-junit, Maven
Surefire, googletest. Counting rule (documented in docs/REPORTS.md): one ``<testcase>`` is one
test; its outcome is *failed* if it has a ``<failure>``, else *error* if it has an ``<error>``,
else *skipped* if it has a ``<skipped>``, else *passed*; a ``status``/``result``/``outcome``
attribute (googletest's ``status="notrun" result="suppressed"``, CTest's ``status="disabled"``)
counts like the element it means, by the same precedence (``case_outcome``). That is how pytest
itself counts ``tests``, ``failures``, ``errors`` and ``skipped`` in the file, except for a test
that fails and then errors in teardown, which pytest reports as one failure *and* one error and
we as one failure (whose details keep the error too). What a file declares about itself (the
counts on its ``<testsuite>``/``<testsuites>``) is kept in ``JunitFacts`` and compared with what
was read, so a file that declares failures it does not hold is never green.
"""

from __future__ import annotations

import codecs
import functools
import math
import os
import re
import stat
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from operator import attrgetter
from pathlib import Path
from pyexpat import errors as expat_errors
from typing import TYPE_CHECKING, Any, BinaryIO
from xml.etree.ElementTree import ParseError, TreeBuilder
from xml.parsers import expat

from defusedxml import DefusedXmlException, EntitiesForbidden, ExternalReferenceForbidden

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
    COVERAGE_FAILED = "coverage failed"  # its tests passed; pytest-cov failed it on a fail-under (exit 7, not 1)

    @property
    def is_bad(self) -> bool:
        return self in {SuiteStatus.FAILED, SuiteStatus.ERROR, SuiteStatus.TIMEOUT}


class _NodeidMemo:
    """One slot outside the dataclass's fields for :attr:`TestResult.nodeid`'s last value.

    Not a field: equality, pickling, ``dataclasses.replace`` and the redaction walk over the fields
    (``redaction.redact_object``) never see it.
    """

    __slots__ = ("_nodeid_memo",)


@dataclass(slots=True)  # a run can hold millions: no per-instance __dict__ (~110 bytes each)
class TestResult(_NodeidMemo):
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
        """The pytest node id when file and classname allow it, else classname::name.

        Remembered with the three strings it was made from, and made again when any of them is
        another object: the analysis and the reports ask for it three to five times a test (0.3 s at
        50,000 tests), while the fields stay assignable (the redaction replaces a secret in place).
        """
        file, classname, name = self.file, self.classname, self.name
        try:
            memo = self._nodeid_memo
        except AttributeError:
            memo = None
        if memo is not None and memo[0] is file and memo[1] is classname and memo[2] is name:
            return memo[3]
        value = node_id(file, classname, name)
        self._nodeid_memo = (file, classname, name, value)
        return value


def node_id(file: str | None, classname: str, name: str) -> str:
    """:attr:`TestResult.nodeid` of these three fields, for readers that have no TestResult."""
    if file and file.endswith(".py"):
        module = file[:-3].replace("\\", "/").replace("/", ".")
        rest = classname[len(module) :].lstrip(".") if classname.startswith(module) else ""
        return "::".join([file.replace("\\", "/"), *([rest.replace(".", "::")] if rest else []), name])
    return f"{classname}::{name}" if classname else name


@dataclass
class Counts:
    tests: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0

    @classmethod
    def of(cls, tests: Iterable[TestResult]) -> Counts:
        """Counted in C (``Counter`` over ``attrgetter``): every report asks for a suite's and the run's
        counts, eight times over 100,000 tests for report.json, report.html and summary.md together."""
        by_outcome = Counter(map(_OUTCOME_OF, tests))
        total = sum(by_outcome.values())
        passed, failed, errors = by_outcome[Outcome.PASSED], by_outcome[Outcome.FAILED], by_outcome[Outcome.ERROR]
        return cls(total, passed, failed, errors, total - passed - failed - errors)

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(self.astuple(), other.astuple(), strict=True)))

    def astuple(self) -> tuple[int, int, int, int, int]:
        return (self.tests, self.passed, self.failed, self.errors, self.skipped)


_OUTCOME_OF = attrgetter("outcome")


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
    platform: str = ""  # SuiteConfig.platform: another machine ran these tests ("" = this run's platform)

    notices: list[str] = field(default_factory=list)  # for RunResult.notices; not part of the suite's JSON

    @property
    def counts(self) -> Counts:
        held = self.__dict__.get("_held_counts")  # see counts_held
        return Counts(*held.astuple()) if held is not None else Counts.of(self.tests)


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
    impact: dict[str, Any] | None = None  # test impact analysis: selection and recording (doorbell_ci/impact)

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


@contextmanager
def counts_held(run: RunResult) -> Iterator[None]:
    """Each suite's counts counted once while the reports are written, then counted afresh again.

    report.json, report.html and summary.md each ask for the suites' and the run's counts, eight
    passes over every test in all (72 ms at 100,000 tests). Only for the span where the results no
    longer change: the caller writes the reports of a finished, redacted run (``reports.write_all``).
    """
    for suite in run.suites:
        suite.__dict__["_held_counts"] = Counts.of(suite.tests)
    try:
        yield
    finally:
        for suite in run.suites:
            suite.__dict__.pop("_held_counts", None)


# --- JUnit XML -------------------------------------------------------------------------------

MAX_NOTES = 10  # odd attribute values quoted per file; a hostile file may hold millions


@dataclass
class JunitFacts:
    """What one JUnit file says about itself, next to what was read from it.

    ``declared`` is a lower bound of what the file claims: for each ``<testsuite>`` (and the
    ``<testsuites>`` root) the larger of its own attribute and the sum of its nested suites',
    summed over the top level. Writers differ on whether a suite's counts include its nested
    suites; either way an honest file reads at least that many. ``skipped`` includes googletest's
    ``disabled``.
    """

    declared_tests: int = 0
    declared_failures: int = 0
    declared_errors: int = 0
    declared_skipped: int = 0
    read_tests: int = 0
    read_bad: int = 0  # <failure> and <error> results read (one testcase may hold several), or 1 per bad case
    read_skipped: int = 0
    bad_not_a_number: list[str] = field(default_factory=list)  # failures="many": cannot tell what failed
    not_numbers: list[str] = field(default_factory=list)  # tests="?" / skipped="?": ignored, reported
    unknown_statuses: dict[str, int] = field(default_factory=dict)  # 'status="kaputt"' -> testcases

    def problem(self, name: str) -> str | None:
        """Why the results read cannot stand for the file (its suite is then an ``error``), or None."""
        if self.bad_not_a_number:
            return (f"{name} declares {', '.join(self.bad_not_a_number)}, which is not a number: "
                    "whether tests failed is unknown")
        declared_bad = self.declared_failures + self.declared_errors
        if declared_bad and not self.read_bad:
            return (f"{name} declares {_declared_words(self)} but holds no failed test case "
                    f"({self.read_tests} of {self.declared_tests} declared tests read)")
        if declared_bad > self.read_bad:  # an error, not a note: a rerun that passes must not turn it green
            return (f"{name} declares {_declared_words(self)} but holds only {self.read_bad} failure/error "
                    "results; the others' messages are not in the file")
        missing = self.declared_tests - self.read_tests
        if missing > max(self.declared_skipped - self.read_skipped, 0):
            return (f"{name} declares {_declared_words(self)} but holds {self.read_tests} test "
                    f"case{'' if self.read_tests == 1 else 's'}: the results of {missing} are missing")
        return None

    def notes(self, name: str) -> list[str]:
        """Things worth a notice that do not make the results untrustworthy."""
        notes = []
        missing = self.declared_tests - self.read_tests
        if missing > 0 and self.problem(name) is None:
            notes.append(f"{name} declares {self.declared_tests} tests but holds {self.read_tests}; the "
                         f"{missing} not in the file are among its {self.declared_skipped} declared skips")
        if self.not_numbers:
            notes.append(f"{name}: {', '.join(self.not_numbers)} is not a number and was ignored")
        if self.unknown_statuses:
            values = ", ".join(f"{value} ({count})" for value, count in self.unknown_statuses.items())
            notes.append(f"{name}: test cases with a status doorbell-ci does not know, counted as errors "
                         f"unless a result element said otherwise: {values}")
        return notes


def _declared_words(facts: JunitFacts) -> str:
    words = [f"{facts.declared_tests} {'test' if facts.declared_tests == 1 else 'tests'}"]
    for count, word in ((facts.declared_failures, "failure"), (facts.declared_errors, "error")):
        if count:
            words.append(f"{count} {word}{'' if count == 1 else 's'}")
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 2 else words)


_DECLARED = ("tests", "failures", "errors", "skipped", "disabled")  # disabled: googletest's skips


def _declared_counts(tag: str, attrib: dict[str, str], facts: JunitFacts) -> tuple[int, ...]:
    """tests, failures, errors, skipped as the element declares them; odd values are noted in ``facts``."""
    values = dict.fromkeys(_DECLARED, 0)
    for attribute in _DECLARED:
        text = (attrib.get(attribute) or "").strip()
        if not text:
            continue
        number = _whole_number(text)
        if number is not None:
            values[attribute] = number
            continue
        quoted = f'{attribute}="{text[:40]}" on <{tag}>'
        bucket = facts.bad_not_a_number if attribute in ("failures", "errors") else facts.not_numbers
        if len(bucket) < MAX_NOTES:
            bucket.append(quoted)
    return (values["tests"], values["failures"], values["errors"], values["skipped"] + values["disabled"])


def _whole_number(text: str) -> int | None:
    """``6`` or ``6.0`` (some writers format every number alike); None for anything else."""
    if text.isdecimal():
        return int(text) if len(text) <= 18 else None  # int() of 4,300+ digits raises; no file has that many
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number >= 0 and number.is_integer() else None


def _close_declared(closed: _Open, parent: _Open | None, facts: JunitFacts) -> None:
    effective = [max(own, inner) for own, inner in zip(closed.declared, closed.inner, strict=True)]
    if parent is not None:
        parent.inner = [a + b for a, b in zip(parent.inner, effective, strict=True)]
    else:
        facts.declared_tests, facts.declared_failures, facts.declared_errors, facts.declared_skipped = effective


# Meanings of a testcase's status/result/outcome attribute values, compared after lower-casing and
# dropping spaces, "_" and "-". Sources: googletest (status="run|notrun", result="completed|skipped|
# suppressed"), CTest (status="run|fail|notrun|disabled"), Bazel and Catch2 (status="run"), Allure and
# TestRail-style writers (broken, blocked), NUnit/xUnit result words (Ignored, Inconclusive, NotExecuted).
_STATUS_MEANING: dict[str, Outcome] = {
    **dict.fromkeys(("run", "ran", "completed", "complete", "pass", "passed", "success", "successful",
                     "succeeded", "ok", "executed", "finished", "done"), Outcome.PASSED),
    **dict.fromkeys(("notrun", "disabled", "skipped", "skip", "suppressed", "ignored", "ignore", "pending",
                     "inconclusive", "notexecuted", "excluded", "todo", "xfail", "xfailed", "blocked",
                     "deferred", "notapplicable"), Outcome.SKIPPED),
    **dict.fromkeys(("fail", "failed", "failure", "failing"), Outcome.FAILED),
    **dict.fromkeys(("error", "errored", "broken", "crash", "crashed", "aborted", "timeout", "timedout",
                     "killed", "panic", "panicked"), Outcome.ERROR),
}
_STATUS_ATTRIBUTES = ("status", "result", "outcome")
_SEVERITY = {Outcome.PASSED: 0, Outcome.SKIPPED: 1, Outcome.ERROR: 2, Outcome.FAILED: 3}
_RESULT_WORD = {Outcome.FAILED: "failure", Outcome.ERROR: "error", Outcome.SKIPPED: "skipped"}
ALSO = "\n\n--- also in this test case: "  # starts each result that did not decide the outcome, in details


@dataclass(slots=True)
class CaseOutcome:
    outcome: Outcome
    message: str
    details: str
    bad_results: int  # <failure>/<error> results held (pytest counts each in its header), 1 for a bad status
    unknown: list[str]  # attribute values with no known meaning, quoted


def case_outcome(results: list[tuple[Outcome, str, str]], attributes: dict[str, str]) -> CaseOutcome:
    """One testcase's outcome from every result it holds: its result elements and status attributes.

    ``results`` are its ``<failure>``/``<error>``/``<skipped>`` children as (kind, message, text),
    in document order. Precedence, most severe first: failed > error > skipped > passed, whether a
    result comes from an element or from an attribute (``status="notrun"``, ``result="suppressed"``).
    An attribute value with no known meaning makes a test with no result element an error: no
    false green from a writer we do not know. Nothing is dropped: the deciding result gives
    ``message`` and the start of ``details``; every other one is appended to ``details`` after
    ``ALSO`` and its message to ``message``, so every report (JSON, HTML, Markdown, junit.xml) shows it.
    """
    if not results and not (attributes.get("status") or attributes.get("result") or attributes.get("outcome")):
        return CaseOutcome(Outcome.PASSED, "", "", 0, [])  # most test cases: nothing to weigh
    indications = [(kind, _RESULT_WORD[kind], message or "", text or "") for kind, message, text in results]
    stated: list[str] = []
    unknown: list[str] = []
    said = Outcome.PASSED
    for key in _STATUS_ATTRIBUTES:
        value = (attributes.get(key) or "").strip()
        if not value:
            continue
        quoted = f'{key}="{value[:40]}"'
        stated.append(quoted)
        meaning = _STATUS_MEANING.get(re.sub(r"[\s_-]", "", value.lower()))
        if meaning is None:
            unknown.append(quoted)
        elif _SEVERITY[meaning] > _SEVERITY[said]:
            said = meaning
    if unknown and not results and _SEVERITY[said] < _SEVERITY[Outcome.ERROR]:
        said = Outcome.ERROR
        stated.append("(a status doorbell-ci does not know: whether this test passed is unknown)")
    if said is not Outcome.PASSED:
        indications.append((said, "status", f"{said.value}: {' '.join(stated)}", ""))
    elif unknown:  # a result element decides; keep the odd value in sight
        indications.append((Outcome.PASSED, "status", " ".join(stated), ""))
    bad = sum(1 for kind, source, _, _ in indications if kind in (Outcome.FAILED, Outcome.ERROR)
              and source != "status") or int(_SEVERITY[said] >= _SEVERITY[Outcome.ERROR])
    if not indications or all(kind is Outcome.PASSED for kind, *_ in indications):
        return CaseOutcome(Outcome.PASSED, "", "", 0, unknown)
    top = max(_SEVERITY[kind] for kind, *_ in indications)
    deciding = [i for i in indications if _SEVERITY[i[0]] == top]
    winner = next((i for i in deciding if i[2]), deciding[0])
    others = [i for i in indications if i is not winner and (i[2] or i[3].strip())]
    message = winner[2] or (winner[3].strip().splitlines() or [""])[0]
    details = winner[3].strip()
    for _kind, source, other_message, text in others:
        details += f"{ALSO}{source}{': ' + other_message if other_message else ''} ---\n{text.strip()}".rstrip()
    also = [f"{source}: {other_message[:200]}" for _kind, source, other_message, _ in others if other_message]
    if also:
        shown = also[:5] + ([f"and {len(also) - 5} more"] if len(also) > 5 else [])
        message = f"{message} (also {'; '.join(shown)})" if message else "; ".join(shown)
    return CaseOutcome(winner[0], message, details.strip(), bad, unknown)


def primary_details(details: str) -> str:
    """The deciding result's part of ``TestResult.details``: what a failure signature is made from."""
    return details.split(ALSO, 1)[0]


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

    kind: int  # _ROOT, _SUITE, _CASE or _OTHER
    top: bool = False  # a testsuite directly under the root (or the root testsuite itself)
    zero_based_lines: bool = False  # inherited from the top-level testsuite
    direct: list[TestResult] = field(default_factory=list)  # its own testcases, nested suites excluded
    nested: list[TestResult] = field(default_factory=list)  # the testcases of the testsuites inside it
    declared: tuple[int, ...] = (0, 0, 0, 0)  # its own tests, failures, errors, skipped attributes
    inner: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # what the suites inside it declare


_AN_OTHER = _Open(_OTHER)  # stands for every element that is neither a suite nor a counted testcase


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


def junit_size_problem(path: Path, max_bytes: int, name: str | None = None) -> str | None:
    """Why ``path`` must not even be copied (not a regular file, or over the limit), or None.

    A missing file passes (the reader says it was not written). A device such as /dev/zero
    behind a symlink reports size 0 and never ends: copying it would fill the disk.
    """
    try:
        status = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(status.st_mode):
        return f"{name or path.name} is not a regular file"
    if status.st_size > max_bytes:
        return _over_limit_message(name or path.name, status.st_size, max_bytes)
    return None


def read_junit(path: Path, suite: str, max_bytes: int = DEFAULT_JUNIT_MAX_BYTES,
               facts: JunitFacts | None = None, name: str | None = None) -> list[TestResult]:
    """Read one JUnit XML file into TestResults; anything unreadable is a CollectError with the reason.

    ``facts``, when given, is filled with what the file declares and what was read, to compare.
    ``name`` is how the messages call the file (default: its name): for a command suite, the path
    the user configured, not doorbell-ci's copy of it.
    """
    return list(iter_junit(path, suite, max_bytes, facts, name))


def iter_junit(path: Path, suite: str, max_bytes: int = DEFAULT_JUNIT_MAX_BYTES,
               facts: JunitFacts | None = None, name: str | None = None) -> Iterator[TestResult]:
    """Stream the TestResults of one JUnit XML file, in junitparser's order, in bounded memory.

    The file is parsed by expat with defusedxml's refusals (``_ExpatReader``: DTD entities and
    external references are refused before anything is expanded or fetched, as
    ``defusedxml.parse`` does). Each finished ``<testcase>`` that is more than a plain pass is
    handed to junitparser (``_case_type().fromelem``) so the dialects are interpreted as before;
    the reader holds the open elements and one testcase at a time, not the file. What it cannot
    bound: expat holds a single text node or attribute value whole
    until its element ends (a test that printed 300 MB without a newline is one text node), and
    the results list grows with the number of tests. ``max_bytes`` (``--junit-max-mb``) bounds
    both, and so does ``MAX_TESTS``; ``MAX_DEPTH`` bounds the stack of open elements.

    Order: a testsuite's own testcases, then those of the testsuites nested in it, depth first,
    which is how junitparser's ``TestSuite.__iter__`` walks them; testcases outside a chain of
    ``<testsuite>`` elements from the root are not tests (junitparser does not see them either).
    """
    name = name or path.name
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block us
    except FileNotFoundError:
        raise CollectError(f"{name} was not written") from None
    except OSError as error:
        raise CollectError(f"{name} could not be read: {error.strerror or error}") from None
    status = os.fstat(descriptor)  # the file actually opened, not whatever the path names now
    if not stat.S_ISREG(status.st_mode):
        os.close(descriptor)  # before fdopen, which refuses a folder with an IsADirectoryError
        kind = "a folder, not a file" if stat.S_ISDIR(status.st_mode) else "not a regular file"
        raise CollectError(f"{name} is {kind}")
    facts = JunitFacts() if facts is None else facts
    with os.fdopen(descriptor, "rb") as handle:
        if status.st_size == 0:
            raise CollectError(f"{name} is empty (the runner was probably killed before writing it)")
        if status.st_size > max_bytes:
            raise CollectError(_over_limit_message(name, status.st_size, max_bytes))
        try:
            yield from _stream(_Capped(handle, max_bytes, name), name, suite, facts)
        except DefusedXmlException as error:
            raise CollectError(f"{name} declares a DTD or entities, which are refused: {error}") from None
        except LookupError as error:  # expat asks the codecs module for the declared encoding
            raise CollectError(f"{name} declares an encoding Python does not know ({error})") from None
        except (OSError, ValueError) as error:
            raise CollectError(f"{name} could not be read: {error}") from None


def _stream(source: _Capped, name: str, suite: str, facts: JunitFacts) -> Iterator[TestResult]:
    reader = _ExpatReader(name, suite, facts)
    parser = reader.parser
    try:
        while chunk := source.read(_CHUNK):
            parser.Parse(chunk, False)
            if reader.ready:
                ready, reader.ready = reader.ready, []
                yield from ready  # streamed a chunk at a time: the file is never held whole
        parser.Parse(b"", True)
        yield from reader.ready
    except expat.ExpatError as error:
        reason = _parse_problem(name, error, source.handle, reader.started)
        headers = [opened.declared for opened in reader.path if opened.kind in (_ROOT, _SUITE)]
        header = [max(values) for values in zip(*headers, strict=True)] if headers else None
        if header and any(header):  # a file cut after its suite header still says what it held
            reason += (f"; its header declares {header[0]} tests, {header[1]} failed, {header[2]} errors, "
                       f"{header[3]} skipped")
        raise CollectError(reason) from None


_CHUNK = 1 << 16  # bytes handed to expat at a time


class _ExpatReader:
    """The JUnit reader's parser: pyexpat (C) with handlers for just what the reader needs.

    Why not defusedxml's ``iterparse``: it runs on ElementTree's pure-Python ``XMLParser`` (the C one
    has no hook for defusedxml's refusals), which made an element object and two events for every
    element of the file: most of reading 100,000 testcases (docs/PERFORMANCE.md, "Report building").

    Safety, as defusedxml's parsers do it and with its exception types: expat's own handlers raise
    on an entity declaration (general or parameter, parsed or unparsed) and on any external entity
    reference, before anything is expanded or fetched; external DTDs and parameter entities are
    never read (``XML_PARAM_ENTITY_PARSING_NEVER``). A reference to an entity that was not declared
    (possible once a DTD names an external subset) is the "undefined entity" error ElementTree's
    parser gives; a parameter entity reference that expat skips is refused like a declaration. A
    DOCTYPE alone stays harmless and is read, as before.

    Same document model as before: expat with namespace processing and "}" as separator, names
    written ``{uri}local`` (ElementTree's form), buffered text. Suites and the root keep only their
    attributes; a childless testcase in pytest's form becomes a TestResult straight from its
    attributes (``_plain_passed``); any other testcase is rebuilt as ElementTree elements (the C
    ``TreeBuilder``, as iterparse did) and read by junitparser and ``_to_result`` exactly as before.
    """

    def __init__(self, name: str, suite: str, facts: JunitFacts) -> None:
        self.name, self.suite, self.facts = name, suite, facts
        self.case_type = _case_type()
        self.path: list[_Open] = []  # the open elements outside testcases, root first
        self.ready: list[TestResult] = []  # results in junitparser's order, not yet handed on
        self.started = False
        self.count = 0
        self.case_depth = 0  # open elements of the current counted testcase, itself included; 0 = none
        self.case_attrib: dict[str, str] = {}
        self.case_text: list[str] | None = None  # text before its first child, should the case be rebuilt
        self.builder: TreeBuilder | None = None  # rebuilding the current testcase, when not plain
        parser = self.parser = expat.ParserCreate(None, "}")
        parser.buffer_text = True
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.EntityDeclHandler = _refuse_entity_declaration
        parser.UnparsedEntityDeclHandler = _refuse_unparsed_entity
        parser.ExternalEntityRefHandler = _refuse_external_reference
        parser.SkippedEntityHandler = self._skipped_entity
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._data

    def _start(self, tag: str, attrib: dict[str, str]) -> None:
        if self.case_depth:
            self._start_in_case(tag, attrib)
            return
        path = self.path
        if len(path) >= MAX_DEPTH:
            raise CollectError(f"{self.name} nests elements more than {MAX_DEPTH} levels deep, "
                               "too deep to be real test results")
        self.started = True
        if tag == "testcase" and path and path[-1].kind == _SUITE:
            self.case_depth, self.case_attrib, self.case_text = 1, attrib, None
            return
        opened = _classify(path[-1] if path else None, tag, attrib, self.name)
        if opened.kind in (_ROOT, _SUITE):
            opened.declared = _declared_counts(tag, attrib, self.facts)
        path.append(opened)

    def _start_in_case(self, tag: str, attrib: dict[str, str]) -> None:
        if len(self.path) + self.case_depth >= MAX_DEPTH:
            raise CollectError(f"{self.name} nests elements more than {MAX_DEPTH} levels deep, "
                               "too deep to be real test results")
        if self.builder is None:
            self._rebuild_case()
        self.case_depth += 1
        self.builder.start(_et_name(tag), _et_attrib(attrib))  # type: ignore[union-attr]

    def _end(self, tag: str) -> None:
        depth = self.case_depth
        if depth > 1:
            self.case_depth = depth - 1
            self.builder.end(_et_name(tag))  # type: ignore[union-attr]
        elif depth:
            self.case_depth = 0
            self._close_case()
        else:
            self._close_outside_case()

    def _close_outside_case(self) -> None:
        path = self.path
        closed = path.pop()
        if closed.kind == _OTHER:
            return
        parent = path[-1] if path else None
        if closed.kind == _SUITE:
            if closed.top:
                self.ready += closed.nested
            elif parent is not None:
                parent.nested += closed.direct + closed.nested
        _close_declared(closed, parent, self.facts)

    def _data(self, text: str) -> None:
        if self.case_depth:
            if self.builder is not None:
                self.builder.data(text)
            elif self.case_text is None:
                self.case_text = [text]
            else:
                self.case_text.append(text)

    def _rebuild_case(self) -> None:
        """The testcase has more than attributes: build it as ElementTree elements for junitparser."""
        builder = self.builder = TreeBuilder()
        builder.start("testcase", _et_attrib(self.case_attrib))
        for text in self.case_text or ():
            builder.data(text)

    def _close_case(self) -> None:
        self.count += 1
        if self.count > MAX_TESTS:
            raise CollectError(f"{self.name} holds more than {MAX_TESTS:,} testcases; split the suite")
        parent = self.path[-1]
        builder = self.builder
        result = None if builder is not None else _plain_passed(self.case_attrib, self.suite, parent.zero_based_lines)
        if result is None:
            if builder is None:
                self._rebuild_case()
                builder = self.builder
            self.builder = None
            builder.end("testcase")  # type: ignore[union-attr]
            case = self.case_type.fromelem(builder.close())  # type: ignore[union-attr]
            result = _to_result(case, self.suite, parent.zero_based_lines, self.facts)
        else:
            self.facts.read_tests += 1
        result.classname = sys.intern(result.classname)  # one copy per class, not per test
        if result.file:
            result.file = sys.intern(result.file)
        if parent.top:
            self.ready.append(result)  # nothing can come before a top-level suite's own testcases
        else:
            parent.direct.append(result)

    def _skipped_entity(self, entity: str, is_parameter_entity: bool) -> None:
        if is_parameter_entity:
            raise EntitiesForbidden(entity, None, None, None, None, None)
        error = expat.ExpatError(f"undefined entity &{entity};: line {self.parser.ErrorLineNumber}, "
                                 f"column {self.parser.ErrorColumnNumber}")  # as ElementTree's XMLParser says it
        error.code = expat_errors.codes[expat_errors.XML_ERROR_UNDEFINED_ENTITY]
        error.lineno, error.offset = self.parser.ErrorLineNumber, self.parser.ErrorColumnNumber
        raise error


# defusedxml's handlers (defusedxml.ElementTree.DefusedXMLParser, defusedxml.expatreader), with its exceptions
def _refuse_entity_declaration(name: str, _is_parameter_entity: bool, value: str | None, base: str | None,
                               sysid: str | None, pubid: str | None, notation_name: str | None) -> None:
    raise EntitiesForbidden(name, value, base, sysid, pubid, notation_name)


def _refuse_unparsed_entity(name: str, base: str | None, sysid: str | None, pubid: str | None,
                            notation_name: str | None) -> None:
    raise EntitiesForbidden(name, None, base, sysid, pubid, notation_name)


def _refuse_external_reference(context: str | None, base: str | None, sysid: str | None,
                               pubid: str | None) -> None:
    raise ExternalReferenceForbidden(context, base, sysid, pubid)


def _et_name(name: str) -> str:
    """expat's ``uri}local`` as ElementTree writes it, ``{uri}local``."""
    return "{" + name if "}" in name else name


def _et_attrib(attrib: dict[str, str]) -> dict[str, str]:
    return {_et_name(key): value for key, value in attrib.items()}


def _classify(parent: _Open | None, tag: str, attrib: dict[str, str], name: str) -> _Open:
    """What a just-opened element outside a testcase is, going by junitparser's rules (see ``iter_junit``)."""
    if parent is None:
        if tag == "testsuites":
            return _Open(_ROOT)
        if tag == "testsuite":
            return _Open(_SUITE, top=True, zero_based_lines=attrib.get("name") == "pytest")
        raise CollectError(f"{name} is not JUnit XML: its root element is <{_et_name(tag)}>, "
                           "not <testsuites> or <testsuite>")
    if parent.kind in (_ROOT, _SUITE) and tag == "testsuite":
        top = parent.kind == _ROOT
        # pytest writes item.location's 0-based line; its testsuite is named "pytest"
        zero_based = attrib.get("name") == "pytest" if top else parent.zero_based_lines
        return _Open(_SUITE, top=top, zero_based_lines=zero_based)
    return _AN_OTHER


def _parse_problem(name: str, error: expat.ExpatError | ParseError, handle: BinaryIO, started: bool) -> str:
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


def _plain_passed(attrib: dict[str, str], suite: str, zero_based_lines: bool) -> TestResult | None:
    """A passed test in pytest's own form, read from its attributes alone; None for anything else.

    Most testcases of a big run are childless ``<testcase name classname file line time/>``:
    building junitparser's objects for each (``fromelem``, its result list, the searches of
    ``_to_result``) was two thirds of reading 100,000 of them (docs/PERFORMANCE.md, "Report
    building"). This handles only that exact shape with well-formed numbers (the caller hands it
    childless testcases only); any other attribute (``status``, ``filepath``, ...) or a number it
    does not take at face value returns None, and ``_to_result`` decides as before. The result is
    the one ``_to_result`` gives.
    """
    if not attrib.keys() <= _PLAIN_CASE:
        return None
    time_text = attrib.get("time")
    if time_text:
        try:
            duration = float(time_text)
        except ValueError:
            return None
        if not 0.0 <= duration < _INFINITY:  # nan, inf, negative: the general path's rules apply
            return None
    else:
        duration = 0.0
    line_text = attrib.get("line")
    if line_text is None:
        line = None
    elif line_text.isdecimal() and len(line_text) <= 9:
        line = int(line_text) + zero_based_lines
    else:
        return None
    # positional: this runs once per test, and keyword arguments cost a third more (TestResult's field order)
    return TestResult(suite, attrib.get("name") or "(unnamed)", attrib.get("classname") or "", _PASSED, duration,
                      attrib.get("file") or None, line)


_INFINITY = math.inf
_PASSED = Outcome.PASSED


@functools.cache
def _bad_result_types() -> tuple[type, type]:
    """junitparser's Failure and Error, imported on first use like ``_case_type`` (once, not per testcase)."""
    from junitparser import Error, Failure

    return Failure, Error


def _to_result(case: Any, suite: str, zero_based_lines: bool = False, facts: JunitFacts | None = None) -> TestResult:
    Failure, Error = _bad_result_types()  # noqa: N806 - the classes' own names

    entries = case.result
    held = [(Outcome.FAILED if isinstance(entry, Failure) else Outcome.ERROR if isinstance(entry, Error)
             else Outcome.SKIPPED, entry.message or "", entry.text or "") for entry in entries] if entries else []
    decided = case_outcome(held, case._elem.attrib)  # noqa: SLF001 - junitparser's own element
    outcome, message, details = decided.outcome, decided.message, decided.details
    if facts is not None:
        facts.read_tests += 1
        if outcome is not Outcome.PASSED:
            facts.read_bad += decided.bad_results
            facts.read_skipped += outcome is Outcome.SKIPPED
        for value in decided.unknown:
            if value in facts.unknown_statuses or len(facts.unknown_statuses) < MAX_NOTES:
                facts.unknown_statuses[value] = facts.unknown_statuses.get(value, 0) + 1
    try:
        duration = float(case.time or 0.0)
    except (TypeError, ValueError):
        duration = 0.0
    if not math.isfinite(duration):  # time="nan" / "inf" would make report.json invalid JSON
        duration = 0.0
    line_text = (case.line or "").strip()
    # isdecimal, not isdigit: int() refuses "²"; and a 4,300-digit line number is no line
    line_number = int(line_text) if line_text.isdecimal() and len(line_text) <= 9 else None
    # Maven Surefire's <flakyFailure>/<flakyError>: failed, then passed on a rerun (our junit.xml writes
    # them too); next to a <failure>, doorbell-ci's own form of a flaky test counted as failed
    flaky = outcome is not Outcome.SKIPPED and any(
        child.tag in _FLAKY_TAGS for child in case._elem)  # noqa: SLF001 - junitparser's own element
    return TestResult(
        suite=suite,
        name=case.name or "(unnamed)",
        flaky=flaky,
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


_FLAKY_TAGS = frozenset({"flakyFailure", "flakyError"})


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    if len(text) <= limit:
        return text
    return text[: limit // 2] + f"\n... [{len(text) - limit} characters cut] ...\n" + text[-limit // 2 :]
