"""The words every report uses for a run's test selection (``RunResult.impact``).

The console, report.html, summary.md, the PR comment and the check run all say the same
thing the same way, so the wording lives here once. Everything reads the ``impact`` dict of
report.json (docs/REPORT_SCHEMA.md), which may come from an older or hand-edited file: a
missing or odd field reads as absent, never as an exception in a report.
"""

from __future__ import annotations

from typing import Any

REASON_LABELS = {  # report.json "reasons" key -> what a reader sees
    "changed_code": "ran changed code",
    "new_test_file": "in a new test file",
    "modified_test_file": "in a modified test file",
    "no_map_entry": "not in the impact map",
    "recent_failure": "failed or flaky recently",
}
MAX_FILES_IN_LINE = 3  # changed files named in the one-line summary; the reports list them all


def number(value: Any) -> int | None:
    """A count from the dict, or None for anything that is not a plain non-negative int."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def text_list(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def line_ranges(lines: Any) -> str:
    """``[[40, 72], [90, 90]]`` as ``40-72, 90``."""
    parts = []
    for pair in lines if isinstance(lines, list) else []:
        if isinstance(pair, list | tuple) and len(pair) == 2 and all(number(n) is not None for n in pair):
            start, end = pair
            parts.append(str(start) if start == end else f"{start}-{end}")
    return ", ".join(parts)


def changed_files(impact: dict[str, Any]) -> list[dict[str, str]]:
    """Each changed file as ``{"path", "kind", "where"}``: ``where`` is ``path:40-72`` or ``path (added)``."""
    rows = []
    for entry in impact.get("changed") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            continue
        kind = entry.get("kind") if isinstance(entry.get("kind"), str) else "modified"
        ranges = line_ranges(entry.get("lines"))
        if kind == "modified" and ranges:
            where = f"{entry['path']}:{ranges.replace(', ', ',')}"
        else:
            where = f"{entry['path']} ({kind})"
        rows.append({"path": entry["path"], "kind": kind, "lines": ranges, "where": where})
    return rows


def reason_counts(impact: dict[str, Any]) -> list[tuple[str, int]]:
    """``[(label, count)]`` for every reason with a count, in a fixed order (unknown keys last, by name)."""
    reasons = impact.get("reasons") if isinstance(impact.get("reasons"), dict) else {}
    known = [(REASON_LABELS[key], number(reasons.get(key))) for key in REASON_LABELS]
    other = [(key.replace("_", " "), number(value)) for key, value in sorted(reasons.items())
             if key not in REASON_LABELS]
    return [(label, count) for label, count in known + other if count]


def no_code_change(impact: dict[str, Any] | None) -> list[str]:
    """Changed files whose change is (partly) no code change: ``src/x.py: comments/formatting only``."""
    return text_list(impact.get("no_code_change")) if isinstance(impact, dict) else []


def constants(impact: dict[str, Any] | None) -> list[str]:
    """Files whose only module-level change is constants' values: ``src/x.py: __version__`` (their readers ran)."""
    return text_list(impact.get("constants")) if isinstance(impact, dict) else []


def missed(impact: dict[str, Any] | None) -> list[str]:
    """Audit mode: the tests that failed in the full run and that the selection would have left out."""
    return text_list(impact.get("missed")) if isinstance(impact, dict) else []


def summary_line(impact: dict[str, Any] | None) -> str:
    """One line for the console, the summaries and the PR comment; ``""`` when the run has no impact facts.

    "412 of 3,120 tests selected; changed src/doorbell/faces.py:40-72, 3 tests new", or
    "all 3,120 tests: <why everything ran>"; an audit that caught the selection missing a failure
    says so first. "New" tests are those in new test files and those the map has no entry for.
    """
    if not isinstance(impact, dict):
        return ""
    mode = impact.get("mode")
    selected, total = number(impact.get("selected")), number(impact.get("total"))
    reason = impact.get("full_run_reason") if isinstance(impact.get("full_run_reason"), str) else None
    lost = missed(impact)
    prefix = f"selection would have missed {len(lost)} failing test(s); " if lost else ""
    if mode in ("affected", "audit") and reason and total is None:  # failed before the tests were listed
        return f"{prefix}all tests: {reason}"
    if mode not in ("affected", "audit") or total is None:
        recorded = impact.get("recorded") if isinstance(impact.get("recorded"), dict) else None
        count = number(recorded.get("tests")) if recorded else None
        tail = f"; impact map recorded ({count:,} tests)" if count is not None else ""
        return f"{prefix}all tests (--select all){tail}"
    if reason:  # 0 collected: the tests could not be listed, and every suite ran whole
        return f"{prefix}all {total:,} tests: {reason}" if total else f"{prefix}all tests: {reason}"
    shown_selected = f"{selected:,}" if selected is not None else "?"
    text = f"{shown_selected} of {total:,} tests selected"
    if mode == "audit":
        text = f"audit: all {total:,} tests ran, --select affected would have run {shown_selected}"
    files = changed_files(impact)
    if files:
        more = len(files) - MAX_FILES_IN_LINE
        text += "; changed " + ", ".join(row["where"] for row in files[:MAX_FILES_IN_LINE])
        text += f" and {more} more" if more > 0 else ""
    else:
        text += "; nothing changed"
    reasons = impact.get("reasons") if isinstance(impact.get("reasons"), dict) else {}
    new = (number(reasons.get("new_test_file")) or 0) + (number(reasons.get("no_map_entry")) or 0)
    if new:
        text += f", {new:,} test{'s' if new != 1 else ''} new"
    return prefix + text
