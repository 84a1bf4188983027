"""Small text helpers shared by the Markdown, HTML and terminal renderers."""

from __future__ import annotations

import re

from doorbell_ci.results import Outcome, RunResult, TestResult

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>])")


def human_bytes(count: int | float | None) -> str:
    if not count:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def md_inline(text: str, limit: int = 300) -> str:
    """Text that renders as itself in GitHub Markdown: no HTML, no links, no mentions, one line."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return text.replace("@", "@\u200b").replace("://", ":\u200b//")


def md_code(text: str, limit: int = 300) -> str:
    """An inline code span (escapes do not work inside one, so pick a longer fence instead)."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_code_block(text: str, limit: int = 4000) -> str:
    """A fenced block that no content can close early (the fence is longer than any backtick run)."""
    if len(text) > limit:
        text = text[: limit // 2] + "\n…\n" + text[-limit // 2 :]
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def location(test: TestResult) -> str:
    if test.file and test.line:
        return f"{test.file}:{test.line}"
    return test.file or ""


def failures(run: RunResult) -> list[TestResult]:
    return [t for t in run.iter_tests() if t.outcome in (Outcome.FAILED, Outcome.ERROR)]


def slowest(run: RunResult, count: int = 10) -> list[TestResult]:
    import heapq

    return heapq.nlargest(count, run.iter_tests(), key=lambda t: t.duration)


def closing_line(run: RunResult) -> str:
    """The plain last line: errors count as failed here (the detail is printed above it)."""
    counts = run.counts
    line = f"{counts.passed} passed, {counts.failed + counts.errors} failed, {counts.skipped} skipped"
    flaky = sum(1 for test in run.iter_tests() if test.flaky)  # already counted as passed or failed above
    return line + (f" ({flaky} flaky)" if flaky else "")
