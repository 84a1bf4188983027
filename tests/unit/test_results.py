"""results.read_junit over the JUnit dialects real tools write, and the counting rule.

The fixture files under tests/fixtures/junit/ are what each tool writes (the two pytest ones
were produced by pytest 9 itself); where a file's own testsuite attributes are right, the
reader's counts must equal them.
"""

from __future__ import annotations

import os
from pathlib import Path

import defusedxml.ElementTree as safe_etree
import pytest

from doorbell_ci import results
from doorbell_ci.errors import CollectError
from doorbell_ci.results import Counts, Outcome, RunResult, SuiteResult, SuiteStatus, TestResult, read_junit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "junit"


def _declared_counts(path: Path) -> tuple[int, int, int, int]:
    """tests, failures, errors, skipped as the file declares them on its outermost testsuite(s).

    googletest counts DISABLED_ tests under ``disabled``, not ``skipped``; both are skips here.
    """
    root = safe_etree.parse(str(path)).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    totals = [0, 0, 0, 0]
    for suite in suites:
        for index, attribute in enumerate(("tests", "failures", "errors", "skipped")):
            totals[index] += int(suite.get(attribute) or 0)
        totals[3] += int(suite.get("disabled") or 0)
    return tuple(totals)  # type: ignore[return-value]


def _counts(path: Path) -> Counts:
    return Counts.of(read_junit(path, "suite"))


@pytest.mark.parametrize(
    "name",
    ["pytest_xunit1.xml", "pytest_xunit2.xml", "bare_testsuite.xml", "nested_testsuites.xml",
     "jest_junit.xml", "surefire.xml", "googletest.xml", "entities.xml", "unicode.xml"],
)
def test_counts_equal_the_files_own_attributes(name: str) -> None:
    counts = _counts(FIXTURES / name)
    assert (counts.tests, counts.failed, counts.errors, counts.skipped) == _declared_counts(FIXTURES / name)
    assert counts.passed == counts.tests - counts.failed - counts.errors - counts.skipped


def test_pytest_xunit1_keeps_file_line_and_failure_details() -> None:
    tests = {t.name: t for t in read_junit(FIXTURES / "pytest_xunit1.xml", "unit")}
    failing = tests["test_fail"]
    assert failing.outcome is Outcome.FAILED
    assert failing.message == "assert 1 == 2"
    assert "AssertionError" in failing.details
    assert "some output" in failing.stdout
    assert failing.file == "tests/unit/test_a.py"
    # pytest writes the 0-based line of the def; the reader reports the 1-based one (line 9 in the file)
    assert failing.line == 9
    assert failing.nodeid == "tests/unit/test_a.py::test_fail"
    assert tests["test_param[1]"].nodeid == "tests/unit/test_a.py::TestGroup::test_param[1]"
    assert tests["test_error"].outcome is Outcome.ERROR
    assert "fixture broke" in tests["test_error"].message
    assert tests["test_xfail"].outcome is Outcome.SKIPPED
    assert tests["test_ok"].stdout == ""  # captured output of passing tests is not kept
    assert {t.suite for t in tests.values()} == {"unit"}


def test_pytest_xunit2_has_same_outcomes_as_xunit1() -> None:
    def outcomes(name: str) -> dict[str, Outcome]:
        return {t.classname + "::" + t.name: t.outcome for t in read_junit(FIXTURES / name, "unit")}

    assert outcomes("pytest_xunit2.xml") == outcomes("pytest_xunit1.xml")


def test_nested_testsuites_are_all_read() -> None:
    tests = read_junit(FIXTURES / "nested_testsuites.xml", "native")
    assert [t.name for t in tests] == ["one", "two", "three", "four"]
    assert [t.outcome for t in tests] == [Outcome.PASSED, Outcome.FAILED, Outcome.ERROR, Outcome.PASSED]


def test_missing_attributes_get_safe_defaults() -> None:
    tests = read_junit(FIXTURES / "missing_attributes.xml", "x")
    assert [(t.name, t.classname, t.duration) for t in tests] == [
        ("no time no classname", "", 0.0), ("bad time", "", 0.0), ("(unnamed)", "", 0.0)]
    assert tests[2].outcome is Outcome.FAILED
    assert tests[0].nodeid == "no time no classname"


