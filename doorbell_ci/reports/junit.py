"""The merged junit.xml: one <testsuite> per doorbell-ci suite, written with junitparser.

It is built from the collected results rather than by pasting files together, so suites
that never wrote XML (killed at a timeout, a crashed runner) still appear with the tests
that finished and an error case that says what happened.
"""

from __future__ import annotations

import re
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Skipped, SystemErr, SystemOut, TestCase, TestSuite

from doorbell_ci.results import Outcome, RunResult, SuiteStatus, TestResult

FILENAME = "junit.xml"
_RESULT_TYPES = {Outcome.FAILED: Failure, Outcome.ERROR: Error, Outcome.SKIPPED: Skipped}
_FAILING = (Outcome.FAILED, Outcome.ERROR)
# rerun outcomes that are errors, not assertion failures
_ERRORISH = frozenset({"error", "timeout", "no result", "not found"})


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # lone surrogates too


def _xml_text(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (control characters from captured output)."""
    return _NOT_XML.sub("", text)


def _rerun_elements(case: TestCase, test: TestResult, attempts: list[str]) -> None:
    """Maven Surefire's rerun elements, which mikepenz/action-junit-report and Jenkins read.

    Passed on a rerun: one ``<flakyFailure>`` (``<flakyError>``) per failed run, the first run
    included, and no failure: readers that do not know the elements see a pass. Failed on every
    rerun: the ``<failure>`` plus one ``<rerunFailure>`` (``<rerunError>``) per failed rerun. A flaky
    test counted as failed (``flaky_fails``) keeps its ``<failure>`` and gets the flaky elements, which
    doorbell-ci's reader (results.py) reads back as a flaky failure.
    """
    message, details = _xml_text(test.message), _xml_text(test.details)
    if test.flaky:
        failed = [a for a in attempts if a != Outcome.PASSED.value]
        for status in ["failed", *failed]:
            _append(case, "flakyError" if status in _ERRORISH else "flakyFailure", message, details)
        return
    for status in attempts:
        if status != Outcome.PASSED.value:
            _append(case, "rerunError" if status in _ERRORISH else "rerunFailure", message, details)


def _append(case: TestCase, tag: str, message: str, details: str) -> None:
    # makeelement + append, not xml.etree's SubElement: junitparser's elements are lxml's when
    # lxml is installed, and xml.etree refuses those (TypeError)
    element = case._elem.makeelement(tag, {"message": message})  # noqa: SLF001 - junitparser has no API for it
    element.text = details
    case._elem.append(element)  # noqa: SLF001


def build(run: RunResult) -> JUnitXml:
    from doorbell_ci.analysis.signatures import test_key

    analysis = run.analysis if isinstance(run.analysis, dict) else {}
    reruns = analysis.get("reruns") if isinstance(analysis.get("reruns"), dict) else {}
    attempts = reruns.get("attempts") if isinstance(reruns.get("attempts"), dict) else {}
    document = JUnitXml(name="doorbell-ci")
    for suite in run.suites:
        if suite.status in (SuiteStatus.ABSENT, SuiteStatus.NOT_RUN):
            continue
        testsuite = TestSuite(suite.name)
        testsuite.timestamp = suite.started_at or ""
        for test in suite.tests:
            case = TestCase(_xml_text(test.name), _xml_text(test.classname), round(test.duration, 6))
            if test.file:
                case._elem.set("file", _xml_text(test.file))  # noqa: SLF001 - junitparser has no API for it
            if test.line is not None:
                case._elem.set("line", str(test.line))  # noqa: SLF001
            result_type = _RESULT_TYPES.get(test.outcome)
            if result_type is not None:
                entry = result_type(_xml_text(test.message))
                entry.text = _xml_text(test.details)
                case.result = [entry]
            tried = attempts.get(test_key(test)) if test.flaky or test.outcome in _FAILING else None
            if test.flaky or tried:
                _rerun_elements(case, test, tried if isinstance(tried, list) else [])
            if test.stdout:
                case.append(SystemOut(_xml_text(test.stdout)))
            if test.stderr:
                case.append(SystemErr(_xml_text(test.stderr)))
            testsuite._add_testcase_no_update_stats(case)  # noqa: SLF001 - one stats pass below
        if suite.status in (SuiteStatus.ERROR, SuiteStatus.TIMEOUT):
            case = TestCase(f"{suite.name} ({suite.status.value})", f"doorbell-ci.{suite.name}", 0.0)
            entry = Error(_xml_text(suite.reason))
            entry.text = _xml_text(suite.output_tail)
            case.result = [entry]
            testsuite._add_testcase_no_update_stats(case)  # noqa: SLF001
        testsuite.update_statistics()
        document.add_testsuite(testsuite)
    document.update_statistics()
    return document


def write(run: RunResult, output_dir: Path) -> Path:
    path = output_dir / FILENAME
    build(run).write(str(path))
    return path
