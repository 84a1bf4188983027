"""history.json: a bounded per-test history, carried from run to run (format and rules: docs/HISTORY.md).

Each run appends one column: the run's facts (commit, branch, platform key, counts, suite and
benchmark figures) to ``runs``, and one letter and one duration to every test's ``o`` and ``d``.
The previous history comes from the results artifact of the default branch's last run (``doorbell-ci
fetch-history``, through the same safe artifact code as the baselines) or the output folder's
earlier history.json; matrix legs and shards are combined with :func:`combine`.

Bounded twice: at most ``history_runs`` runs (the oldest column is dropped) and at most
``history_tests`` tests (the ones seen least recently go first, then the quietest). Writing stays
cheap because a test's row is two short strings/lists extended in place: for 100,000 tests the cost
is the JSON encoding, measured in docs/HISTORY.md ("Cost").

The reader refuses, with one line, anything not of exactly this shape, so a hostile or damaged
artifact can cost a run its history (a notice) but never its results.
"""

from __future__ import annotations

import errno
import json
import math
import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doorbell_ci import atomic, nofollow
from doorbell_ci.errors import ReportError
from doorbell_ci.results import Outcome, RunResult, TestResult

FILENAME = "history.json"
SCHEMA = "doorbell-ci.history"
VERSION = 1
DEFAULT_RUNS, MAX_RUNS = 64, 1_000
DEFAULT_TESTS, MAX_TESTS = 100_000, 1_000_000
# a test id longer than this (a parametrized test whose id holds a huge value) is not kept: it would
# make the file and the dashboard, which refuses ids over a million characters, hostage to one test
MAX_KEY_CHARS = 10_000
MAX_BYTES = 512 * 1024 * 1024  # 1,000,000 tests x 64 runs is about 450 MB; more is not a history of ours
LETTERS = {Outcome.PASSED: "P", Outcome.FAILED: "F", Outcome.ERROR: "E", Outcome.SKIPPED: "S"}
RERUN_PASS = "R"  # failed, then passed on a rerun: flaky evidence
ABSENT = "."
VALID_LETTERS = frozenset("PFESR.")
_RUN_TEXT = ("id", "commit", "branch", "platform", "started_at")
_RUN_COUNTS = ("passed", "failed", "skipped", "errors")
_UNITS = frozenset({"s", "instructions", "bytes"})
_MAX_SECONDS = 1e9  # finite, and 1e400 (which JSON parses as infinity) is refused


class HistoryError(ReportError):
    """A history.json that is not ours, or not of this version: refused with one line."""


@dataclass
class History:
    """history.json in memory; ``tests`` holds the format's own rows, ``{"o": letters, "d": durations}``.

    The rows are the parsed JSON objects themselves, extended in place: no copy on reading, none
    on writing (at 100,000 tests a conversion each way cost more than a second).
    """

    runs: list[dict[str, Any]] = field(default_factory=list)
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "version": VERSION, "runs": self.runs,
                "tests": self.tests}

    def outcomes(self, key: str) -> str:
        row = self.tests.get(key)
        return row["o"] if row else ""


def test_key(test: TestResult) -> str:
    """``<suite>::<classname>::<name>``, the format's test key (not analysis' ``suite::nodeid``)."""
    return f"{test.suite}::{test.classname}::{test.name}"


test_key.__test__ = False  # type: ignore[attr-defined] - a name pytest would otherwise collect


def letter(test: TestResult) -> str:
    """The test's letter in this run; a rerun pass is ``R`` whether or not flaky tests count as failed."""
    return RERUN_PASS if test.flaky else LETTERS[test.outcome]


# --- reading -----------------------------------------------------------------------------------


def _refuse(source: str, why: str) -> HistoryError:
    return HistoryError(f"{source} is not a doorbell-ci history: {why}")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def read(path: Path, max_runs: int = MAX_RUNS, max_tests: int = MAX_TESTS) -> History:
    """The history in ``path`` (a file or the folder holding history.json); HistoryError if unusable."""
    path = path / FILENAME if path.is_dir() else path
    source = str(path)
    try:
        # the output folder is written by the tests: the name may be a link out of it, or a FIFO that
        # would block the run for ever; neither is followed or waited on
        data = nofollow.read_bounded(path, MAX_BYTES)
        document = json.loads(data, parse_constant=_reject_constant)
    except nofollow.TooLarge as big:
        raise _refuse(source, f"{big.size:,} bytes, over the {MAX_BYTES // (1024 * 1024)} MB limit") from None
    except FileNotFoundError:
        raise HistoryError(f"{source} does not exist") from None
    except OSError as error:
        why = "it is a symbolic link" if error.errno == errno.ELOOP else error.strerror or str(error)
        raise HistoryError(f"{source} could not be read: {why}") from None
    except (ValueError, RecursionError) as error:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise _refuse(source, f"not JSON ({str(error)[:200]})") from None
    return parse(document, source, max_runs, max_tests)


