"""dashboard.html: the history of many runs (history.json) as one self-contained static page.

The page answers what one run's report cannot: is the suite getting slower, which tests flip,
are the benchmarks drifting on some platform. It is built like report.html (jinja2 with
autoescaping on every value, bidirectional controls shown by name, a Content-Security-Policy
that allows no script and no request), and its charts are inline SVG drawn from coordinates
computed here, so no string a test controls ever lands anywhere but in escaped text.

The page is bounded whatever the history holds: every section shows its top N and says how
many it left out, so 100,000 tests x 64 runs make a page of the same size as 1,000 tests do.
The reader refuses anything off the format (docs/REPORTS.md, "history.json") with one line:
the history is carried from run to run in artifacts, so a file from another version or a
hostile pull request must stop here, not half-draw a page.
"""

from __future__ import annotations

import argparse
import errno
import heapq
import json
import math
import operator
import os
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Template
from markupsafe import Markup

from doorbell_ci import __version__, nofollow
from doorbell_ci.errors import ReportError
from doorbell_ci.reports.dashboard_charts import PALETTE, Chart, figure_text, line_chart, seconds_text
from doorbell_ci.reports.html import CSP, template_environment
from doorbell_ci.reports.text import encodable, show_bidi

FILENAME = "dashboard.html"
HISTORY_FILENAME = "history.json"
SCHEMA, VERSION = "doorbell-ci.history", 1

# bounds of what the reader accepts (far above the writer's defaults: 64 runs, 100,000 tests)
MAX_FILE_BYTES = 128 * 1024 * 1024  # twice the 67 MiB of 100,000 tests x 64 runs; parsed, ~7x that in memory
MAX_RUNS = 1_024
MAX_TESTS = 1_000_000
MAX_KEY_CHARS = 1_000_000  # one test, suite or benchmark name (the file bound caps the sum); shown cut
MAX_FIELD_CHARS = 1_000  # run id, commit, branch, platform, timestamp, unit
MAX_SUITES = 1_000  # per run
MAX_BENCHMARKS = 10_000  # per run
MAX_SECONDS = 1_000_000.0  # one duration (11.6 days): more is a corrupt file
MAX_COUNT = 100_000_000  # passed/failed/skipped/errors of one run
MAX_VALUE = 1e18  # one benchmark figure (seconds, instructions or bytes)
UNITS = ("s", "instructions", "bytes")

# bounds of what the page shows
SHOWN_RUNS = 128  # the most recent runs drawn; older ones are counted
TOP_SLOWEST = 25
TOP_FLAKY = 30
SHOWN_PLATFORMS = 8
FLIP_PLATFORMS = 16  # flips are counted on the platforms with the most runs (each costs a pass over the tests)
SHOWN_SERIES = 10  # suites per duration chart
SHOWN_BENCHMARKS = 40  # per platform
NAME_SHOWN = 160  # characters of a test id in the page; the tooltip holds up to TITLE_SHOWN
TITLE_SHOWN = 1_000

OUTCOMES = re.compile(r"[PFESR.]*")
OUTCOME_WORDS = {"P": "passed", "F": "failed", "E": "error", "S": "skipped", "R": "failed, then passed on rerun",
                 ".": "not run"}
# the flip count reads a platform's outcomes as pass (P) or fail (F) only; skipped and absent runs drop out
_FLIP_VIEW = str.maketrans({"R": "P", "E": "F", "S": None, ".": None})


class HistoryError(ReportError):
    """A history.json that is not version 1 of the format, or is over a bound: one line, nothing drawn."""


# --- reading ------------------------------------------------------------------------------------


@dataclass
class Run:
    id: str
    commit: str
    branch: str
    platform: str
    started_at: str
    duration: float
    passed: int
    failed: int
    skipped: int
    errors: int
    suites: dict[str, float]
    benchmarks: dict[str, tuple[float, str]]


@dataclass
class History:
    """The checked contents of one history.json; ``tests`` maps each id to (outcomes, durations)."""

    runs: list[Run]
    tests: dict[str, tuple[str, list[float | None]]]
    source: str = ""


