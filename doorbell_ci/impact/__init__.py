"""Test impact analysis: run only the tests a change can break, from per-test coverage recorded earlier.

``impactmap`` (the file), ``record`` (coverage contexts -> map), ``changes`` (git diff -> changed
blocks), ``select`` (the rules, pure) and ``stage`` (the pipeline's side). Every report renders
``RunResult.impact`` through :func:`summary_line`.
"""

from __future__ import annotations

from typing import Any


def _ranges(lines: Any) -> str:
    parts = []
    for item in lines or []:
        if isinstance(item, list | tuple) and len(item) == 2:
            parts.append(str(item[0]) if item[0] == item[1] else f"{item[0]}-{item[1]}")
    return ",".join(parts)


def summary_line(impact: dict[str, Any]) -> str:
    """One line for the console, the summaries and the PR comment.

    "412 of 3,120 tests selected; changed src/doorbell/faces.py:40-72, 3 tests new", or
    "all 3,120 tests: <why everything ran>"; an audit that caught the selection missing a failure
    says so first.
    """
    total = impact.get("total")
    selected = impact.get("selected")
    missed = impact.get("missed") or []
    prefix = f"selection would have missed {len(missed)} failing test(s); " if missed else ""
    if impact.get("mode") == "all" or total is None:
        recorded = impact.get("recorded")
        tail = f"; impact map recorded ({recorded['tests']:,} tests)" if isinstance(recorded, dict) else ""
        return f"{prefix}all tests (--select all){tail}"
    reason = impact.get("full_run_reason")
    if reason:
        return f"{prefix}all {total:,} tests: {reason}"
    changed = impact.get("changed") or []
    shown = []
    for entry in changed[:3]:
        where = _ranges(entry.get("lines"))
        shown.append(f"{entry.get('path')}:{where}" if where and entry.get("kind") == "modified"
                     else f"{entry.get('path')} ({entry.get('kind')})")
    more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
    text = f"{selected:,} of {total:,} tests selected"
    if impact.get("mode") == "audit":
        text = f"audit: all {total:,} tests ran, --select affected would have run {selected:,}"
    text += f"; changed {', '.join(shown)}{more}" if shown else "; nothing changed"
    reasons = impact.get("reasons") or {}
    new = int(reasons.get("new_test_file") or 0) + int(reasons.get("no_map_entry") or 0)
    if new:
        text += f", {new:,} test{'s' if new != 1 else ''} new"
    return prefix + text
