"""The console's last lines and the verdict of every report: a run that tested nothing, a suite that
errored or a coverage failure never reads as a success, and the reason is always said."""

from __future__ import annotations

import re

import pytest

from doorbell_ci.pipeline import decide_exit_code
from doorbell_ci.reports import html, markdown
from doorbell_ci.reports.text import (
    closing_line,
    ending_lines,
    nothing_tested,
    nothing_tested_notice,
    verdict,
    why_nothing_tested,
)
from doorbell_ci.results import CoverageSummary, Outcome, RunResult, SuiteResult, SuiteStatus, TestResult

CLOSING = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped")  # what scripts parse (README)


def run_of(*suites: SuiteResult, analysis: dict | None = None, coverage: CoverageSummary | None = None) -> RunResult:
    return RunResult("id", "/p", "s", "f", 1.0, list(suites), analysis=analysis, coverage=coverage)


def results_of(suite: str, *outcomes: Outcome) -> list[TestResult]:
    return [TestResult(suite, f"test_{i}", outcome=outcome) for i, outcome in enumerate(outcomes)]


ABSENT = [SuiteResult(name, SuiteStatus.ABSENT, reason=f"tests/{name} does not exist in the project")
          for name in ("unit", "integration")]


@pytest.mark.parametrize(("suites", "why"), [
    (ABSENT, "every selected suite is absent (none of tests/unit, tests/integration exists in the project)"),
    (ABSENT[:1], "every selected suite is absent (tests/unit does not exist in the project)"),
    ([SuiteResult("unit", SuiteStatus.NO_TESTS, reason="pytest collected 3 tests and deselected all of them")],
     "unit: no tests (pytest collected 3 tests and deselected all of them)"),
    ([SuiteResult("unit", SuiteStatus.PASSED, results_of("unit", Outcome.SKIPPED, Outcome.SKIPPED)), ABSENT[1]],
     "all 2 tests were skipped; absent: integration"),
    ([], "no selected suite exists in the project"),
], ids=["all-absent", "one-absent", "deselected", "all-skipped", "no-suite"])
def test_a_run_that_tested_nothing_is_exit_8_with_one_line_saying_why(suites: list[SuiteResult], why: str) -> None:
    run = run_of(*suites)
    assert nothing_tested(run) and why in why_nothing_tested(run)
    code = decide_exit_code(run)
    assert code == 8
    notice = nothing_tested_notice(run, code)
    assert notice is not None and notice.startswith("nothing was tested: ") and "\n" not in notice
    assert "exit 8" in notice and "--allow-no-tests" in notice
    run.notices.append(notice)
    assert ending_lines(run) == [notice]
    assert closing_line(run).endswith("; nothing tested") and CLOSING.match(closing_line(run))
    assert verdict(run) == ("⚠️", "nothing tested")
    assert markdown.render(run).startswith("## doorbell-ci: ⚠️ nothing tested")
    page = html.render(run, int(code))
    assert "<h1>doorbell-ci: NOTHING TESTED</h1>" in page and 'class="warned"' in page


def test_allow_no_tests_passes_but_still_says_so() -> None:
    run = run_of(*ABSENT)
    code = decide_exit_code(run, allow_no_tests=True)
    assert code == 0
    notice = nothing_tested_notice(run, code)
    assert notice is not None and "accepted by allow_no_tests" in notice
    assert verdict(run)[1] == "nothing tested" and closing_line(run).endswith("; nothing tested")


def test_one_passed_test_is_enough_and_failures_take_precedence() -> None:
    ran = run_of(SuiteResult("unit", SuiteStatus.PASSED, results_of("unit", Outcome.PASSED, Outcome.SKIPPED)),
                 SuiteResult("e2e", SuiteStatus.NO_TESTS, reason="pytest collected no tests"))
    assert not nothing_tested(ran) and decide_exit_code(ran) == 0 and nothing_tested_notice(ran, 0) is None
    assert closing_line(ran) == "1 passed, 0 failed, 1 skipped" and verdict(ran) == ("✅", "passed")
    crashed = run_of(SuiteResult("unit", SuiteStatus.ERROR, reason="pytest was interrupted (collection errors?)"))
    assert decide_exit_code(crashed) == 1 and nothing_tested_notice(crashed, 1) is None
    assert decide_exit_code(crashed, interrupted=True) == 130