def _quoted(text: str, limit: int = 80) -> str:
    """A name inside an error line: JSON-quoted (no newline can split the line) and cut."""
    return json.dumps(text[:limit] + ("…" if len(text) > limit else ""))


def _refuse_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} (the format allows finite numbers only)")


def read(path: Path, follow_links: bool = True) -> History:
    """history.json at ``path``, checked against the format; :class:`HistoryError` (one line) otherwise.

    Only a regular file is read (a FIFO would block the build for ever); with ``follow_links``
    off, as in an output folder the tests could write to, a link is refused rather than followed.
    """
    where = f"history file {path}"
    try:
        target = path.resolve() if follow_links else path
        handle, info = nofollow.open_regular(target.name, None, str(target.parent))
        with handle:
            if info.st_size > MAX_FILE_BYTES:
                raise HistoryError(f"{where} is {info.st_size / 2**20:.0f} MiB, over the "
                                   f"{MAX_FILE_BYTES // 2**20} MiB bound")
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        reason = "it is a symbolic link, not followed here" if error.errno == errno.ELOOP else \
            (error.strerror or str(error))
        raise HistoryError(f"cannot read {where}: {reason}") from None
    if len(raw) > MAX_FILE_BYTES:  # grew after the size was read
        raise HistoryError(f"{where} is over the {MAX_FILE_BYTES // 2**20} MiB bound")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HistoryError(f"{where} is not UTF-8 text") from None
    del raw  # 67 MB at 100,000 tests: not held while the parsed objects are built
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        raise HistoryError(f"{where} is not valid JSON: {str(error)[:200]}") from None
    try:
        return parse(document, source=str(path))
    except HistoryError as error:
        raise HistoryError(f"{where}: {error}") from None


def parse(document: Any, source: str = "") -> History:
    """Check a decoded document against version 1 of the format (see the module docstring for why strictly)."""
    if not isinstance(document, dict):
        raise HistoryError("not a JSON object")
    schema, version = document.get("schema"), document.get("version")
    if schema != SCHEMA or version != VERSION or type(version) is not int:
        raise HistoryError(f"schema {_quoted(str(schema))} version {_quoted(str(version))} is not {SCHEMA} version "
                           f"{VERSION}: rebuild it with this doorbell-ci, or use the doorbell-ci that wrote it")
    raw_runs, raw_tests = document.get("runs"), document.get("tests")
    if not isinstance(raw_runs, list) or not isinstance(raw_tests, dict):
        raise HistoryError('"runs" must be a list and "tests" an object')
    if len(raw_runs) > MAX_RUNS:
        raise HistoryError(f"{len(raw_runs)} runs, over the bound of {MAX_RUNS}")
    if len(raw_tests) > MAX_TESTS:
        raise HistoryError(f"{len(raw_tests)} tests, over the bound of {MAX_TESTS}")
    runs = [_run(entry, number) for number, entry in enumerate(raw_runs)]
    return History(runs=runs, tests=_tests(raw_tests, len(runs)), source=source)


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or len(value) > MAX_FIELD_CHARS:
        raise HistoryError(f'{where}: "{key}" must be a string of at most {MAX_FIELD_CHARS} characters')
    return value


def _number(value: Any, what: str, high: float) -> float:
    """A finite number in [0, high]; bool is not a number here, and inf (from 1e999) is over any bound."""
    if type(value) not in (int, float) or not 0 <= value <= high:
        raise HistoryError(f"{what} must be a finite number from 0 to {high:g}, not {_quoted(repr(value), 40)}")
    return float(value)


def _count(entry: dict[str, Any], key: str, where: str) -> int:
    value = entry.get(key)
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise HistoryError(f'{where}: "{key}" must be a whole number from 0 to {MAX_COUNT}')
    return value