def parse(document: Any, source: str = "history", max_runs: int = MAX_RUNS, max_tests: int = MAX_TESTS) -> History:
    """Check ``document`` against the format, field by field; the first problem is the error."""
    if not isinstance(document, dict):
        raise _refuse(source, "not a JSON object")
    if document.get("schema") != SCHEMA or document.get("version") != VERSION:
        raise _refuse(source, f"schema {str(document.get('schema'))[:60]!r} version "
                              f"{str(document.get('version'))[:20]}, expected {SCHEMA!r} version {VERSION}")
    runs, tests = document.get("runs"), document.get("tests")
    if not isinstance(runs, list) or not isinstance(tests, dict):
        raise _refuse(source, "'runs' must be a list and 'tests' an object")
    if len(runs) > max_runs:
        raise _refuse(source, f"{len(runs)} runs, more than {max_runs}")
    if len(tests) > max_tests:
        raise _refuse(source, f"{len(tests):,} tests, more than {max_tests:,}")
    for index, run in enumerate(runs):
        problem = _run_problem(run)
        if problem:
            raise _refuse(source, f"runs[{index}] {problem}")
    width = len(runs)
    parsed: dict[str, dict[str, Any]] = {}
    numbers = {float, int}
    for key, row in tests.items():
        # C-level checks per row (count, set, min/max), not a Python loop per cell: 6.4 million cells at
        # 100,000 tests x 64 runs
        if not isinstance(row, dict) or not isinstance(row.get("o"), str) or not isinstance(row.get("d"), list):
            raise _refuse(source, f"test {key[:200]!r} needs a string 'o' and a list 'd'")
        letters, durations = row["o"], row["d"]
        if len(letters) != width or len(durations) != width:
            raise _refuse(source, f"test {key[:200]!r} has {len(letters)} outcomes and {len(durations)} durations "
                                  f"for {width} runs")
        if not VALID_LETTERS.issuperset(letters):
            raise _refuse(source, f"test {key[:200]!r} has an outcome letter outside {''.join(sorted(VALID_LETTERS))}")
        absent = letters.count(ABSENT)
        values = durations  # a None where the test ran is not a number: the type check below refuses it
        if absent:
            if durations.count(None) != absent or any(
                    (seconds is None) != (mark == ABSENT) for mark, seconds in zip(letters, durations, strict=True)):
                raise _refuse(source, f"test {key[:200]!r} has a null duration where it ran, or a duration where "
                                      "it did not")
            values = [seconds for seconds in durations if seconds is not None]
        if values and (not numbers.issuperset(map(type, values)) or min(values) < 0 or max(values) > _MAX_SECONDS):
            raise _refuse(source, f"test {key[:200]!r} has a duration that is not a finite number of seconds")
        parsed[key] = row
    return History(runs=runs, tests=parsed)


def _run_problem(run: Any) -> str | None:
    if not isinstance(run, dict):
        return "is not an object"
    for name in _RUN_TEXT:
        if not isinstance(run.get(name), str) or len(run[name]) > 1_000:
            return f"needs a text {name!r}"
    if not _finite(run.get("duration")) or run["duration"] < 0:
        return "needs a finite 'duration'"
    for name in _RUN_COUNTS:
        if not isinstance(run.get(name), int) or isinstance(run[name], bool) or run[name] < 0:
            return f"needs a whole {name!r}"
    suites, benchmarks = run.get("suites"), run.get("benchmarks")
    if not isinstance(suites, dict) or not all(_finite(v) for v in suites.values()):
        return "needs 'suites' mapping names to seconds"
    if not isinstance(benchmarks, dict) or not all(
            isinstance(b, dict) and _finite(b.get("value")) and b.get("unit") in _UNITS for b in benchmarks.values()):
        return "needs 'benchmarks' mapping names to {value, unit}"
    return None


# --- writing ------------------------------------------------------------------------------------