def test_a_shard_given_none_of_the_tests_is_waived_only_then() -> None:
    empty_shard = {"shard": {"index": 4, "total": 4, "tests": 0, "total_tests": 3}}
    run = run_of(SuiteResult("unit", SuiteStatus.ABSENT, reason="none of its tests is in shard 4/4"),
                 analysis=empty_shard)
    assert decide_exit_code(run) == 0
    notice = nothing_tested_notice(run, 0)
    assert notice is not None and "shard 4/4 was given none of the 3 tests" in notice
    assert verdict(run) == ("✅", "passed")
    nothing_anywhere = run_of(SuiteResult("unit", SuiteStatus.NO_TESTS),
                              analysis={"shard": {"index": 1, "total": 2, "tests": 0, "total_tests": 0}})
    assert decide_exit_code(nothing_anywhere) == 8
    skipped_shard = run_of(SuiteResult("unit", SuiteStatus.PASSED, results_of("unit", Outcome.SKIPPED)),
                           analysis={"shard": {"index": 1, "total": 2, "tests": 1, "total_tests": 2}})
    assert decide_exit_code(skipped_shard) == 8


@pytest.mark.parametrize(("suite", "line"), [
    (SuiteResult("unit", SuiteStatus.ERROR, results_of("unit", Outcome.PASSED), log_file="logs/unit.log",
                 reason="exit code 1 although no test failed; last output: ERROR: boom"),
     "suite unit errored: exit code 1 although no test failed; last output: ERROR: boom (output: logs/unit.log)"),
    (SuiteResult("unit", SuiteStatus.ERROR, reason="unit.xml is not well-formed XML (exit code 0)"),
     "suite unit errored: unit.xml is not well-formed XML (exit code 0)"),
    (SuiteResult("unit", SuiteStatus.TIMEOUT, results_of("unit", Outcome.PASSED, Outcome.ERROR),
                 reason="killed at the suite timeout of 5s; 1 tests had finished, 1 was running"),
     "suite unit timed out: killed at the suite timeout of 5s; 1 tests had finished, 1 was running"),
], ids=["error", "broken-xml", "timeout"])
def test_a_suite_error_ends_the_console_and_leads_the_reports_with_its_reason(suite: SuiteResult, line: str) -> None:
    run = run_of(suite)
    assert decide_exit_code(run) == 1
    assert ending_lines(run) == [line]
    closing = closing_line(run)
    assert CLOSING.match(closing) and closing.endswith("; 1 suite error (unit)")
    assert verdict(run) == ("❌", "failed")
    summary = markdown.render(run)
    assert summary.startswith("## doorbell-ci: ❌ failed")
    first_quote = next(text for text in summary.splitlines() if text.startswith("> "))
    assert first_quote.startswith("> 💥 suite unit ")
    page = html.render(run, 1)
    assert '<div class="failure problem">' + line.replace("'", "&#39;") in page


def test_several_suite_errors_are_counted_and_named() -> None:
    run = run_of(*(SuiteResult(f"s{i}", SuiteStatus.ERROR, reason="crash") for i in range(7)))
    assert closing_line(run) == "0 passed, 0 failed, 0 skipped; 7 suite errors (s0, s1, s2, s3, s4, ...)"
    assert len(ending_lines(run)) == 7


def test_coverage_failures_say_their_figures_and_are_exit_7() -> None:
    below = run_of(SuiteResult("unit", SuiteStatus.PASSED, results_of("unit", Outcome.PASSED)),
                   coverage=CoverageSummary(50.0, 6, 3, fail_under=90.0))
    assert decide_exit_code(below) == 7
    assert ending_lines(below) == ["coverage failed: 50.00% of 6 statements is under the required 90%"]
    assert verdict(below) == ("❌", "coverage failed")
    assert "> 💥 coverage failed: 50.00% of 6 statements is under the required 90%" in markdown.render(below)
    by_pytest_cov = run_of(SuiteResult("unit", SuiteStatus.COVERAGE_FAILED, results_of("unit", Outcome.PASSED),
                                       reason="total coverage 45.00% is under its required 90%"))
    assert decide_exit_code(by_pytest_cov) == 7 and verdict(by_pytest_cov)[1] == "coverage failed"
    assert ending_lines(by_pytest_cov) == [
        "suite unit: coverage failed: total coverage 45.00% is under its required 90%"]
    assert "coverage failed" in html.render(by_pytest_cov, 7)


def test_a_reason_with_line_breaks_still_ends_in_one_line() -> None:
    run = run_of(SuiteResult("web", SuiteStatus.ERROR, reason="web.xml could not be read:\nline 1\r\nline 2"))
    assert ending_lines(run) == ["suite web errored: web.xml could not be read: line 1 line 2"]


def test_a_run_failed_by_the_regression_gate_never_reads_passed() -> None:
    """Exit 6 (--fail-on-regression with a confirmed regression): headings and the check run must not say passed."""
    passed = SuiteResult("performance", SuiteStatus.PASSED, tests=[TestResult(suite="performance", name="t")])
    gated = run_of(passed)
    gated.performance = {"fail_on_regression": True, "regressions": ["tests/test_work.py::test_work"]}
    assert verdict(gated) == ("❌", "performance regression")
    gated.performance = {"fail_on_regression": False, "regressions": ["tests/test_work.py::test_work"]}
    assert verdict(gated) == ("✅", "passed")  # reported, not asked to gate
