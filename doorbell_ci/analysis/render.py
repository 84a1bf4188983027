"""The analysis as text: for the terminal (``doorbell-ci analyze``) and for summary.md.

Both lead with what is new: a maintainer's first question is "did I break this?".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from doorbell_ci.reports.text import md_cell_code, md_code, md_code_block, md_inline, prefixed

MAX_LISTED = 20
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _where(entry: Mapping[str, Any], path_prefix: str = "") -> str:
    """``file:line`` of a failure or group; ``path_prefix`` (the project's folder in the repository) first."""
    if entry.get("file") and entry.get("line"):
        where = f"{entry['file']}:{entry['line']}"
    else:
        where = str(entry.get("file") or "")
    return prefixed(path_prefix, where) if where and path_prefix else where


def terminal(analysis: Mapping[str, Any], tests_output: Mapping[str, tuple[str, str]] | None = None) -> str:
    """Plain text; ``tests_output`` maps a failure key to its captured (stdout, stderr)."""
    tests_output = tests_output or {}
    lines: list[str] = []
    against = analysis.get("against")
    failures = analysis.get("failures") or []
    if against:
        lines.append(f"Against {against.get('source')} (run {against.get('run_id')}): "
                     f"{len(analysis.get('new') or [])} new, {len(analysis.get('still_failing') or [])} still failing, "
                     f"{len(analysis.get('fixed') or [])} fixed")
        for title, key in (("New failures", "new"), ("Still failing", "still_failing"), ("Fixed", "fixed")):
            keys = analysis.get(key) or []
            if keys:
                lines.append(f"  {title}:")
                lines += [f"    {k}" for k in keys[:MAX_LISTED]]
                if len(keys) > MAX_LISTED:
                    lines.append(f"    ... and {len(keys) - MAX_LISTED} more")
    else:
        lines.append("No base run to compare with: failures are not classified as new or known (use --against).")
    groups = analysis.get("groups") or []
    lines.append("")
    lines.append(f"{len(failures)} failures in {len(groups)} groups by cause" if failures else "No failures.")
    for number, group in enumerate(groups, 1):
        lines.append(f"  [{number}] {group['count']} x {group['exception']}: {group['message']}")
        if _where(group):
            lines.append(f"      at {_where(group)}")
        for key in group["tests"][:MAX_LISTED]:
            lines.append(f"      - {key}")
    for failure in failures:
        lines.append("")
        status = f" [{failure['status']}]" if failure.get("status") else ""
        lines.append(f"{failure['key']}{status}{' (flaky)' if failure.get('flaky') else ''}")
        lines.append(f"  {failure['exception']}: {failure['message']}" + (f"  at {_where(failure)}"
                                                                          if _where(failure) else ""))
        how = failure.get("reproduce") or {}
        if how.get("command"):
            label = "rerun its suite" if how.get("scope") == "suite" else "reproduce"  # a command suite: all of it
            lines.append(f"  {label}: (cd {how.get('cwd')} && {how['command']})")
        if how.get("env_left_out"):
            lines.append(f"  also set: {', '.join(how['env_left_out'])} (left out: may hold secrets)")
        if how.get("environment"):
            lines.append("  environment: " + ", ".join(f"{k}={v}" for k, v in how["environment"].items()))
        stdout, stderr = tests_output.get(failure["key"], ("", ""))
        for label, text in (("stdout/log", stdout), ("stderr", stderr)):
            body = "\n".join(line for line in text.splitlines() if line.strip() and not line.startswith("---"))
            if body:
                lines.append(f"  captured {label}:")
                lines += ["    " + line for line in body.splitlines()[-15:]]
    flaky = analysis.get("flaky") or []
    if flaky:
        lines.append("")
        lines.append(f"Flaky ({len(flaky)}): failed, then passed when rerun alone")
        for entry in flaky:
            lines.append(f"  {entry['key']}  attempts: {', '.join(entry['attempts']) or '-'}  "
                         f"(counted as {entry['counted_as']})")
    flipping = analysis.get("flipping") or {}
    if flipping:
        lines.append("")
        lines.append(f"Flipping across runs ({len(flipping)}; oldest first, P pass F fail E error S skip K flaky):")
        for key, outcomes in list(flipping.items())[:MAX_LISTED]:
            lines.append(f"  {outcomes:<20} {key}")
    shard = analysis.get("shard")
    if shard:
        lines.append("")
        lines.append(f"Shard {shard.get('index')}/{shard.get('total')}: {shard.get('tests')} tests, "
                     f"balanced by {shard.get('strategy')}")
    return _printable("\n".join(lines) + "\n")


def _printable(text: str) -> str:
    """No terminal control sequences from test names or messages (ESC, BEL, CR overprinting, ...)."""
    return _CONTROL.sub("?", text)


def markdown(analysis: Mapping[str, Any] | None, max_items: int = 20, path_prefix: str = "") -> list[str]:
    """Lines for summary.md: new failures first, then groups, flaky and flipping tests.

    ``doorbell-ci report`` re-renders from a stored report.json, whose analysis section may be
    damaged: then one line says so instead of the report failing.
    """
    if not analysis:
        return []
    try:
        return _markdown(analysis, max_items, path_prefix)
    except (AttributeError, KeyError, TypeError, ValueError):
        return ["> ⚠️ the analysis section of report.json is damaged; run `doorbell-ci analyze` to redo it", ""]


def _markdown(analysis: Mapping[str, Any], max_items: int, path_prefix: str = "") -> list[str]:
    parts: list[str] = []
    failures = {f["key"]: f for f in analysis.get("failures") or []}
    new = analysis.get("new") or []
    if analysis.get("against"):
        if new:
            parts += [f"### 🆕 New failures ({len(new)})", ""]
            for key in new[:max_items]:
                entry = failures.get(key, {})
                where = _where(entry, path_prefix)
                parts.append(f"- **{md_inline(key, 200)}**" + (f" at {md_code(where, 200)}" if where else "")
                             + (f": {md_inline(entry.get('exception', '') + ': ' + entry.get('message', ''), 300)}"
                                if entry else ""))
                how = entry.get("reproduce") or {}
                if how.get("command"):
                    label = "rerun its suite" if how.get("scope") == "suite" else "reproduce"
                    parts.append(f"  {label}: {md_code(how['command'], 500)}")
            if len(new) > max_items:
                parts.append(f"- … and {len(new) - max_items} more")
            parts.append("")
        still, fixed = analysis.get("still_failing") or [], analysis.get("fixed") or []
        parts += [f"{len(new)} new · {len(still)} still failing (already failing on the base run) · "
                  f"{len(fixed)} fixed", ""]
    groups = analysis.get("groups") or []
    if groups and len(groups) < len(failures):
        parts += ["<details><summary>Failures grouped by cause</summary>", "",
                  "| Count | Exception | Message | Where |", "|---:|---|---|---|"]
        for group in groups[:max_items]:
            where = md_cell_code(_where(group, path_prefix), 200) if _where(group) else ""
            parts.append(f"| {group['count']} | {md_inline(group['exception'], 80)} | "
                         f"{md_inline(group['message'], 200)} | {where} |")
        parts += ["", "</details>", ""]
    flaky = analysis.get("flaky") or []
    if flaky:
        parts += [f"**Flaky ({len(flaky)})**: failed, then passed when rerun alone", ""]
        parts += [f"- {md_inline(entry['key'], 200)} (counted as {entry['counted_as']})" for entry in flaky[:max_items]]
        parts.append("")
    flipping = analysis.get("flipping") or {}
    if flipping:
        parts += [f"<details><summary>Flipping across runs ({len(flipping)})</summary>", "",
                  md_code_block("\n".join(f"{v:<20} {k}" for k, v in list(flipping.items())[:max_items])),
                  "", "</details>", ""]
    return parts


def view(analysis: Any) -> dict[str, Any] | None:
    """The analysis reduced to what report.html shows, or None when the stored section is damaged."""
    if not isinstance(analysis, Mapping):
        return None
    try:
        against = analysis.get("against")
        return {
            "against": {"source": str(against["source"]), "run_id": str(against["run_id"])}
            if isinstance(against, Mapping) else None,
            "new": [str(key) for key in analysis.get("new") or []][:100],
            "still_failing": len(analysis.get("still_failing") or []),
            "fixed": len(analysis.get("fixed") or []),
            "groups": [{"count": int(g["count"]), "exception": str(g["exception"]), "message": str(g["message"]),
                        "where": _where(g)} for g in (analysis.get("groups") or [])[:100]],
            "flaky": [{"key": str(f["key"]), "counted_as": str(f["counted_as"])}
                      for f in (analysis.get("flaky") or [])[:100]],
        }
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
