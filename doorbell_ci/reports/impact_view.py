"""The test selection (``RunResult.impact``) as the console, report.html and summary.md show it.

What was selected and why sits next to the counts it explains, so a reader of a green pull
request sees at once that only part of the suite ran. The full list of deselected tests is in
report.json and report.html (collapsed); the Markdown, which becomes the PR comment and the
check run, only counts them and names a few: GitHub refuses a comment over 65,536 characters.
An audit run's "missed" tests (failed in the full run, left out by the selection) are shown
as a failure, since they are the one thing the selection must never do.
"""

from __future__ import annotations

from typing import Any

from doorbell_ci.impact.summary import (
    changed_files,
    constants,
    missed,
    no_code_change,
    number,
    reason_counts,
    summary_line,
    text_list,
)
from doorbell_ci.reports.text import md_cell_code, md_code, md_inline

MAX_HTML_DESELECTED = 5_000  # rows in report.html's collapsed list; report.json holds them all
MAX_HTML_CHANGED = 500
CONSOLE_FILES = 10
CONSOLE_MISSED = 10


def _facts(impact: dict[str, Any]) -> tuple[list[str], int]:
    deselected = text_list(impact.get("deselected"))
    return deselected, len(deselected)


def reasons_text(impact: dict[str, Any]) -> str:
    """``400 ran changed code, 3 in a new test file``."""
    return ", ".join(f"{count:,} {label}" for label, count in reason_counts(impact))


def console_lines(impact: dict[str, Any] | None) -> list[str]:
    """The summary's selection block: the line, then changed files, reasons and what was left out."""
    line = summary_line(impact)
    if not line or not isinstance(impact, dict):
        return []
    lines = [("  selection: ", line)]
    files = changed_files(impact)
    if files and not impact.get("full_run_reason"):
        shown = ", ".join(row["where"] for row in files[:CONSOLE_FILES])
        more = f" and {len(files) - CONSOLE_FILES} more" if len(files) > CONSOLE_FILES else ""
        lines.append(("    changed: ", shown + more))
    why = reasons_text(impact)
    if why and not impact.get("full_run_reason"):
        lines.append(("    why: ", why))
    if not impact.get("full_run_reason"):
        lines += [("    no code change: ", note) for note in no_code_change(impact)[:CONSOLE_FILES]]
        lines += [("    constants only (their readers ran, not every importer): ", note)
                  for note in constants(impact)[:CONSOLE_FILES]]
    _, deselected = _facts(impact)
    if deselected:
        verb = "would not have run" if impact.get("mode") == "audit" else "not run"
        lines.append((f"    {verb}: ", f"{deselected:,} test{'s' if deselected != 1 else ''} (listed in report.json)"))
    lines += [("    MISSED: ", test) for test in missed(impact)[:CONSOLE_MISSED]]
    return [prefix + " ".join(text.split()) for prefix, text in lines]  # a path or reason may hold a newline


def view(impact: dict[str, Any] | None) -> dict[str, Any] | None:
    """What report.html's "Test selection" section shows, every value already checked."""
    line = summary_line(impact)
    if not line or not isinstance(impact, dict):
        return None
    deselected, count = _facts(impact)
    the_map = impact.get("map") if isinstance(impact.get("map"), dict) else None
    recorded = impact.get("recorded") if isinstance(impact.get("recorded"), dict) else None
    files = changed_files(impact)
    return {
        "line": line,
        "mode": impact.get("mode") if isinstance(impact.get("mode"), str) else "all",
        "selected": number(impact.get("selected")),
        "total": number(impact.get("total")),
        "full_run_reason": impact.get("full_run_reason") if isinstance(impact.get("full_run_reason"), str) else None,
        "base": impact.get("base") if isinstance(impact.get("base"), str) else None,
        "head": impact.get("head") if isinstance(impact.get("head"), str) else None,
        "map": {key: str(value) for key, value in the_map.items() if value is not None} if the_map else None,
        "changed": files[:MAX_HTML_CHANGED],
        "changed_cut": max(0, len(files) - MAX_HTML_CHANGED),
        "reasons": reason_counts(impact),
        "no_code_change": no_code_change(impact)[:MAX_HTML_CHANGED],
        "constants": constants(impact)[:MAX_HTML_CHANGED],
        "deselected": deselected[:MAX_HTML_DESELECTED],
        "deselected_count": count,
        "deselected_cut": max(0, count - MAX_HTML_DESELECTED),
        "missed": missed(impact),
        "recorded": {key: recorded.get(key) for key in ("path", "tests", "files", "bytes")} if recorded else None,
    }


