"""The run's results as the terminal shows them at the end: one line per suite, then the counts.

It lives with the other reports (not in cli.py) because ``merge`` prints the same summary for
the folders it merged, and a stage must not import the command layer above it.
"""

from __future__ import annotations

from pathlib import Path

from doorbell_ci.reports.impact_view import console_lines
from doorbell_ci.reports.text import NOTHING_TESTED, closing_line, ending_lines, human_seconds
from doorbell_ci.results import RunResult, SuiteStatus


def print_summary(result: RunResult, output_dir: Path, full_reports: bool) -> None:
    print()
    shown = [suite for suite in result.suites if suite.status is not SuiteStatus.ABSENT]
    width = max((len(s.name) for s in shown), default=5)
    for suite in shown:
        c = suite.counts
        line = f"  {suite.name:<{width}}  {suite.status.value:<8}"
        if c.tests:
            line += f"  {c.passed} passed, {c.failed} failed, {c.errors} errors, {c.skipped} skipped"
            line += f"  ({human_seconds(suite.duration)})"
        if suite.reason:
            line += f"  [{suite.reason}]"
        print(line)
    absent = [suite for suite in result.suites if suite.status is SuiteStatus.ABSENT]
    if absent:  # asked for by name but not in the project: once, on one line
        print(f"  absent: {', '.join(s.name for s in absent)}  [{'; '.join(dict.fromkeys(s.reason for s in absent))}]")
    if result.coverage is not None:
        print(f"  coverage: {result.coverage.percent:.1f}%")
    for line in console_lines(result.impact):
        print(line)
    for notice in result.notices:
        if not notice.startswith(NOTHING_TESTED):  # print_closing ends with it
            print(f"  notice: {notice}")
    target = output_dir / ("report.html" if full_reports else "report.json")
    print(f"report: {target}")
    print_closing(result)


def print_closing(result: RunResult) -> None:
    """The last lines: what went wrong and why (one line each), then ``N passed, N failed, N skipped``."""
    counts = result.counts
    if counts.errors:
        print(f"({counts.failed} failed and {counts.errors} errors count as failed below)")
    for line in ending_lines(result):
        print(f"doorbell-ci: {line}")
    print(closing_line(result), flush=True)
