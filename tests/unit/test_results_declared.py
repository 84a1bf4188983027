"""What a JUnit file declares about itself against what the reader found in it (results.JunitFacts).

A file whose ``<testsuite tests="6" failures="1">`` holds no ``<testcase>`` used to be "no tests",
exit 0: the failure it declared was nowhere. The comparison takes, for each suite, the larger of its
own attribute and its nested suites' sum (writers differ on whether a suite's counts include its
nested suites; an honest file reads at least that many either way), so real files never trip it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from doorbell_ci.errors import CollectError
from doorbell_ci.results import JunitFacts, Outcome, read_junit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "junit"


def _facts(tmp_path: Path, xml: str) -> tuple[list, JunitFacts]:
    path = tmp_path / "r.xml"
    path.write_text(xml, encoding="utf-8")
    facts = JunitFacts()
    return read_junit(path, "unit", facts=facts), facts


UNTRUSTWORTHY = {
    "declared failure, no testcase": (
        '<testsuite tests="6" failures="1"></testsuite>',
        r"r\.xml declares 6 tests and 1 failure but holds no failed test case \(0 of 6 declared tests read\)"),
    "only the testsuites root declares": (
        '<testsuites tests="2" errors="1"/>', r"declares 2 tests and 1 error but holds no failed test case"),
    "root declares more than its suites": (
        '<testsuites tests="3" failures="1"><testsuite tests="1"><testcase name="a"/></testsuite></testsuites>',
        r"declares 3 tests and 1 failure but holds no failed"),
    "nested suite declares, its parent does not": (
        '<testsuites><testsuite name="outer"><testsuite name="inner" tests="3" failures="2">'
        '<testcase name="a"/></testsuite></testsuite></testsuites>',
        r"declares 3 tests and 2 failures but holds no failed test case \(1 of 3"),
    "declared error, every testcase passed": (
        '<testsuite tests="2" errors="1"><testcase name="a"/><testcase name="b"/></testsuite>',
        r"declares 2 tests and 1 error but holds no failed"),
    "testcases missing, no failure declared": (
        '<testsuite tests="5"><testcase name="a"/><testcase name="b"/><testcase name="c"/></testsuite>',
        r"declares 5 tests but holds 3 test cases: the results of 2 are missing"),
    "failures that are not a number": (
        '<testsuite tests="1" failures="many"><testcase name="a"/></testsuite>',
        r'declares failures="many" on <testsuite>, which is not a number: whether tests failed is unknown'),
    "negative errors": (
        '<testsuite tests="1" errors="-1"><testcase name="a"/></testsuite>', r'errors="-1" .* not a number'),
    "infinite tests": (
        '<testsuite tests="1e400" failures="0"><testcase name="a"/></testsuite>', None),  # only a note, below
    "two top-level suites, one empty": (
        '<testsuites><testsuite tests="1"><testcase name="a"/></testsuite>'
        '<testsuite tests="4" failures="4"/></testsuites>',
        r"declares 5 tests and 4 failures but holds no failed test case"),
}


@pytest.mark.parametrize("form", list(UNTRUSTWORTHY))
def test_a_file_that_declares_what_it_does_not_hold_says_so(tmp_path: Path, form: str) -> None:
    xml, reason = UNTRUSTWORTHY[form]
    _, facts = _facts(tmp_path, xml)
    problem = facts.problem("r.xml")
    if reason is None:
        assert problem is None
        assert any("is not a number and was ignored" in note for note in facts.notes("r.xml"))
    else:
        assert problem is not None
        assert re.search(reason, problem), problem


TRUSTWORTHY = {
    "counts match": '<testsuite tests="2" failures="1"><testcase name="a"><failure/></testcase>'
                    '<testcase name="b"/></testsuite>',
    "the file declares fewer (a writer that puts zeros in its header)":
        '<testsuite tests="0" failures="0"><testcase name="a"><failure/></testcase><testcase name="b"/></testsuite>',
    "no attributes at all": '<testsuites><testsuite><testcase name="a"/></testsuite></testsuites>',
    "parent counts include its nested suite":
        '<testsuite tests="3" failures="1"><testcase name="a"/><testsuite tests="2" failures="1">'
        '<testcase name="b"><failure/></testcase><testcase name="c"/></testsuite></testsuite>',
    "parent counts only its own testcases":
        '<testsuite tests="1"><testcase name="a"/><testsuite tests="2" failures="1">'
        '<testcase name="b"><failure/></testcase><testcase name="c"/></testsuite></testsuite>',
    "pytest's fail-then-teardown-error: one test, one failure and one error":
        '<testsuite tests="1" failures="1" errors="1"><testcase name="a"><failure message="f">x</failure>'
        '<error message="teardown">y</error></testcase></testsuite>',
    "numbers written as 2.0": '<testsuite tests="2.0" failures="1.0"><testcase name="a"><failure/></testcase>'
                              '<testcase name="b"/></testsuite>',
    "googletest's disabled count": '<testsuite tests="2" disabled="1"><testcase name="a"/>'
                                   '<testcase name="DISABLED_b" status="notrun" result="suppressed"/></testsuite>',
}


@pytest.mark.parametrize("form", list(TRUSTWORTHY))
def test_honest_files_raise_nothing(tmp_path: Path, form: str) -> None:
    _, facts = _facts(tmp_path, TRUSTWORTHY[form])
    assert facts.problem("r.xml") is None
    assert facts.notes("r.xml") == []


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.xml")))
def test_the_real_writers_fixture_files_raise_nothing(name: str) -> None:
    facts = JunitFacts()
    try:
        read_junit(FIXTURES / name, "unit", facts=facts)
    except CollectError:
        return  # the broken fixtures (empty, truncated, DTD) are errors for their own reasons
    assert facts.problem(name) is None
    assert facts.notes(name) == []


def test_missing_testcases_explained_by_declared_skips_are_a_notice_not_an_error(tmp_path: Path) -> None:
    _, facts = _facts(tmp_path, '<testsuite tests="3" skipped="1"><testcase name="a"/><testcase name="b"/></testsuite>')
    assert facts.problem("r.xml") is None
    assert facts.notes("r.xml") == [
        "r.xml declares 3 tests but holds 2; the 1 not in the file are among its 1 declared skips"]


def test_fewer_failures_held_than_declared_is_an_error_too(tmp_path: Path) -> None:
    """Not only a notice on a failed suite: a rerun that passes the one failure held must not make it green."""
    tests, facts = _facts(tmp_path, '<testsuite tests="2" failures="2"><testcase name="a"><failure message="m"/>'
                                    '</testcase><testcase name="b"/></testsuite>')
    assert [t.outcome for t in tests] == [Outcome.FAILED, Outcome.PASSED]
    assert facts.problem("r.xml") == ("r.xml declares 2 tests and 2 failures but holds only 1 failure/error "
                                      "results; the others' messages are not in the file")


@pytest.mark.parametrize("head", ['<testsuite name="x" tests="6" failures="1">',
                                  '<testsuites><testsuite name="x" tests="6" failures="1">',
                                  '<testsuites tests="6" failures="1"><testsuite name="x">'])
def test_a_file_cut_after_its_suite_header_says_what_the_header_declared(tmp_path: Path, head: str) -> None:
    path = tmp_path / "r.xml"
    path.write_text(f'<?xml version="1.0"?>\n{head}\n', encoding="utf-8")
    with pytest.raises(CollectError, match=r"cut off .*its header declares 6 tests, 1 failed, 0 errors, 0 skipped"):
        read_junit(path, "unit")


def test_odd_attribute_values_are_quoted_a_bounded_number_of_times(tmp_path: Path) -> None:
    suites = "".join(f'<testsuite tests="x{n}"><testcase name="t{n}"/></testsuite>' for n in range(1000))
    _, facts = _facts(tmp_path, f"<testsuites>{suites}</testsuites>")
    assert len(facts.not_numbers) == 10
    assert facts.problem("r.xml") is None