def run_facts(run: RunResult, platform: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``runs`` entry of ``run``: identity, commit, counts and the suites' and benchmarks' figures."""
    environ = os.environ if environ is None else environ
    counts = run.counts
    return {
        "id": run.run_id,
        "commit": commit_of(Path(run.project), environ),
        "branch": environ.get("GITHUB_HEAD_REF") or environ.get("GITHUB_REF_NAME") or "",
        "platform": platform,
        "started_at": run.started_at,
        "duration": _seconds(run.duration),
        "passed": counts.passed, "failed": counts.failed, "skipped": counts.skipped, "errors": counts.errors,
        "suites": {suite.name: _seconds(suite.duration) for suite in run.suites if suite.tests or suite.duration},
        "benchmarks": benchmark_figures(run.performance),
    }


def commit_of(project: Path, environ: Mapping[str, str]) -> str:
    """The commit under test: GITHUB_SHA in Actions, else the project's git HEAD, else ""."""
    sha = environ.get("GITHUB_SHA", "")
    if sha:
        return sha[:64]
    try:
        found = subprocess.run(["git", "-C", str(project), "rev-parse", "HEAD"], capture_output=True, text=True,
                               timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    text = found.stdout.strip()
    return text if found.returncode == 0 and len(text) <= 64 and text.isalnum() else ""


def benchmark_figures(performance: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """One median per benchmark (seconds, or the instruction count when that is what was measured)."""
    rows = (performance or {}).get("benchmarks") if isinstance(performance, Mapping) else None
    figures: dict[str, dict[str, Any]] = {}
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            continue
        value = row.get("head_median")
        unit = "instructions" if (performance or {}).get("metric") == "instructions" else "s"
        if _finite(value):
            figures[row["name"]] = {"value": float(value), "unit": unit}
    return figures


def _seconds(value: float) -> float:
    return round(value, 4) if math.isfinite(value) and value >= 0 else 0.0


def append(history: History, run: RunResult, platform: str, max_runs: int = DEFAULT_RUNS,
           max_tests: int = DEFAULT_TESTS, environ: Mapping[str, str] | None = None) -> History:
    """``history`` with ``run`` as its newest column, then bounded; changes ``history`` in place."""
    return append_tests(history, run_facts(run, platform, environ), run.iter_tests(), max_runs, max_tests)


def append_tests(history: History, facts: dict[str, Any], tests: Iterable[TestResult], max_runs: int,
                 max_tests: int) -> History:
    width = len(history.runs)
    rows = history.tests
    seen: set[str] = set()
    for test in tests:
        key = test_key(test)
        if key in seen or len(key) > MAX_KEY_CHARS:  # the same test twice in one run: the first one counts
            continue
        seen.add(key)
        row = rows.get(key)
        if row is None:
            rows[key] = row = {"o": ABSENT * width, "d": [None] * width}
        row["o"] += letter(test)
        row["d"].append(_seconds(test.duration))
    for key, row in rows.items():
        if key not in seen:
            row["o"] += ABSENT
            row["d"].append(None)
    history.runs.append(facts)
    return bound(history, max_runs, max_tests)


def bound(history: History, max_runs: int, max_tests: int) -> History:
    """At most ``max_runs`` newest runs; at most ``max_tests`` tests, the most recently seen kept."""
    extra = len(history.runs) - max_runs
    if extra > 0:
        del history.runs[:extra]
        for row in history.tests.values():
            row["o"] = row["o"][extra:]
            del row["d"][:extra]
    if extra > 0 or len(history.tests) > max_tests:
        history.tests = {key: row for key, row in history.tests.items() if row["o"].strip(ABSENT)}
    if len(history.tests) > max_tests:
        def keep_first(item: tuple[str, dict[str, Any]]) -> tuple[int, int, str]:
            letters = item[1]["o"]
            last_seen = len(letters.rstrip(ABSENT))
            eventful = sum(mark in "FER" for mark in letters)
            return (-last_seen, -eventful, item[0])

        history.tests = dict(sorted(history.tests.items(), key=keep_first)[:max_tests])
    return history


def dumps(history: History) -> str:
    """Compact JSON (no spaces): at 100,000 tests x 64 runs every byte per cell is 6 MB."""
    return json.dumps(history.to_json(), separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                      check_circular=False)  # a tree we built: no cycle to look for


def write(history: History, output_dir: Path) -> Path:
    path = output_dir / FILENAME
    atomic.write_text(path, dumps(history))
    return path


# --- combining matrix legs and shards -------------------------------------------------------------


def _run_identity(run: Mapping[str, Any]) -> tuple[str, str]:
    return (str(run["id"]), str(run["platform"]))


def combine(histories: Sequence[History], max_runs: int = DEFAULT_RUNS, max_tests: int = DEFAULT_TESTS,
            leave_out: Iterable[str] = ()) -> History:
    """One history from several (matrix legs, or shards that carried the same past forward).

    Runs are the union by (id, platform), ordered by start time; a run known to several inputs
    (the shared past of shards) is taken once, from the first that has it. Runs whose id is in
    ``leave_out`` are dropped (a shard's own partial run, replaced by the merged run).
    """
    left_out = set(leave_out)
    chosen: dict[tuple[str, str], tuple[int, int]] = {}  # run identity -> (history index, column)
    for source, history in enumerate(histories):
        for column, run in enumerate(history.runs):
            identity = _run_identity(run)
            if identity[0] not in left_out and identity not in chosen:
                chosen[identity] = (source, column)
    order = sorted(chosen.items(), key=lambda item: (str(histories[item[1][0]].runs[item[1][1]]["started_at"]),
                                                     item[0]))
    order = order[-max_runs:]
    combined = History(runs=[histories[s].runs[c] for _, (s, c) in order])
    width = len(order)
    for position, (_, (source, column)) in enumerate(order):
        for key, row in histories[source].tests.items():
            target = combined.tests.get(key)
            if target is None:
                target = combined.tests[key] = {"o": [ABSENT] * width, "d": [None] * width}
            target["o"][position] = row["o"][column]
            target["d"][position] = row["d"][column]
    for row in combined.tests.values():
        row["o"] = "".join(row["o"])
    combined.tests = {key: row for key, row in combined.tests.items() if row["o"].strip(ABSENT)}
    return bound(combined, max_runs, max_tests)


def platform_of(run: RunResult) -> str:
    """The run's platform key, as the performance baselines name it."""
    from doorbell_ci.perf.baselines import platform_key

    return platform_key(run.platform).slug
