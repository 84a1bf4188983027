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


def missed(impact: dict[str, Any] | None) -> list[str]:
    """Audit mode: the tests that failed in the full run and that the selection would have left out."""
    return text_list(impact.get("missed")) if isinstance(impact, dict) else []


def summary_line(impact: dict[str, Any] | None) -> str:
    """One line on what was selected and why, or ``""`` when the run has no impact facts.

    ``412 of 3,120 tests selected; changed src/doorbell/faces.py:40-72, 3 tests new``, or
    ``all 3,120 tests: <why the selection fell back>``; audit mode says what ``affected`` would
    have run, and first of all any failing test it would have missed.
    """
    if not isinstance(impact, dict):
        return ""
    mode = impact.get("mode")
    selected, total = number(impact.get("selected")), number(impact.get("total"))
    reason = impact.get("full_run_reason") if isinstance(impact.get("full_run_reason"), str) else None
    recorded = impact.get("recorded") if isinstance(impact.get("recorded"), dict) else None
    parts: list[str] = []
    lost = missed(impact)
    if lost:
        parts.append(f"selection would have missed {len(lost)} failing test{'s' if len(lost) != 1 else ''}")
    if mode not in ("affected", "audit"):
        parts.append("selection off, all tests run")
    elif reason:
        count = f"all {total:,} tests" if total is not None else "all tests"
        parts.append(f"{'audit: ' if mode == 'audit' else ''}{count}: {reason}")
    else:
        verb = "would be selected" if mode == "audit" else "selected"
        counted = f"{selected:,} of {total:,} tests" if selected is not None and total is not None else "tests"
        parts.append(f"{'audit: ' if mode == 'audit' else ''}{counted} {verb}")
        files = changed_files(impact)
        if files:
            shown = ", ".join(row["where"] for row in files[:MAX_FILES_IN_LINE])
            more = len(files) - MAX_FILES_IN_LINE
            parts.append(f"changed {shown}" + (f" and {more} more file{'s' if more != 1 else ''}" if more > 0 else ""))
        elif isinstance(impact.get("base"), str):
            parts.append(f"no change since {impact['base'][:12]}")
        reasons = impact.get("reasons") if isinstance(impact.get("reasons"), dict) else {}
        new = number(reasons.get("new_test_file"))
        if new:
            parts[-1] += f", {new:,} test{'s' if new != 1 else ''} new"
    if recorded is not None and number(recorded.get("tests")) is not None:
        parts.append(f"impact map recorded ({recorded['tests']:,} tests)")
    return "; ".join(parts)
