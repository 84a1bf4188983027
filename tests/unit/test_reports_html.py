"""report.html: autoescaped, script-free, and bounded in size for huge runs."""

from __future__ import annotations

from pathlib import Path

from doorbell_ci.reports import html, junit
from doorbell_ci.results import Outcome, TestResult
from tests.unit._report_samples import sample_run


def test_script_in_names_and_messages_is_escaped() -> None:
    hostile = "<script>alert('x')</script>"
    page = html.render(sample_run(name=hostile, message=hostile), exit_code=1)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(" in page
    assert "default-src &#39;none&#39;" in page  # the CSP allows no script at all


def test_page_shows_status_suites_failures_and_coverage() -> None:
    page = html.render(sample_run(), exit_code=1)
    assert "doorbell-ci: FAILED" in page
    for text in ("unit", "e2e", "absent", "not run", "timeout", "test_rings", "captured out", "81.2%"):
        assert text in page


def test_large_run_stays_bounded() -> None:
    run = sample_run()
    run.suites[0].tests += [TestResult("unit", f"test_{i}", "tests.unit.test_many", Outcome.PASSED, 0.001)
                            for i in range(20_000)]
    page = html.render(run)
    all_tests = page.split('id="tests"', 1)[1]
    assert all_tests.count("test_many") == html.ROWS_PER_SUITE - 3  # 3 of the first rows are the sample's own
    assert f"(first {html.ROWS_PER_SUITE} shown)" in page
    assert len(page) < 2_000_000


def test_merged_junit_has_every_ran_suite(tmp_path: Path) -> None:
    path = junit.write(sample_run(), tmp_path)
    text = path.read_text(encoding="utf-8")
    assert '<testsuite name="unit"' in text and '<testsuite name="e2e"' in text
    assert 'name="load"' not in text  # absent suites are not test suites
    assert "e2e (timeout)" in text


def test_the_per_test_history_is_counted_not_listed(tmp_path: Path) -> None:
    """The analysis' history has an entry for every test (10 MB of a 12 MB page at 50,000 tests); the
    page counts it and lists the flipping tests, report.json keeps it whole."""
    from doorbell_ci import analysis
    from doorbell_ci.config import load_config
    from doorbell_ci.reports import json_report

    config = load_config(tmp_path, {})
    config.output_dir.mkdir()
    run = sample_run()
    run.suites[0].tests += [TestResult("unit", f"test_steady_{i}", "tests.unit.test_many", Outcome.PASSED, 0.001)
                            for i in range(20_000)]
    run.analysis = analysis.for_run(run, config)
    json_report.write(run, config.output_dir, 1)
    again = sample_run()  # the next run: the sample's failing tests flip, the 20,000 stay passed
    again.suites[0].tests += [TestResult("unit", f"test_steady_{i}", "tests.unit.test_many", Outcome.PASSED, 0.001)
                              for i in range(20_000)]
    for test in again.iter_tests():
        if test.outcome is Outcome.FAILED:
            test.outcome, test.message, test.details = Outcome.PASSED, "", ""
    again.analysis = analysis.for_run(again, config)
    assert len(again.analysis["history"]) > 20_000 and again.analysis["flipping"]
    page = html.render(again, exit_code=0)
    assert page.count("test_steady_") < html.ROWS_PER_SUITE + 100  # the bounded list of all tests, the slowest
    assert f"{len(again.analysis['history'])} tests: in report.json (analysis.history)" in page
    for key in again.analysis["flipping"]:
        assert key.split("::")[-1] in page
    assert len(page) < 2_000_000
    json_report.write(again, config.output_dir, 0)
    assert '"test_steady_19999' in (config.output_dir / "report.json").read_text(encoding="utf-8")