def test_jest_junit() -> None:
    tests = read_junit(FIXTURES / "jest_junit.xml", "web")
    failing = next(t for t in tests if t.outcome is Outcome.FAILED)
    assert failing.name == "Doorbell button rings on click"
    assert failing.file == "web/src/Button.test.js"
    assert "Object.<anonymous>" in failing.details


def test_surefire() -> None:
    tests = {t.name: t for t in read_junit(FIXTURES / "surefire.xml", "java")}
    assert tests["refusesWrongCode"].message == "expected: <false> but was: <true>"
    assert "lock: code rejected" in tests["refusesWrongCode"].stdout
    assert tests["talksToServo"].outcome is Outcome.ERROR
    assert tests["batteryLow"].outcome is Outcome.SKIPPED


def test_googletest_lines_are_kept_as_written() -> None:
    tests = {t.name: t for t in read_junit(FIXTURES / "googletest.xml", "native")}
    assert (tests["IgnoresNoise"].file, tests["IgnoresNoise"].line) == ("test/motion_test.cc", 20)
    assert tests["DISABLED_Infrared"].outcome is Outcome.SKIPPED
    assert "Which is: 1" in tests["IgnoresNoise"].message


def test_predefined_and_numeric_entities_are_decoded() -> None:
    first, second = read_junit(FIXTURES / "entities.xml", "x")
    assert first.name == "a <b> & \"c\" 'd'"
    assert second.name == "numeric \u00e9\u263a\U0001f514"
    assert second.message == "<script>alert(1)</script>"
    assert second.details == "tab\tnewline\nend"


def test_odd_unicode_survives_including_astral_and_rtl() -> None:
    tests = read_junit(FIXTURES / "unicode.xml", "x")
    names = [t.name for t in tests]
    assert "test_doorbell_\U0001f514_rings" in names
    assert "test_\u0627\u062e\u062a\u0628\u0627\u0631_\u0627\u0644\u062c\u0631\u0633" in names
    failing = next(t for t in tests if t.outcome is Outcome.FAILED)
    assert "\u202e" in failing.name and "\U0001d555" in failing.name
    assert failing.details == "\U00010348 astral text"
    assert tests[0].classname == "\u00fcn\u00efcode.tests"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("dtd_entity.xml", "DTD or entities"),
        ("empty.xml", "is empty"),
        ("truncated.xml", "not well-formed"),
    ],
)
def test_unreadable_files_are_collect_errors(name: str, reason: str) -> None:
    with pytest.raises(CollectError, match=reason):
        read_junit(FIXTURES / name, "x")


def test_missing_file_is_a_collect_error(tmp_path: Path) -> None:
    with pytest.raises(CollectError, match="was not written"):
        read_junit(tmp_path / "nothing.xml", "x")


def test_non_junit_xml_is_a_collect_error(tmp_path: Path) -> None:
    path = tmp_path / "other.xml"
    path.write_text("<html><body>not junit</body></html>", encoding="utf-8")
    with pytest.raises(CollectError):
        read_junit(path, "x")


def test_long_texts_are_clipped_in_the_middle(tmp_path: Path) -> None:
    path = tmp_path / "long.xml"
    body = "start " + "x" * 100_000 + " end"
    path.write_text(f'<testsuite tests="1"><testcase name="t"><failure message="m">{body}</failure>'
                    "</testcase></testsuite>", encoding="utf-8")
    (test,) = read_junit(path, "x")
    assert len(test.details) < 21_000
    assert test.details.startswith("start ") and test.details.endswith(" end")
    assert "characters cut" in test.details


# --- the streaming reader: order, limits, reasons ------------------------------------------------


