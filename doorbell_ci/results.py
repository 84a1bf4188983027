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

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as safe_etree
from defusedxml import DefusedXmlException
from junitparser import Attr, Error, Failure, JUnitXml, JUnitXmlError, Skipped, TestCase

from doorbell_ci.errors import CollectError

MAX_TEXT = 20_000  # characters kept of one message, traceback or captured stream


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


@dataclass
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


class _Case(TestCase):
    """A testcase with the attributes other dialects add (pytest xunit1, jest, Surefire)."""

    file = Attr()
    line = Attr()
    filepath = Attr("filepath")  # some tools write filepath=


def _safe_parse(source: Any) -> Any:
    """Parse without resolving entities or DTDs (defusedxml refuses them with an exception)."""
    return safe_etree.parse(source)


def read_junit(path: Path, suite: str) -> list[TestResult]:
    """Read one JUnit XML file into TestResults; anything unreadable is a CollectError with the reason."""
    try:
        if path.stat().st_size == 0:
            raise CollectError(f"{path.name} is empty (the runner was probably killed before writing it)")
        document = JUnitXml.fromfile(str(path), parse_func=_safe_parse)
    except FileNotFoundError:
        raise CollectError(f"{path.name} was not written") from None
    except ParseError as error:
        raise CollectError(f"{path.name} is not well-formed XML ({error}); truncated by a crash?") from None
    except DefusedXmlException as error:
        raise CollectError(f"{path.name} declares a DTD or entities, which are refused: {error}") from None
    except JUnitXmlError as error:
        raise CollectError(f"{path.name} is not JUnit XML: {error}") from None
    except (OSError, ValueError) as error:
        raise CollectError(f"{path.name} could not be read: {error}") from None
    results: list[TestResult] = []
    try:
        for testsuite in document:
            zero_based_lines = testsuite.name == "pytest"  # pytest writes item.location's 0-based line
            for case in testsuite:
                results.append(_to_result(_Case.fromelem(case), suite, zero_based_lines))
    except RecursionError:  # junitparser walks nested <testsuite>s recursively
        raise CollectError(f"{path.name} nests <testsuite> elements too deeply to be real test results") from None
    return results


def _to_result(case: _Case, suite: str, zero_based_lines: bool = False) -> TestResult:
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