def markdown_headline(impact: dict[str, Any] | None) -> list[str]:
    """Right under the counts: the selection line (an audit miss follows as a problem, see ``ending_lines``)."""
    line = summary_line(impact)
    return [f"**Test selection:** {md_inline(line, 600)}", ""] if line else []


def markdown_lines(impact: dict[str, Any] | None, max_rows: int = 20) -> list[str]:
    """The summary.md section (also the PR comment and check run): changed files, reasons, what was left out.

    ``max_rows`` bounds every list (changed files, missed tests, deselected names); the full
    deselected list is never inlined, whatever its size: it is in report.json and report.html.
    """
    shown = view(impact)
    if shown is None or (shown["mode"] == "all" and not shown["missed"]):
        return []
    parts = ["### Test selection", ""]
    if shown["full_run_reason"]:
        parts += [f"Every test ran: {md_inline(shown['full_run_reason'], 500)}", ""]
    if shown["base"] or shown["head"]:
        against = f"Changes from {md_code((shown['base'] or '?')[:12])} to {md_code((shown['head'] or '?')[:12])}"
        if shown["map"] and shown["map"].get("platform_key"):
            against += f", impact map of {md_code(shown['map']['platform_key'], 120)}"
        parts += [against + ".", ""]
    if shown["reasons"] and not shown["full_run_reason"]:
        parts += ["Selected because they " + ", ".join(f"{label} ({count:,})" for label, count in shown["reasons"])
                  + ".", ""]
    if shown["no_code_change"] and not shown["full_run_reason"]:
        parts += ["Text changed, code did not (these select no test): "
                  + "; ".join(md_inline(note, 300) for note in shown["no_code_change"][:max_rows]) + ".", ""]
    if shown["constants"] and not shown["full_run_reason"]:
        parts += ["Only constants changed at module level (the tests reading or naming them ran, not every "
                  "importer): " + "; ".join(md_inline(note, 300) for note in shown["constants"][:max_rows]) + ".", ""]
    if shown["missed"]:
        parts += [f"**Missed by the selection ({len(shown['missed'])}):**", ""]
        parts += [f"- ❌ {md_code(test, 300)}" for test in shown["missed"][:max_rows]]
        if len(shown["missed"]) > max_rows:
            parts.append(f"- … and {len(shown['missed']) - max_rows} more (report.json, \"impact\".\"missed\")")
        parts.append("")
    files = shown["changed"]
    if files and max_rows:
        parts += ["<details><summary>Changed files ({})</summary>".format(len(files) + shown["changed_cut"]), "",
                  "| File | Change | Lines |", "|---|---|---|"]
        parts += [f"| {md_cell_code(row['path'], 200)} | {md_inline(row['kind'], 40)} "
                  f"| {md_inline(row['lines'], 200) or '-'} |" for row in files[:max_rows]]
        if len(files) + shown["changed_cut"] > max_rows:
            parts.append(f"| … and {len(files) + shown['changed_cut'] - max_rows} more in report.html | | |")
        parts += ["", "</details>", ""]
    count = shown["deselected_count"]
    if count:
        verb = "would not have run" if shown["mode"] == "audit" else "not run"
        names = shown["deselected"][: min(max_rows, 10)]
        parts += [f"<details><summary>{count:,} test{'s' if count != 1 else ''} {verb}</summary>", ""]
        parts += [f"- {md_code(name, 200)}" for name in names]
        if count > len(names):
            parts.append("- … the full list is in report.html and report.json (\"impact\".\"deselected\")")
        parts += ["", "</details>", ""]
    return parts
