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

from doorbell_ci.results import Outcome, RunResult, SuiteStatus

FILENAME = "junit.xml"
_RESULT_TYPES = (Outcome.FAILED, Outcome.ERROR, Outcome.SKIPPED)  # the outcomes with a result element
_TAGS = {Outcome.FAILED: "failure", Outcome.ERROR: "error", Outcome.SKIPPED: "skipped"}


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # lone surrogates too


def _xml_text(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (control characters from captured output)."""
    return _NOT_XML.sub("", text)


def build(run: RunResult) -> JUnitXml:
    """The merged document: junitparser's document and suites, each testcase one plain element.

    Wrapping every testcase in junitparser's objects and letting ``update_statistics`` walk them
    again took longer than reading the suites' XML and writing every other report together
    (3.5 s for 100,000 tests; docs/PERFORMANCE.md, "Report building"). The elements are the ones
    junitparser would make (its element type, via ``makeelement``; same tags, attributes and
    order), and the counts are junitparser's rules applied to the results already in hand.
    """
    document = JUnitXml(name="doorbell-ci")
    totals = [0, 0, 0, 0, 0.0]  # tests, failures, errors, skipped, time: the order junitparser writes
    for suite in run.suites:
        if suite.status in (SuiteStatus.ABSENT, SuiteStatus.NOT_RUN):
            continue
        testsuite = TestSuite(suite.name)
        testsuite.timestamp = suite.started_at or ""
        parent = testsuite._elem  # noqa: SLF001 - junitparser has no API to add a plain element
        tally = dict.fromkeys(_RESULT_TYPES, 0)
        time = 0.0
        for test in suite.tests:
            duration = float(round(test.duration, 6))
            attrib = {"name": _xml_text(test.name), "classname": _xml_text(test.classname), "time": str(duration)}
            if test.file:
                attrib["file"] = _xml_text(test.file)
            if test.line is not None:
                attrib["line"] = str(test.line)
            case = parent.makeelement("testcase", attrib)
            parent.append(case)
            time += duration
            if test.outcome in tally:
                tally[test.outcome] += 1
                _child(case, _TAGS[test.outcome], test.message, test.details)
            if test.flaky and test.outcome is Outcome.PASSED:
                # Maven Surefire's convention for "passed on a rerun": readers that do not know it see a pass.
                _child(case, "flakyFailure", test.message, test.details, always_message=True)
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