def _run(entry: Any, number: int) -> Run:
    where = f"runs[{number}]"
    if not isinstance(entry, dict):
        raise HistoryError(f"{where} is not an object")
    suites, benchmarks = entry.get("suites"), entry.get("benchmarks")
    if not isinstance(suites, dict) or len(suites) > MAX_SUITES:
        raise HistoryError(f'{where}: "suites" must be an object of at most {MAX_SUITES} suites')
    if not isinstance(benchmarks, dict) or len(benchmarks) > MAX_BENCHMARKS:
        raise HistoryError(f'{where}: "benchmarks" must be an object of at most {MAX_BENCHMARKS} benchmarks')
    checked_benchmarks = {}
    for name, figure in benchmarks.items():
        if len(name) > MAX_KEY_CHARS:
            raise HistoryError(f"{where}: a benchmark name is over {MAX_KEY_CHARS} characters")
        if not isinstance(figure, dict) or figure.get("unit") not in UNITS:
            raise HistoryError(f"{where}: benchmark {_quoted(name)} must be "
                               f'{{"value": number, "unit": one of {", ".join(UNITS)}}}')
        checked_benchmarks[name] = (_number(figure.get("value"), f"{where}: benchmark {_quoted(name)}", MAX_VALUE),
                                    figure["unit"])
    for name in suites:
        if len(name) > MAX_KEY_CHARS:
            raise HistoryError(f"{where}: a suite name is over {MAX_KEY_CHARS} characters")
    return Run(
        id=_text(entry, "id", where), commit=_text(entry, "commit", where), branch=_text(entry, "branch", where),
        platform=_text(entry, "platform", where), started_at=_text(entry, "started_at", where),
        duration=_number(entry.get("duration"), f'{where}: "duration"', MAX_SECONDS),
        passed=_count(entry, "passed", where), failed=_count(entry, "failed", where),
        skipped=_count(entry, "skipped", where), errors=_count(entry, "errors", where),
        suites={name: _number(seconds, f"{where}: suite {_quoted(name)}", MAX_SECONDS)
                for name, seconds in suites.items()},
        benchmarks=checked_benchmarks,
    )


_DURATION_TYPES = {float, int, type(None)}


def _tests(raw: dict[str, Any], runs: int) -> dict[str, tuple[str, list[float | None]]]:
    """Every test's outcomes and durations, checked; the loop is the reader's hot path at 100,000 tests."""
    tests: dict[str, tuple[str, list[float | None]]] = {}
    fullmatch = OUTCOMES.fullmatch
    for key, entry in raw.items():
        outcomes = entry.get("o") if isinstance(entry, dict) else None
        durations = entry.get("d") if isinstance(entry, dict) else None
        if (not isinstance(outcomes, str) or not isinstance(durations, list) or len(outcomes) != runs
                or len(durations) != runs):
            raise HistoryError(f'test {_quoted(key)}: "o" and "d" must be a string and a list of {runs} entries '
                               "each (one per run)")
        if len(key) > MAX_KEY_CHARS:
            raise HistoryError(f"test {_quoted(key)}: the id is over {MAX_KEY_CHARS} characters")
        if not fullmatch(outcomes):
            raise HistoryError(f'test {_quoted(key)}: "o" may hold only P, F, E, S, R and "."')
        if not set(map(type, durations)) <= _DURATION_TYPES:
            raise HistoryError(f'test {_quoted(key)}: "d" may hold only numbers and null')
        present = [value for value in durations if value is not None] if None in durations else durations
        if present and not (0 <= min(present) and max(present) <= MAX_SECONDS):
            raise HistoryError(f'test {_quoted(key)}: a duration in "d" is not a finite number from 0 to '
                               f"{MAX_SECONDS:g} seconds")
        tests[key] = (outcomes, durations)
    return tests


