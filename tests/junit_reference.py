"""The JUnit reader as it was before issue 17's expat reader: defusedxml's ``iterparse``, every testcase
through junitparser. Kept only as the reference ``tests/unit/test_results_reader_equality.py`` compares the
reader with: the same TestResults and JunitFacts from every file, or the same refusal.

The event loop is the one of commit 1cad2eb (``results._stream``); the shortcut for plain passed
testcases (``_plain_passed``) is left out here, so the reference takes junitparser's way for every
testcase. The outcome rules (``_to_result``, ``case_outcome``) and the declared counts are shared
with the reader: what is compared is how the file is parsed into testcases.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_etree
from defusedxml import DefusedXmlException

from doorbell_ci import results
from doorbell_ci.errors import CollectError
from doorbell_ci.results import JunitFacts, TestResult


def read_junit_reference(path: Path, suite: str, facts: JunitFacts | None = None) -> list[TestResult]:
    """``results.read_junit`` with the pre-issue-17 parser (no size limit, no FIFO checks: fixtures only)."""
    name = path.name
    facts = JunitFacts() if facts is None else facts
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise CollectError(f"{name} is empty (the runner was probably killed before writing it)")
        try:
            return list(_stream(results._Capped(handle, results.DEFAULT_JUNIT_MAX_BYTES, name), name, suite, facts))
        except DefusedXmlException as error:
            raise CollectError(f"{name} declares a DTD or entities, which are refused: {error}") from None
        except LookupError as error:
            raise CollectError(f"{name} declares an encoding Python does not know ({error})") from None
        except (OSError, ValueError) as error:
            raise CollectError(f"{name} could not be read: {error}") from None


@dataclass(slots=True)
class _Open:
    """One element the streaming reader is inside of, with what it has read under it so far."""

    elem: Element
    kind: int  # results._ROOT, _SUITE, _CASE or _OTHER
    top: bool = False  # a testsuite directly under the root (or the root testsuite itself)
    zero_based_lines: bool = False  # inherited from the top-level testsuite
    direct: list[TestResult] = field(default_factory=list)  # its own testcases, nested suites excluded
    nested: list[TestResult] = field(default_factory=list)  # the testcases of the testsuites inside it
    declared: tuple[int, ...] = (0, 0, 0, 0)  # its own tests, failures, errors, skipped attributes
    inner: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # what the suites inside it declare


_IN_CASE = _Open(Element("in-case"), results._OTHER)  # stands for every element inside a counted testcase
_A_CASE = _Open(Element("testcase"), results._CASE)  # stands for every counted testcase: nothing is kept on it


def _stream(source: results._Capped, name: str, suite: str, facts: JunitFacts) -> Iterator[TestResult]:
    events = safe_etree.iterparse(source, events=("start", "end"))
    case_type = results._case_type()
    path: list[_Open] = []  # the open elements, root first
    in_case = False  # inside a counted testcase: its subtree is kept whole until it ends
    count = 0
    started = False
    try:
        for event, elem in events:
            if event == "start":
                if len(path) >= results.MAX_DEPTH:
                    raise CollectError(f"{name} nests elements more than {results.MAX_DEPTH} levels deep, "
                                       "too deep to be real test results")
                started = True
                if in_case:
                    path.append(_IN_CASE)
                    continue
                opened = _classify(path[-1] if path else None, elem, name)
                in_case = opened.kind == results._CASE
                if opened.kind in (results._ROOT, results._SUITE):
                    opened.declared = results._declared_counts(elem.tag, elem.attrib, facts)
                path.append(opened)
                continue
            closed = path.pop()
            if closed is _IN_CASE:
                continue
            parent = path[-1] if path else None
            if closed.kind == results._CASE and parent is not None:
                in_case = False
                count += 1
                if count > results.MAX_TESTS:
                    raise CollectError(f"{name} holds more than {results.MAX_TESTS:,} testcases; split the suite")
                # the reference always takes junitparser's way (no _plain_passed shortcut)
                result = results._to_result(case_type.fromelem(elem), suite, parent.zero_based_lines, facts)
                result.classname = sys.intern(result.classname)  # one copy per class, not per test
                if result.file:
                    result.file = sys.intern(result.file)
                if parent.top:
                    yield result  # nothing can come before a top-level suite's own testcases
                else:
                    parent.direct.append(result)
            elif closed.kind == results._SUITE:
                if closed.top:
                    yield from closed.nested
                elif parent is not None:
                    parent.nested += closed.direct + closed.nested
            if closed.kind in (results._ROOT, results._SUITE):
                results._close_declared(closed, parent, facts)
            if parent is not None:
                parent.elem.remove(elem)  # read: drop it (it is the only child left) and all below it
                elem.clear()
    except ParseError as error:
        reason = results._parse_problem(name, error, source.handle, started)
        headers = [opened.declared for opened in path if opened.kind in (results._ROOT, results._SUITE)]
        header = [max(values) for values in zip(*headers, strict=True)] if headers else None
        if header and any(header):  # a file cut after its suite header still says what it held
            reason += (f"; its header declares {header[0]} tests, {header[1]} failed, {header[2]} errors, "
                       f"{header[3]} skipped")
        raise CollectError(reason) from None


def _classify(parent: _Open | None, elem: Element, name: str) -> _Open:
    """What a just-opened element is, going by junitparser's rules (see ``iter_junit``)."""
    if parent is None:
        if elem.tag == "testsuites":
            return _Open(elem, results._ROOT)
        if elem.tag == "testsuite":
            return _Open(elem, results._SUITE, top=True, zero_based_lines=elem.get("name") == "pytest")
        raise CollectError(f"{name} is not JUnit XML: its root element is <{elem.tag}>, "
                           "not <testsuites> or <testsuite>")
    if parent.kind in (results._ROOT, results._SUITE) and elem.tag == "testsuite":
        top = parent.kind == results._ROOT
        # pytest writes item.location's 0-based line; its testsuite is named "pytest"
        zero_based = elem.get("name") == "pytest" if top else parent.zero_based_lines
        return _Open(elem, results._SUITE, top=top, zero_based_lines=zero_based)
    if parent.kind == results._SUITE and elem.tag == "testcase":
        return _A_CASE
    return _Open(elem, results._OTHER)
