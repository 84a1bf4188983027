"""Small text helpers shared by the Markdown, HTML and terminal renderers."""

from __future__ import annotations

import re

from doorbell_ci.analysis.signatures import failure_frame
from doorbell_ci.perf import regression_exit
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult

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


def location(test: TestResult, path_prefix: str = "", project: str | None = None) -> str:
    """``file:line`` where ``test`` failed (see analysis.signatures.failure_frame), or its own file.

    ``path_prefix`` is the project's folder inside the repository, so the path is the one a
    reader finds on GitHub when the project lives in a sub-folder.
    """
    frame = failure_frame(test, project) if test.details else None  # no traceback: skip the work (100k tests)
    if frame is not None:
        return prefixed(path_prefix, frame.file) + f":{frame.line}"
    where = f"{test.file}:{test.line}" if test.file and test.line else test.file or ""
    return prefixed(path_prefix, where) if where and path_prefix else where


def prefixed(path_prefix: str, path: str) -> str:
    """``path`` (relative to the project) as a path relative to the repository, with ``/`` separators."""
    path = path.replace("\\", "/")
    return f"{path_prefix.rstrip('/')}/{path}" if path_prefix else path


def failures(run: RunResult) -> list[TestResult]:
    return [t for t in run.iter_tests() if t.outcome in (Outcome.FAILED, Outcome.ERROR)]


def slowest(run: RunResult, count: int = 10) -> list[TestResult]:
    import heapq

    return heapq.nlargest(count, run.iter_tests(), key=lambda t: t.duration)


def closing_line(run: RunResult) -> str:
    """The plain last line: errors count as failed here (the detail is printed above it).

    It always starts ``N passed, N failed, N skipped`` (what scripts parse). A run that must not
    read as a success although no test failed says why after a semicolon: ``; 1 suite error
    (unit)`` for suites that crashed, wrote no results or timed out, ``; nothing tested`` when no
    test passed or failed.
    """
    counts = run.counts
    line = f"{counts.passed} passed, {counts.failed + counts.errors} failed, {counts.skipped} skipped"
    flaky = sum(1 for test in run.iter_tests() if test.flaky)  # already counted as passed or failed above
    line += f" ({flaky} flaky)" if flaky else ""
    broken = unfinished_suites(run)
    if broken:
        names = ", ".join(suite.name for suite in broken[:5]) + (", ..." if len(broken) > 5 else "")
        line += f"; {len(broken)} suite error{'s' if len(broken) > 1 else ''} ({names})"
    elif nothing_tested(run):
        line += "; nothing tested"
    return line


_UNFINISHED = (SuiteStatus.ERROR, SuiteStatus.TIMEOUT)
NOTHING_TESTED = "nothing was tested"  # how the notice and the console line begin


def unfinished_suites(run: RunResult) -> list[SuiteResult]:
    """Suites whose runner did not end normally: their counts alone could read as a success."""
    return [suite for suite in run.suites if suite.status in _UNFINISHED]


def nothing_tested(run: RunResult) -> bool:
    """No test passed, failed or errored: every suite absent, empty, deselected, or every test skipped.

    A skipped test checked nothing, so a run of skipped tests only is "nothing tested" too
    (docs/CONFIGURATION.md, exit code 8).
    """
    counts = run.counts
    return counts.passed + counts.failed + counts.errors == 0


def shard_without_tests(run: RunResult) -> bool:
    """A shard that was given none of the tests (more shards than tests); the other shards run them."""
    shard = (run.analysis or {}).get("shard")
    return isinstance(shard, dict) and shard.get("tests") == 0 and bool(shard.get("total_tests"))


