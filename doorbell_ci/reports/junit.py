"""The merged junit.xml: one <testsuite> per doorbell-ci suite, written with junitparser.

It is built from the collected results rather than by pasting files together, so suites
that never wrote XML (killed at a timeout, a crashed runner) still appear with the tests
that finished and an error case that says what happened.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from junitparser import JUnitXml, TestSuite

from doorbell_ci.results import Outcome, RunResult, SuiteStatus, TestResult

FILENAME = "junit.xml"
_RESULT_TYPES = (Outcome.FAILED, Outcome.ERROR, Outcome.SKIPPED)  # the outcomes with a result element
_TAGS = {Outcome.FAILED: "failure", Outcome.ERROR: "error", Outcome.SKIPPED: "skipped"}
_FAILING = (Outcome.FAILED, Outcome.ERROR)
# rerun outcomes that are errors, not assertion failures
_ERRORISH = frozenset({"error", "timeout", "no result", "not found"})


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # lone surrogates too


def _xml_text(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (control characters from captured output).

    ``isprintable`` first: a C loop that is true for nearly every name (it is false for every
    character ``_NOT_XML`` matches: controls, surrogates, U+FFFE/U+FFFF), so the regex only runs
    on the few texts that may need it: 100,000 names, classnames and paths went through it before."""
    return text if text.isprintable() else _NOT_XML.sub("", text)


def build(run: RunResult) -> JUnitXml:
    """The merged document: junitparser's document and suites, each testcase one plain element.

    Wrapping every testcase in junitparser's objects and letting ``update_statistics`` walk them
    again took longer than reading the suites' XML and writing every other report together
    (3.5 s for 100,000 tests; docs/PERFORMANCE.md, "Report building"). The elements are the ones
    junitparser would make (its element type, via ``makeelement``; same tags, attributes and
    order), and the counts are junitparser's rules applied to the results already in hand.
    """
    from doorbell_ci.analysis.signatures import test_key

    analysis = run.analysis if isinstance(run.analysis, dict) else {}
    reruns = analysis.get("reruns") if isinstance(analysis.get("reruns"), dict) else {}
    attempts = reruns.get("attempts") if isinstance(reruns.get("attempts"), dict) else {}
    document = JUnitXml(name="doorbell-ci")
    totals = [0, 0, 0, 0, 0.0]  # tests, failures, errors, skipped, time: the order junitparser writes
    for suite in run.suites:
        if suite.status in (SuiteStatus.ABSENT, SuiteStatus.NOT_RUN):
            continue
        testsuite = TestSuite(suite.name)
        testsuite.timestamp = suite.started_at or ""
        parent = testsuite._elem  # noqa: SLF001 - junitparser has no API to add a plain element
        make, append, testcase = parent.makeelement, parent.append, "testcase"
        tally = dict.fromkeys(_RESULT_TYPES, 0)
        time = 0.0
        clean: dict[str, str] = {}  # classnames and paths repeat: each cleaned once
        for test in suite.tests:
            duration = float(test.duration)  # an int from a caller still writes "0.0"
            written = repr(duration)
            if len(written) > 8 or "e" in written:  # round() only where it can change something (microseconds)
                duration = float(round(duration, 6))
                written = repr(duration)
            classname = test.classname
            attrib = {"name": _xml_text(test.name),
                      "classname": clean.get(classname) or clean.setdefault(classname, _xml_text(classname)),
                      "time": written}
            if test.file:
                attrib["file"] = clean.get(test.file) or clean.setdefault(test.file, _xml_text(test.file))
            if test.line is not None:
                attrib["line"] = str(test.line)
            case = make(testcase, attrib)
            append(case)
            time += duration
            if test.outcome in tally:
                tally[test.outcome] += 1
                _child(case, _TAGS[test.outcome], test.message, test.details)
            tried = attempts.get(test_key(test)) if test.flaky or test.outcome in _FAILING else None
            if test.flaky or tried:
                _rerun_elements(case, test, tried if isinstance(tried, list) else [])
            if test.stdout:
                _child(case, "system-out", None, test.stdout)
            if test.stderr:
                _child(case, "system-err", None, test.stderr)
        tests = len(suite.tests)
        if suite.status in (SuiteStatus.ERROR, SuiteStatus.TIMEOUT):
            case = parent.makeelement("testcase", {"name": f"{suite.name} ({suite.status.value})",
                                                   "classname": f"doorbell-ci.{suite.name}", "time": "0.0"})
            parent.append(case)
            _child(case, "error", suite.reason, suite.output_tail)
            tally[Outcome.ERROR] += 1
            tests += 1
        testsuite.tests, testsuite.errors = tests, tally[Outcome.ERROR]
        testsuite.failures, testsuite.skipped = tally[Outcome.FAILED], tally[Outcome.SKIPPED]
        testsuite.time = round(time, 3)
        document.append(testsuite)
        for index, value in enumerate((tests, tally[Outcome.FAILED], tally[Outcome.ERROR], tally[Outcome.SKIPPED],
                                       testsuite.time)):
            totals[index] += value
    document.tests, document.failures, document.errors, document.skipped = (int(v) for v in totals[:4])
    document.time = round(totals[4], 3)
    return document


def _rerun_elements(case: Any, test: TestResult, attempts: list[str]) -> None:
    """Maven Surefire's rerun elements, which mikepenz/action-junit-report and Jenkins read.

    Passed on a rerun: one ``<flakyFailure>`` (``<flakyError>``) per failed run, the first run
    included, and no failure: readers that do not know the elements see a pass. Failed on every
    rerun: the ``<failure>`` plus one ``<rerunFailure>`` (``<rerunError>``) per failed rerun. A flaky
    test counted as failed (``flaky_fails``) keeps its ``<failure>`` and gets the flaky elements, which
    doorbell-ci's reader (results.py) reads back as a flaky failure.
    """
    if test.flaky:
        failed = [a for a in attempts if a != Outcome.PASSED.value]
        for status in ["failed", *failed]:
            tag = "flakyError" if status in _ERRORISH else "flakyFailure"
            _child(case, tag, test.message, test.details, always_message=True)
        return
    for status in attempts:
        if status != Outcome.PASSED.value:
            tag = "rerunError" if status in _ERRORISH else "rerunFailure"
            _child(case, tag, test.message, test.details, always_message=True)


def _child(case: Any, tag: str, message: str | None, text: str | None, always_message: bool = False) -> None:
    """A result or output element under ``case``, as junitparser's ``Failure(message)`` etc. make it."""
    attrib = {"message": _xml_text(message)} if message or (always_message and message is not None) else {}
    element = case.makeelement(tag, attrib)
    element.text = _xml_text(text) if text is not None else None
    case.append(element)


def write(run: RunResult, output_dir: Path) -> Path:
    path = output_dir / FILENAME
    build(run).write(str(path))
    return path
