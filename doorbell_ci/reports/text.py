"""Small text helpers shared by the Markdown, HTML and terminal renderers."""

from __future__ import annotations

import re

from doorbell_ci.results import Outcome, RunResult, TestResult

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>])")
# what GitHub turns into a notification or a link even in escaped text: @user and @org/team mentions,
# #123, GH-123 and owner/repo#123 references; a zero-width space after the sigil breaks each (as
# Dependabot and Renovate do), while "a@b.c" and "pkg@1.0" (a word character before) are left alone
_PINGS = re.compile(r"((?<!\w)@(?=[A-Za-z0-9])|#(?=\d)|(?<!\w)GH-(?=\d))", re.IGNORECASE)
# embedding, override and isolate controls reorder what a reader sees (Trojan Source): shown by name
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


_SURROGATE = re.compile("[\ud800-\udfff]")
_BACKSLASHES_BEFORE_PIPE = re.compile(r"(\\+)?\|")


def encodable(text: str) -> str:
    """Lone surrogates (a name decoded from broken bytes, or read back from report.json) as U+FFFD.

    They cannot be encoded as UTF-8, so the job summary, the comment and the check run would
    fail on them; GitHub would show the replacement character anyway.
    """
    return _SURROGATE.sub("\ufffd", text)


def show_bidi(text: str) -> str:
    return _BIDI.sub(lambda match: f"U+{ord(match.group()):04X}", text)


def unping(text: str) -> str:
    """``text`` with mentions, issue references and bidirectional overrides made inert, still readable."""
    return show_bidi(_PINGS.sub("\\1\u200b", text))


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
    text = unping(text.replace("@", "@\u200b")).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return text.replace("://", ":\u200b//").replace("www.", "www\u200b.")  # no autolinks, with or without scheme


def md_code(text: str, limit: int = 300) -> str:
    """An inline code span (escapes do not work inside one, so pick a longer fence instead).

    Mentions and references are left as they are: GitHub neither pings nor links inside code, and
    a zero-width space there would travel with every copy of the code (``@attr.s``). What keeps
    them inert is that nothing can end the span early: its fence is longer than any backtick run.
    """
    text = show_bidi(" ".join(text.split()))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_code_block(text: str, limit: int = 4000) -> str:
    """A fenced block that no content can close early (the fence is longer than any backtick run).

    Written at the start of a line, outside any list or quote, so only its own fence ends it; its
    content is therefore shown as is, without zero-width spaces (see ``md_code``).
    """
    if len(text) > limit:
        text = text[: limit // 2] + "\n…\n" + text[-limit // 2 :]
    text = show_bidi(text)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def md_cell_code(text: str, limit: int = 300) -> str:
    """A code span inside a table cell: GFM splits cells at ``|`` even in code, unless escaped.

    GFM's cell scanner reads a backslash followed by punctuation as one escaped pair, so in
    ``\\\\|`` the pipe would end the cell, and the span with it; a space keeps any backslash
    away from the escaped pipe.
    """
    return _BACKSLASHES_BEFORE_PIPE.sub(lambda m: (m.group(1) + " " if m.group(1) else "") + "\\|",
                                        md_code(text, limit))


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
