"""summary.md: the Markdown shown as the GitHub job summary and the PR comment.

It leads with the verdict and the per-suite table, then failure details (test, message,
file:line, traceback), slowest tests and coverage. ``render`` takes a character budget and
drops detail in steps (tracebacks, then the failure list, then the slowest tests) rather than
cutting the text mid-table, so the result always renders and always fits.
"""

from __future__ import annotations

from doorbell_ci.analysis import render as analysis_render
from doorbell_ci.reports import impact_view, perf_view
from doorbell_ci.reports.text import (
    NOTHING_TESTED,
    encodable,
    ending_lines,
    failures,
    human_bytes,
    human_seconds,
    location,
    md_code,
    md_code_block,
    md_inline,
    slowest,
    verdict,
)
from doorbell_ci.results import RunResult, SuiteStatus

FILENAME = "summary.md"
DEFAULT_LIMIT = 60_000  # under GitHub's 65,535-character comment and check-run limits
_STATUS_ICON = {
    SuiteStatus.PASSED: "✅", SuiteStatus.FAILED: "❌", SuiteStatus.ERROR: "💥", SuiteStatus.TIMEOUT: "⏱️",
    SuiteStatus.NO_TESTS: "➖", SuiteStatus.ABSENT: "➖", SuiteStatus.NOT_RUN: "⏭️",
    SuiteStatus.COVERAGE_FAILED: "📉",
}


def render(run: RunResult, limit: int = DEFAULT_LIMIT, details_url: str | None = None, path_prefix: str = "") -> str:
    """The richest summary that fits in ``limit`` characters.

    ``path_prefix`` (the project's folder in the repository, given by the publish stage) is put
    before every "at file:line", so it names the same path as the annotations.
    """
    levels = [(20, True, 10, 20), (50, False, 10, 20), (20, False, 5, 5), (0, False, 0, 0)]
    text = ""
    for max_failures, tracebacks, slow_count, impact_rows in levels:
        text = encodable(_render(run, max_failures, tracebacks, slow_count, details_url, path_prefix, impact_rows))
        if len(text) <= limit:
            return text
    note = "\n\n… (cut to fit; the full report is in the run's artifacts)\n"
    return text[: limit - len(note)] + note


def _render(run: RunResult, max_failures: int, tracebacks: bool, slow_count: int,
            details_url: str | None, path_prefix: str = "", impact_rows: int = 20) -> str:
    counts = run.counts
    icon, word = verdict(run)
    parts = [
        f"## doorbell-ci: {icon} {word}",
        "",
        f"**{counts.passed} passed, {counts.failed} failed, {counts.errors} errors, {counts.skipped} skipped** "
        f"in {human_seconds(run.duration)}"
        + (f" · coverage {run.coverage.percent:.1f}%" if run.coverage else "")
        + (f" · {flaky} flaky (passed on a rerun)" if (flaky := sum(t.flaky for t in run.iter_tests())) else ""),
        "",
    ]
    parts += impact_view.markdown_headline(run.impact)  # a partial run must say so next to its counts
    parts += _problems(run)
    parts += _notices(run)
    parts += analysis_render.markdown(run.analysis, path_prefix=path_prefix)  # new failures first
    parts += _suite_table(run)
    parts += _failures(run, max_failures, tracebacks, path_prefix)
    parts += impact_view.markdown_lines(run.impact, impact_rows)
    parts += perf_view.markdown_lines(run.performance)
    if slow_count:
        parts += _slowest(run, slow_count)
    if run.coverage is not None:
        c = run.coverage
        line = f"**Coverage:** {c.percent:.1f}% ({c.covered} of {c.statements} statements)"
        if c.fail_under is not None:
            line += f", required {c.fail_under:g}% {'❌' if c.below_threshold else '✅'}"
        parts += [line, ""]
    footer = f"<sub>run {md_inline(run.run_id)} · {md_inline(str(run.environment.get('kind', 'local')))}"
    if details_url:
        footer += f" · [full report]({details_url})"
    parts.append(footer + "</sub>")
    return "\n".join(parts) + "\n"


def _problems(run: RunResult) -> list[str]:
    """Why a suite errored, timed out or failed its coverage, right under the counts (not only in the log)."""
    lines = [line for line in ending_lines(run) if not line.startswith(NOTHING_TESTED)]  # that one is a notice
    return [f"> 💥 {md_inline(line, 500)}" for line in lines] + ([""] if lines else [])


def _notices(run: RunResult) -> list[str]:
    return [f"> ⚠️ {md_inline(notice, 500)}" for notice in run.notices] + ([""] if run.notices else [])


def _suite_table(run: RunResult) -> list[str]:
    rows = [
        "| Suite | Status | Tests | Passed | Failed | Errors | Skipped | Time | CPU | Peak memory |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for suite in run.suites:
        c, r = suite.counts, suite.resources
        status = f"{_STATUS_ICON[suite.status]} {suite.status.value}"
        if suite.reason and suite.status not in (SuiteStatus.PASSED, SuiteStatus.FAILED):
            status += f" ({md_inline(suite.reason, 120)})"
        name = md_inline(suite.name) + (f" ({md_inline(suite.platform)})" if suite.platform else "")
        rows.append(
            f"| {name} | {status} | {c.tests} | {c.passed} | {c.failed} | {c.errors} "
            f"| {c.skipped} | {human_seconds(suite.duration)} | {human_seconds(r.cpu_seconds or None)} "
            f"| {human_bytes(r.peak_rss_bytes)} |"
        )
    return rows + [""]


def _failures(run: RunResult, max_failures: int, tracebacks: bool, path_prefix: str = "") -> list[str]:
    failed = failures(run)
    if not failed:
        return []
    parts = [f"### Failures ({len(failed)})", ""]
    for test in failed[:max_failures]:
        where = location(test, path_prefix, run.project)
        parts.append(
            f"- **{md_inline(test.nodeid, 200)}** ({md_inline(test.suite)}, {test.outcome.value})"
            + (f" at {md_code(where, 200)}" if where else "")
            + (f": {md_inline(test.message, 300)}" if test.message else "")
        )
        if tracebacks and (test.details or test.stdout or test.stderr):
            body = test.details or test.stderr or test.stdout
            parts += ["", "  <details><summary>Traceback</summary>", "", md_code_block(body, 3000), "", "  </details>"]
    if len(failed) > max_failures:
        parts.append(f"- … and {len(failed) - max_failures} more (see the HTML report)")
    return parts + [""]


def _slowest(run: RunResult, count: int) -> list[str]:
    tests = slowest(run, count)
    if not tests:
        return []
    parts = ["<details><summary>Slowest tests</summary>", "", "| Test | Suite | Time |", "|---|---|---:|"]
    parts += [f"| {md_inline(t.nodeid, 150)} | {md_inline(t.suite)} | {human_seconds(t.duration)} |" for t in tests]
    return parts + ["", "</details>", ""]