def why_nothing_tested(run: RunResult) -> str:
    """One clause per cause, from the suites' statuses and reasons."""
    parts: list[str] = []
    skipped = run.counts.skipped
    if skipped:
        parts.append(f"all {skipped} tests were skipped" if skipped > 1 else "the only test was skipped")
    for suite in run.suites:
        if suite.status in (SuiteStatus.NO_TESTS, SuiteStatus.NOT_RUN, *_UNFINISHED):
            parts.append(f"{suite.name}: {suite.status.value}" + (f" ({suite.reason})" if suite.reason else ""))
    absent = [suite for suite in run.suites if suite.status is SuiteStatus.ABSENT]
    if absent:
        shown = ", ".join(suite.name for suite in absent[:7]) + (", ..." if len(absent) > 7 else "")
        if len(absent) == len(run.suites):
            missing = " does not exist in the project"  # plan.py's reason: name the paths, configured or not
            if all(suite.reason.endswith(missing) for suite in absent):
                paths = [suite.reason.removesuffix(missing) for suite in absent]
                reason = (f"{paths[0]}{missing}" if len(paths) == 1 else
                          f"none of {', '.join(paths[:7])}{', ...' if len(paths) > 7 else ''} exists in the project")
            else:
                reason = f"{shown}: " + "; ".join(dict.fromkeys(suite.reason for suite in absent))
            parts.append(f"every selected suite is absent ({reason}); check --project and the suites' paths")
        else:
            parts.append(f"absent: {shown}")
    if not run.suites:  # the defaults a project does not have are not listed (a notice says where it looked)
        parts.append("no selected suite exists in the project")
    return "; ".join(parts)


def nothing_tested_notice(run: RunResult, exit_code: int | None) -> str | None:
    """The one line that says no test ran and why, with what the exit code makes of it; None when tests ran."""
    if not nothing_tested(run) or run.failed:  # a failed run says why through its failed suites
        return None
    if shard_without_tests(run):
        shard = (run.analysis or {})["shard"]
        return (f"{NOTHING_TESTED} in this shard: shard {shard.get('index')}/{shard.get('total')} was given none of "
                f"the {shard.get('total_tests')} tests (more shards than tests); the other shards run them")
    line = f"{NOTHING_TESTED}: {why_nothing_tested(run)}"
    if exit_code == 8:
        return line + " (exit 8; --allow-no-tests accepts such a run)"
    if exit_code == 0:
        return line + "; accepted by allow_no_tests (exit 0)"
    return line


def ending_lines(run: RunResult) -> list[str]:
    """What went wrong, one line each, printed just above the closing line: the reader's last look.

    A suite that errored or timed out, a suite that pytest-cov failed on its coverage, coverage
    under the required total, and a run that tested nothing; each with its reason, which is
    otherwise only in the log.
    """
    lines = []
    for suite in run.suites:
        where = f" (output: {suite.log_file})" if suite.log_file else ""
        if suite.status is SuiteStatus.ERROR:
            lines.append(f"suite {suite.name} errored: {suite.reason or 'no reason recorded'}{where}")
        elif suite.status is SuiteStatus.TIMEOUT:
            lines.append(f"suite {suite.name} timed out: {suite.reason or 'killed at its timeout'}{where}")
        elif suite.status is SuiteStatus.COVERAGE_FAILED:
            lines.append(f"suite {suite.name}: coverage failed: {suite.reason}")
    coverage = run.coverage
    if coverage is not None and coverage.below_threshold:
        lines.append(f"coverage failed: {coverage.percent:.2f}% of {coverage.statements} statements is under the "
                     f"required {coverage.fail_under:g}%")
    nothing = next((notice for notice in run.notices if notice.startswith(NOTHING_TESTED)), None)
    if nothing is None and nothing_tested(run) and not run.failed:
        nothing = f"{NOTHING_TESTED}: {why_nothing_tested(run)}"
    if nothing:
        lines.append(nothing)
    return [" ".join(line.split()) for line in lines]  # one line each, whatever a reason holds


def verdict(run: RunResult) -> tuple[str, str]:
    """(icon, word) of the run for report headings: a run that tested nothing never reads "passed"."""
    if run.failed:
        return "❌", "failed"
    if nothing_tested(run) and not shard_without_tests(run):
        return "⚠️", "nothing tested"
    if (run.coverage is not None and run.coverage.below_threshold) or any(
            suite.status is SuiteStatus.COVERAGE_FAILED for suite in run.suites):
        return "❌", "coverage failed"
    if regression_exit(run.performance):  # exit 6: the gate the user asked for failed, tests passed or not
        return "❌", "performance regression"
    return "✅", "passed"
