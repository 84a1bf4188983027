"""Test cases whose result is an attribute, and test cases holding several results (results.case_outcome).

googletest writes ``status="notrun" result="suppressed"`` for a DISABLED_ test and ``result="skipped"``
for GTEST_SKIP, CTest ``status="disabled"``/``"notrun"``/``"fail"``; with no child element those were
counted as passed. The precedence is failed > error > skipped > passed, from elements and attributes
alike, and nothing a test case held may disappear from report.json, report.html, summary.md or the
merged junit.xml.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doorbell_ci.analysis.signatures import exception_of
from doorbell_ci.reports import html, json_report, junit, markdown
from doorbell_ci.results import (
    JunitFacts,
    Outcome,
    RunResult,
    SuiteResult,
    SuiteStatus,
    case_outcome,
    primary_details,
    read_junit,
)


def _read(tmp_path: Path, cases: str) -> tuple[list, JunitFacts]:
    path = tmp_path / "r.xml"
    path.write_text(f"<testsuite>{cases}</testsuite>", encoding="utf-8")
    facts = JunitFacts()
    return read_junit(path, "unit", facts=facts), facts


@pytest.mark.parametrize(("attributes", "outcome"), [
    ('status="disabled"', Outcome.SKIPPED),  # CTest
    ('status="notrun"', Outcome.SKIPPED),  # CTest, old googletest
    ('status="skipped"', Outcome.SKIPPED),
    ('status="Not Run"', Outcome.SKIPPED),
    ('status="NOT_RUN"', Outcome.SKIPPED),
    ('status="ignored"', Outcome.SKIPPED),  # NUnit's word
    ('result="Inconclusive"', Outcome.SKIPPED),
    ('status="notrun" result="suppressed"', Outcome.SKIPPED),  # googletest DISABLED_
    ('status="run" result="skipped"', Outcome.SKIPPED),  # googletest GTEST_SKIP without a <skipped>
    ('status="run" result="completed"', Outcome.PASSED),  # googletest passed
    ('status="run"', Outcome.PASSED),  # Catch2, Bazel
    ('outcome="Passed"', Outcome.PASSED),
    ('status="fail"', Outcome.FAILED),  # CTest
    ('status="failed"', Outcome.FAILED),
    ('status="error"', Outcome.ERROR),
    ('status="broken"', Outcome.ERROR),  # Allure's word for an error
    ('status="timeout"', Outcome.ERROR),
    ('status="run" result="kaputt"', Outcome.ERROR),  # unknown: no silent pass
    ('status="flaky-ish"', Outcome.ERROR),
])
def test_a_status_attribute_counts_like_the_element_it_means(tmp_path: Path, attributes: str,
                                                              outcome: Outcome) -> None:
    (test,), _ = _read(tmp_path, f'<testcase name="t" {attributes}/>')
    assert test.outcome is outcome
    if outcome is not Outcome.PASSED:
        assert attributes.split()[-1].split("=")[0] in test.message  # the reason names the attribute


def test_an_unknown_status_is_an_error_and_a_notice(tmp_path: Path) -> None:
    tests, facts = _read(tmp_path, '<testcase name="a" status="kaputt"/><testcase name="b" status="kaputt"/>'
                                   '<testcase name="c" status="weird"><failure message="m"/></testcase>')
    assert [t.outcome for t in tests] == [Outcome.ERROR, Outcome.ERROR, Outcome.FAILED]
    assert "doorbell-ci does not know" in tests[0].message
    assert 'status="weird"' in tests[2].message  # a result element decided; the odd value stays in sight
    (note,) = facts.notes("r.xml")
    assert 'status="kaputt" (2)' in note
    assert 'status="weird" (1)' in note


@pytest.mark.parametrize(("elements", "attributes", "outcome"), [
    ("<skipped/>", 'status="run"', Outcome.SKIPPED),
    ('<failure message="f"/>', 'status="notrun"', Outcome.FAILED),
    ('<skipped message="s"/>', 'status="fail"', Outcome.FAILED),
    ('<error message="e"/><failure message="f"/>', "", Outcome.FAILED),
    ('<skipped message="s"/><error message="e"/>', "", Outcome.ERROR),
])
def test_the_most_severe_result_wins_whatever_it_came_from(tmp_path: Path, elements: str, attributes: str,
                                                           outcome: Outcome) -> None:
    (test,), _ = _read(tmp_path, f'<testcase name="t" {attributes}>{elements}</testcase>')
    assert test.outcome is outcome


SEVERAL = ('<testcase name="t" classname="c" status="notrun">'
           '<failure message="first failure">trace one</failure>'
           '<error message="teardown error">trace two</error>'
           '<skipped message="skip reason">skip text</skipped>'
           '<failure message="second failure">trace three</failure></testcase>')
MESSAGES = ["first failure", "teardown error", "skip reason", "second failure", 'status="notrun"']
TEXTS = ["trace one", "trace two", "skip text", "trace three"]


def test_several_results_in_one_test_case_lose_no_message(tmp_path: Path) -> None:
    (test,), facts = _read(tmp_path, SEVERAL)
    assert test.outcome is Outcome.FAILED
    assert test.message.startswith("first failure (also ")
    for text in MESSAGES:
        assert text in test.message
    for text in MESSAGES[1:] + TEXTS:
        assert text in test.details
    assert primary_details(test.details) == "trace one"  # the deciding result, for signatures
    assert facts.read_bad == 3  # pytest counts every <failure> and <error> in its header


def test_no_report_drops_a_result_of_a_test_case_holding_several(tmp_path: Path) -> None:
    (test,), _ = _read(tmp_path, SEVERAL)
    (skipped,), _ = _read(tmp_path, '<testcase name="d" status="notrun" result="suppressed"/>')
    run = RunResult("id", "/p", "s", "f", 1.0, [SuiteResult("unit", SuiteStatus.FAILED, [test, skipped])])
    outputs = {
        "report.json": json.dumps(json_report.to_dict(run)),
        "report.html": html.render(run),
        "summary.md": markdown.render(run),
    }
    junit.write(run, tmp_path)
    outputs["junit.xml"] = (tmp_path / "junit.xml").read_text(encoding="utf-8")
    for name, text in outputs.items():
        for message in ["first failure", "teardown error", "skip reason", "second failure"]:
            assert message in text, (name, message)
        assert "suppressed" in text or name == "summary.md", name  # summary.md lists failures, not skips
    (back,) = [t for t in read_junit(tmp_path / "junit.xml", "unit") if t.name == "t"]
    assert back.outcome is Outcome.FAILED
    for text in TEXTS:
        assert text in back.details


def test_the_signature_of_a_failure_with_a_teardown_error_is_the_failures(tmp_path: Path) -> None:
    """pytest's fail-then-teardown-error: the error is kept in details, the signature stays the failure's."""
    (test,), _ = _read(tmp_path, (
        '<testcase name="t" classname="tests.test_x" file="tests/test_x.py" line="3">'
        '<failure message="assert 1 == 2">def test_t():\n&gt;       assert 1 == 2\nE       assert 1 == 2\n\n'
        'tests/test_x.py:4: AssertionError</failure>'
        '<error message="failed on teardown with &quot;ValueError: boom&quot;">def fix():\n'
        '&gt;       raise ValueError("boom")\nE       ValueError: boom\n\ntests/conftest.py:9: ValueError</error>'
        '</testcase>'))
    assert "ValueError: boom" in test.details
    assert exception_of(test) == ("AssertionError", "assert 1 == 2")


def test_case_outcome_alone_needs_no_xml() -> None:
    """The rule is a small function of (kind, message, text) and the attributes, for any reader to reuse."""
    decided = case_outcome([(Outcome.SKIPPED, "", "")], {"status": "notrun", "result": "suppressed"})
    assert decided.outcome is Outcome.SKIPPED
    assert decided.message == 'skipped: status="notrun" result="suppressed"'
    assert case_outcome([], {}).outcome is Outcome.PASSED
    assert case_outcome([], {"status": "  "}).outcome is Outcome.PASSED