def test_order_and_scope_are_junitparsers(tmp_path: Path) -> None:
    """A suite's own testcases first, then its nested suites' (depth first), as junitparser walks
    them; testcases outside a chain of <testsuite> elements are not tests; the pytest line rule
    follows the top-level suite."""
    path = tmp_path / "order.xml"
    path.write_text(
        '<testsuites><testcase name="under_root"/>'
        '<testsuite name="pytest"><testsuite name="inner"><testcase name="a" line="3"/>'
        '<testsuite><testcase name="deep"/></testsuite><testcase name="a2"/></testsuite>'
        '<testcase name="b" line="4"><failure message="m"/><testcase name="in_a_case"><error/></testcase></testcase>'
        '<properties><property name="p" value="v"/></properties><other><testcase name="under_other"/></other>'
        '<testcase name="d"><system-out>out</system-out><skipped/></testcase></testsuite>'
        '<testsuite name="other"><testcase name="e" line="5"/></testsuite>'
        "<testsuites><testsuite><testcase name=\"nested_root\"/></testsuite></testsuites></testsuites>",
        encoding="utf-8")
    tests = read_junit(path, "x")
    assert [t.name for t in tests] == ["b", "d", "a", "a2", "deep", "e"]
    assert [t.line for t in tests] == [5, None, 4, None, None, 5]  # 0-based under "pytest" only
    assert tests[0].outcome is Outcome.FAILED and tests[1].outcome is Outcome.SKIPPED


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'<testsuite><testcase name="caf\xe9"/></testsuite>', r"byte 30 is not valid UTF-8"),
        (b'<testsuite><testcase name="t"/><testcase na', r"unclosed token.*cut off \(was the runner killed"),
        (b'<testsuite><testcase name="t">', r"no element found.*cut off"),
        (b"  \n ", r"holds no element at all"),
        (b"<testsuites>" + b"<testsuite>" * 201 + b"</testsuite>" * 201 + b"</testsuites>", "more than 200 levels"),
        (b"<html><testcase/></html>", r"not JUnit XML: its root element is <html>"),
    ],
    ids=["invalid-utf8", "cut-in-a-tag", "cut-between-tags", "whitespace", "too-deep", "not-junit"],
)
def test_broken_files_say_why(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "broken.xml"
    path.write_bytes(content)
    with pytest.raises(CollectError, match=reason):
        read_junit(path, "x")


def test_a_declared_non_utf8_encoding_is_read_not_blamed(tmp_path: Path) -> None:
    path = tmp_path / "latin1.xml"
    path.write_bytes('<?xml version="1.0" encoding="ISO-8859-1"?><testsuite><testcase name="caf\xe9"/>'
                     "</testsuite>".encode("latin-1"))
    assert [t.name for t in read_junit(path, "x")] == ["caf\xe9"]


def test_a_file_over_the_limit_is_not_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(b"<testsuite>" + b"<testcase/>" * 300_000 + b"</testsuite>")  # 3.3 MB, not XML-checked
    with pytest.raises(CollectError, match=r"big\.xml is 3\.1 MB, over the 2 MB limit \(--junit-max-mb\)"):
        read_junit(path, "x", max_bytes=2 * 1024 * 1024)
    assert len(read_junit(path, "x", max_bytes=4 * 1024 * 1024)) == 300_000


def test_too_many_testcases_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results, "MAX_TESTS", 3)  # the real bound is 2,000,000; the rule is the same
    path = tmp_path / "many.xml"
    path.write_text("<testsuite>" + "<testcase/>" * 4 + "</testsuite>", encoding="utf-8")
    with pytest.raises(CollectError, match="more than 3 testcases"):
        read_junit(path, "x")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_a_fifo_or_device_is_not_read(tmp_path: Path) -> None:
    """A runner that leaves a FIFO where its XML should be must not block the collect stage."""
    fifo = tmp_path / "fifo.xml"
    os.mkfifo(fifo)
    with pytest.raises(CollectError, match="is not a regular file"):
        read_junit(fifo, "x")
    with pytest.raises(CollectError, match="is not a regular file"):
        read_junit(Path(os.devnull), "x")


# --- counting rule ------------------------------------------------------------------------------


def test_counts_add_up_over_suites() -> None:
    def suite(name: str, *outcomes: Outcome) -> SuiteResult:
        return SuiteResult(name, SuiteStatus.PASSED, [TestResult(name, f"t{i}", outcome=o)
                                                      for i, o in enumerate(outcomes)])

    run = RunResult("id", "/p", "s", "f", 1.0, [
        suite("unit", Outcome.PASSED, Outcome.FAILED, Outcome.SKIPPED),
        suite("e2e", Outcome.ERROR, Outcome.PASSED),
    ])
    assert run.counts == Counts(tests=5, passed=2, failed=1, errors=1, skipped=1)
    assert not run.failed  # the status, not the counts, decides; both suites say passed here


def test_bad_suite_status_makes_the_run_failed() -> None:
    run = RunResult("id", "/p", "s", "f", 1.0, [SuiteResult("unit", SuiteStatus.TIMEOUT)])
    assert run.failed
    assert not RunResult("id", "/p", "s", "f", 1.0, [SuiteResult("unit", SuiteStatus.NO_TESTS)]).failed