def combine(histories: list[History]) -> History:
    """Several histories (one per matrix leg) as one, for the page: runs by (id, platform), oldest first.

    Each leg's history.json holds the earlier runs it fetched plus its own run, so the same run can
    be in several files: it is drawn once, its outcomes taken from the first file that has them.
    A test absent from a file is "." in that file's runs. The newest MAX_RUNS runs are kept.
    """
    if len(histories) == 1:
        return histories[0]
    runs: dict[tuple[str, str], Run] = {}
    for history in histories:
        for run in history.runs:
            runs.setdefault((run.id, run.platform), run)
    merged = sorted(runs.values(), key=lambda run: run.started_at)[-MAX_RUNS:]
    position = {(run.id, run.platform): index for index, run in enumerate(merged)}
    outcomes: dict[str, list[str]] = {}
    durations: dict[str, list[float | None]] = {}
    for history in histories:
        targets = [(source, position[(run.id, run.platform)]) for source, run in enumerate(history.runs)
                   if (run.id, run.platform) in position]
        for key, (test_outcomes, test_durations) in history.tests.items():
            if key not in outcomes:
                outcomes[key], durations[key] = ["."] * len(merged), [None] * len(merged)
            into_outcomes, into_durations = outcomes[key], durations[key]
            for source, target in targets:
                if into_outcomes[target] == "." and test_outcomes[source] != ".":
                    into_outcomes[target] = test_outcomes[source]
                    into_durations[target] = test_durations[source]
    if len(outcomes) > MAX_TESTS:
        raise HistoryError(f"the histories hold {len(outcomes)} tests together, over the bound of {MAX_TESTS}")
    return History(runs=merged, tests={key: ("".join(outcomes[key]), durations[key]) for key in outcomes},
                   source=", ".join(history.source for history in histories))


# --- what the page shows ----------------------------------------------------------------------


