"""summary.md: fits GitHub's limits by dropping detail, never by cutting the suite table."""

from __future__ import annotations

from doorbell_ci.reports import markdown
from tests.unit._report_samples import sample_run


def test_small_run_has_verdict_table_failures_and_coverage() -> None:
    text = markdown.render(sample_run())
    assert text.startswith("## doorbell-ci: \u274c failed")
    assert "**1 passed, 1 failed, 1 errors, 1 skipped**" in text
    assert "| Suite | Status |" in text
    assert "| unit | \u274c failed | 3 | 1 | 1 | 0 | 1 |" in text
    assert "### Failures (2)" in text
    assert "tests/unit/test\\_bell.py::test\\_rings" in text
    assert "<details><summary>Traceback</summary>" in text
    assert "**Coverage:** 81.2% (130 of 160 statements), required 80%" in text


def test_huge_failure_list_fits_the_budget_and_keeps_the_table() -> None:
    run = sample_run(failures=2_000, message="x" * 100)  # > 200,000 characters of failures
    full = markdown._render(run, 10**6, True, 10, None)
    assert len(full) > 200_000
    text = markdown.render(run)
    assert len(text) <= markdown.DEFAULT_LIMIT
    assert "| Suite | Status | Tests |" in text
    assert "| unit |" in text and "| e2e |" in text
    assert "### Failures (2001)" in text
    assert "more (see the HTML report)" in text


def test_tiny_budget_still_cuts_cleanly() -> None:
    text = markdown.render(sample_run(failures=50), limit=700)
    assert len(text) <= 700
    assert text.rstrip().endswith("(cut to fit; the full report is in the run's artifacts)")


def test_markdown_and_html_in_names_are_neutralised() -> None:
    text = markdown.render(sample_run(name="<img src=x onerror=alert(1)> [link](http://evil) @team"))
    assert "<img" not in text
    assert "](http://evil)" not in text
    assert "@team" not in text