def shown_name(text: str, limit: int = NAME_SHOWN) -> str:
    """A test id as printed: encodable, cut with a count of what was cut (huge parametrised ids exist)."""
    text = encodable(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… (+{len(text) - limit} characters)"


def name_parts(key: str) -> dict[str, str]:
    """A test id as the page shows it: the test's own name first, its suite and class below, each cut."""
    where, _, test = key.rpartition("::")
    return {"test": shown_name(test, NAME_SHOWN), "where": shown_name(where, NAME_SHOWN),
            "title": shown_name(key, TITLE_SHOWN)}


def _short(commit: str) -> str:
    return commit[:8] if commit else "?"


def _positions_by_platform(runs: list[Run]) -> dict[str, list[int]]:
    platforms: dict[str, list[int]] = {}
    for index, run in enumerate(runs):
        platforms.setdefault(run.platform, []).append(index)
    return platforms


def pass_rate_chart(runs: list[Run], colors: dict[str, str], width: int = 1120, height: int = 220) -> Chart:
    """One bar per run, coloured by platform; the axis starts near the lowest rate so small drops show."""
    chart = Chart(width=width, height=height)
    rates = [_pass_rate(run) for run in runs]
    known = [r for r in rates if r is not None]
    low = min(90.0, math.floor(min(known, default=100.0) / 10) * 10)
    ticks = [low + (100 - low) * i / 4 for i in range(5)]
    plot_w = width - chart.left - chart.right
    plot_h = height - chart.top - chart.bottom
    slot = plot_w / max(1, len(runs))
    chart.y_ticks = [(round(chart.top + plot_h - (t - low) / (100 - low) * plot_h, 1), f"{t:.4g}%") for t in ticks]
    every = max(1, math.ceil(len(runs) / max(1, plot_w // 70)))
    for index, (run, rate) in enumerate(zip(runs, rates, strict=True)):
        x = chart.left + index * slot
        if index % every == 0:
            chart.x_ticks.append((round(x + slot / 2, 1), _short(run.commit)))
        shown = max(low, rate if rate is not None else low)
        bar_h = max(1.0, (shown - low) / (100 - low) * plot_h)
        rate_text = "no test ran" if rate is None else f"{rate:.2f}% passed"
        chart.bars.append({
            "x": round(x + slot * 0.12, 1), "w": round(max(1.0, slot * 0.76), 1),
            "y": round(chart.top + plot_h - bar_h, 1), "h": round(bar_h, 1),
            "color": colors.get(run.platform, PALETTE[0]), "failed": bool(run.failed or run.errors),
            "title": f"{run.id} · {_short(run.commit)} · {run.platform} · {rate_text}: {run.passed} passed, "
                     f"{run.failed} failed, {run.errors} errors, {run.skipped} skipped"})
    return chart


def _pass_rate(run: Run) -> float | None:
    counted = run.passed + run.failed + run.errors
    return 100.0 * run.passed / counted if counted else None


def _flips(outcomes: str, platform_views: list[Any]) -> tuple[int, int]:
    """Changes between pass and fail within each platform's own runs (legs are not compared with each
    other): the total, and the most on one platform."""
    total = most = 0
    for view in platform_views:
        sequence = "".join(view(outcomes)).translate(_FLIP_VIEW)
        flips = sequence.count("PF") + sequence.count("FP")
        total += flips
        most = max(most, flips)
    return total, most


def _flaky(history: History, shown_from: int) -> tuple[list[dict[str, Any]], int]:
    """Tests ranked by flaky evidence: failed-then-passed reruns (R) and pass/fail flips per platform.

    A test that always fails, or was fixed once (one flip on each platform), is not a candidate: it
    needs an R or at least two flips on one platform. Only tests with a failure anywhere are looked
    at, so a green history costs three ``in`` tests per test; flips are counted on the
    FLIP_PLATFORMS platforms with the most runs, so a history of a thousand one-run platforms
    costs no more than one of sixteen.
    """
    positions = sorted(_positions_by_platform(history.runs).values(), key=len, reverse=True)
    views = [operator.itemgetter(*p) for p in positions[:FLIP_PLATFORMS] if len(p) > 1]
    candidates = []
    for key, (outcomes, _) in history.tests.items():
        if "F" not in outcomes and "E" not in outcomes and "R" not in outcomes:
            continue
        reruns = outcomes.count("R")
        flips, most_on_one_platform = _flips(outcomes, views)
        if reruns or most_on_one_platform >= 2:
            failures = outcomes.count("F") + outcomes.count("E")
            candidates.append((reruns + flips, reruns, flips, failures, key))
    top = heapq.nlargest(TOP_FLAKY, candidates, key=lambda c: (c[0], c[1], c[3], c[4]))
    rows = []
    for score, reruns, flips, failures, key in top:
        outcomes = history.tests[key][0]
        ran = len(outcomes) - outcomes.count(".") - outcomes.count("S")
        rows.append({"key": key, "name": shown_name(key), **name_parts(key), "score": score,
                     "reruns": reruns, "flips": flips, "failures": failures, "ran": ran,
                     "timeline": _timeline(history.runs, outcomes, shown_from)})
    return rows, len(candidates) - len(rows)


TIMELINE_CELL, TIMELINE_GAP, TIMELINE_HEIGHT = 6, 2, 16
TIMELINE_COLORS = {"P": "#2da44e", "F": "#cf222e", "E": "#8c1d18", "R": "#bf8700", "S": "#afb8c1", ".": "none"}


def _timeline(runs: list[Run], outcomes: str, shown_from: int) -> dict[str, Any]:
    cells = []
    for index in range(shown_from, len(runs)):
        run, outcome = runs[index], outcomes[index]
        cells.append({"x": (index - shown_from) * (TIMELINE_CELL + TIMELINE_GAP), "fill": TIMELINE_COLORS[outcome],
                      "outcome": outcome,
                      "title": f"{_short(run.commit)} · {run.platform} · {OUTCOME_WORDS[outcome]}"})
    return {"width": max(1, len(cells) * (TIMELINE_CELL + TIMELINE_GAP)), "height": TIMELINE_HEIGHT,
            "cell": TIMELINE_CELL, "cells": cells}


def _slowest(history: History, shown_from: int, colors: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    """The tests with the highest mean duration, each with its trend (one line per platform)."""
    means = []
    for key, (_, durations) in history.tests.items():
        present = [v for v in durations if v is not None] if None in durations else durations
        total = sum(present)
        if total > 0:
            means.append((total / len(present), key))
    top = [(key, history.tests[key]) for _, key in heapq.nlargest(TOP_SLOWEST, means)]
    shown_runs = history.runs[shown_from:]
    positions = [(platform, set(indexes))
                 for platform, indexes in list(_positions_by_platform(shown_runs).items())[:SHOWN_PLATFORMS]]
    rows = []
    for key, (_, durations) in top:
        recent = durations[shown_from:]
        series = [(platform, [value if i in indexes else None for i, value in enumerate(recent)])
                  for platform, indexes in positions]
        present = [v for v in durations if v is not None]
        latest = next((v for v in reversed(durations) if v is not None), None)
        chart = line_chart(len(recent), series, [""] * len(recent), width=300, height=36, low_zero=False,
                           spark=True)
        for line, (platform, _) in zip(chart.series, series, strict=True):
            line["color"] = colors.get(platform, PALETTE[0])
        rows.append({"name": shown_name(key), **name_parts(key), "latest": latest,
                     "median": statistics.median(present), "low": min(present), "high": max(present),
                     "chart": chart})
    return rows, len(means) - len(rows)


def _suite_charts(runs: list[Run], colors: dict[str, str]) -> list[dict[str, Any]]:
    """One chart per platform: each suite's wall time over that platform's runs (commits on the x axis)."""
    charts = []
    for platform, indexes in list(_positions_by_platform(runs).items())[:SHOWN_PLATFORMS]:
        legs = [runs[i] for i in indexes]
        names: dict[str, float] = {}
        for run in legs:
            for name, seconds in run.suites.items():
                names[name] = max(names.get(name, 0.0), seconds)
        ranked = sorted(names, key=lambda n: (-names[n], n))
        series = [("whole run", [run.duration for run in legs])]
        series += [(name, [run.suites.get(name) for run in legs]) for name in ranked[:SHOWN_SERIES]]
        chart = line_chart(len(legs), series, [_short(run.commit) for run in legs], width=1120, height=240)
        for line in chart.series:
            line["label"] = shown_name(line["label"], 60)
        charts.append({"platform": platform, "chart": chart, "runs": len(legs),
                       "left_out": max(0, len(ranked) - SHOWN_SERIES), "color": colors.get(platform)})
    return charts


def _benchmarks(runs: list[Run], colors: dict[str, str]) -> list[dict[str, Any]]:
    """Per platform, each benchmark's figures over its runs; the largest recent changes first."""
    sections = []
    for platform, indexes in list(_positions_by_platform(runs).items())[:SHOWN_PLATFORMS]:
        legs = [runs[i] for i in indexes]
        names = sorted({name for run in legs for name in run.benchmarks})
        rows = []
        for name in names:
            figures = [run.benchmarks.get(name) for run in legs]
            values = [f[0] if f else None for f in figures]
            present = [v for v in values if v is not None]
            unit = next(f[1] for f in figures if f)
            latest = present[-1]
            earlier = statistics.median(present[:-1]) if len(present) > 1 else None
            change = (latest / earlier - 1.0) * 100 if earlier else None
            rows.append({"name": name, "unit": unit, "values": values, "latest": latest, "earlier": earlier,
                         "change": change})
        rows.sort(key=lambda r: (-abs(r["change"] or 0.0), r["name"]))
        shown = rows[:SHOWN_BENCHMARKS]
        for row in shown:
            row["chart"] = line_chart(len(legs), [(row["name"], row["values"])], [""] * len(legs), width=300,
                                      height=36, low_zero=False, spark=True,
                                      label=lambda v, u=row["unit"]: figure_text(v, u))
            row["name"] = shown_name(row["name"], 100)
        if rows:
            sections.append({"platform": platform, "rows": shown, "left_out": len(rows) - len(shown),
                             "runs": len(legs), "color": colors.get(platform)})
    return sections


def view(history: History) -> dict[str, Any]:
    """Everything the template draws, computed once: the page is a function of this dict."""
    runs = history.runs
    shown_from = max(0, len(runs) - SHOWN_RUNS)
    recent = runs[shown_from:]
    platforms = list(_positions_by_platform(runs))
    colors = {platform: PALETTE[number % len(PALETTE)] for number, platform in enumerate(platforms)}
    flaky, flaky_left_out = _flaky(history, shown_from)
    slowest, slowest_left_out = _slowest(history, shown_from, colors)
    latest = runs[-1] if runs else None
    return {
        "runs": recent, "runs_total": len(runs), "runs_left_out": shown_from, "tests_total": len(history.tests),
        "platforms": [(p, colors[p], sum(1 for r in runs if r.platform == p)) for p in platforms],
        "branches": sorted({r.branch for r in runs if r.branch}),
        "first": runs[0] if runs else None, "latest": latest,
        "latest_rate": _pass_rate(latest) if latest else None,
        "pass_rate": pass_rate_chart(recent, colors) if recent else None,
        "suites": _suite_charts(recent, colors),
        "slowest": slowest, "slowest_left_out": slowest_left_out,
        "flaky": flaky, "flaky_left_out": flaky_left_out, "flaky_total": len(flaky) + flaky_left_out,
        "benchmarks": _benchmarks(recent, colors), "timeline_colors": TIMELINE_COLORS, "outcome_words": OUTCOME_WORDS,
    }


# --- the page ------------------------------------------------------------------------------------


def _visible_controls(value: Any) -> Any:
    """Every printed value: bidirectional overrides shown by name, lone surrogates replaced."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return show_bidi(encodable(value))
    return value


_environment = template_environment(_visible_controls)
_environment.filters.update(seconds=seconds_text, figure=figure_text, short=_short, name=shown_name,
                            when=lambda stamp: stamp[:16].replace("T", " "))


def load_template() -> Template:
    return _environment.get_template("dashboard.html.j2")


def render(history: History) -> str:
    return load_template().render(csp=CSP, version=__version__, **view(history))


def write(history: History, output: Path) -> Path:
    """Write the page to ``output`` atomically (a web server or a Pages upload never sees half a page)."""
    from doorbell_ci.atomic import write_text

    write_text(output, render(history), durable=False)  # made again from history.json
    return output


def write_beside(output_dir: Path) -> Path | None:
    """The reports stage's hook: dashboard.html next to history.json when a run wrote one, else None.

    Raises :class:`HistoryError` (a ReportError, one line) for a history off the format, or one
    that is a link or not a regular file (the tests can write into the output folder); the other
    reports are unaffected, so the caller names it among the reports that failed.
    """
    history_path = output_dir / HISTORY_FILENAME
    if not os.path.lexists(history_path):
        return None
    return write(read(history_path, follow_links=False), output_dir / FILENAME)


# --- the command ----------------------------------------------------------------------------------


def register_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dashboard", help="draw the history of many runs (history.json) as one static HTML page",
        description="Draw history.json as one self-contained HTML page: pass rate per run, suite durations, "
                    "the slowest tests, a flaky leaderboard and benchmark trends per platform. Several files "
                    "(one per matrix leg) are drawn as one history. The page loads nothing and runs no script, "
                    "so it can be published as is (e.g. to GitHub Pages).")
    parser.add_argument("history", type=Path, nargs="+", metavar="HISTORY.json",
                        help="history files (history.json of each matrix leg)")
    parser.add_argument("-o", "--output", type=Path, default=Path(FILENAME), metavar="FILE",
                        help=f"where to write the page (default: {FILENAME})")
    parser.set_defaults(handler=_dashboard_command)


def _dashboard_command(args: argparse.Namespace) -> int:
    history = combine([read(path) for path in args.history])
    try:
        path = write(history, args.output)
    except OSError as error:
        raise ReportError(f"cannot write the dashboard to {args.output}: {error.strerror or error}") from None
    print(f"dashboard: {path} ({len(history.runs)} runs, {len(history.tests)} tests)")
    return 0
