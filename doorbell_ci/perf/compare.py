"""Stage 5, compare: this run's benchmark samples against a baseline, one verdict per benchmark.

Input: the samples files the ``perf`` fixture (or pytest-benchmark) wrote under ``output_dir/perf/``.
Output: the ``performance`` section of report.json (a plain dict, see ``docs/PERFORMANCE_REGRESSION.md``)
plus notices. Two modes, chosen by ``--perf-mode``:

- ``history``: this job's medians against the baseline file of this platform key (``baselines.py``);
- ``paired``: the merge base and the head measured again here, interleaved (``paired.py``).

The decision is ``stats.py``. Before a regression is declared, the flagged benchmarks alone are
measured once more and must flag again; otherwise they stay "possible regression". Nothing here
raises past the stage: a problem becomes a notice, and results already obtained stay.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from doorbell_ci import jsonsafe
from doorbell_ci.config import Config
from doorbell_ci.errors import PerfError
from doorbell_ci.perf import baselines, paired, stats
from doorbell_ci.perf.measure import (
    METRIC_ENV,
    PYTEST_BENCHMARK_SUFFIX,
    SAMPLES_FORMAT,
    SAMPLES_VERSION,
    SLOWDOWN_ENV,
    BenchmarkRecord,
    record_from_dict,
)

PERF_FOLDER = "perf"
HOSTED_THRESHOLD = 0.05
SELF_HOSTED_THRESHOLD = 0.03
_ORDER = {stats.Verdict.REGRESSION: 0, stats.Verdict.POSSIBLE_REGRESSION: 1, stats.Verdict.IMPROVEMENT: 3,
          stats.Verdict.NOISY: 2, stats.Verdict.UNCHANGED: 4, stats.Verdict.NO_BASELINE: 5}


@dataclass
class Measured:
    """This run's benchmarks (records merged over processes), which suite each came from, and read problems."""

    records: dict[str, BenchmarkRecord] = field(default_factory=dict)
    suites: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # median (wall, cpu) seconds per call, kept before the compared metric replaces the timing lists
    timings: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)


# --- reading this run's samples ---------------------------------------------------------------


def read_measurements(output_dir: Path) -> Measured:
    """Every samples file under ``output_dir/perf`` (ours and pytest-benchmark's); bad files become problems."""
    measured = Measured()
    folder = output_dir / PERF_FOLDER
    try:  # os.scandir, not glob: glob yields nothing for a folder a test made unreadable
        with os.scandir(folder) as entries:
            found = [entry for entry in entries if entry.name.endswith(".json")]
            paths = sorted(Path(entry.path) for entry in found if entry.is_file(follow_symlinks=False))
            odd = sorted(entry.name for entry in found if not entry.is_file(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return measured
    except OSError as error:
        measured.problems.append(f"performance: {PERF_FOLDER}/ could not be read ({error.strerror or error}); "
                                 "no benchmark was compared")
        return measured
    for name in odd:  # a FIFO would block the read below forever; a link may point anywhere
        measured.problems.append(f"performance: {name} is not a regular file; its benchmarks are left out")
    for path in paths:
        try:
            if path.name.endswith(PYTEST_BENCHMARK_SUFFIX):
                suite = path.name[: -len(PYTEST_BENCHMARK_SUFFIX)].split(".")[0]
                records = ingest_pytest_benchmark(jsonsafe.loads(path.read_text(encoding="utf-8")))
            else:
                suite, records = _read_samples_file(path)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError, KeyError, TypeError) as error:
            measured.problems.append(f"performance: {path.name} could not be read ({error}); "
                                     "its benchmarks are left out")
            continue
        for record in records:
            _merge(measured.records, record)
            measured.suites.setdefault(record.name, suite)
    return measured


def _read_samples_file(path: Path) -> tuple[str, list[BenchmarkRecord]]:
    document = jsonsafe.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or document.get("format") != SAMPLES_FORMAT:
        raise ValueError("not a doorbell-ci samples file")
    if document.get("version") != SAMPLES_VERSION:
        raise ValueError(f"samples format version {document.get('version')!r} is not {SAMPLES_VERSION}")
    if not isinstance(document.get("benchmarks"), list):
        raise ValueError("missing field 'benchmarks'")
    return str(document.get("suite", path.stem.split(".")[0])), [record_from_dict(r) for r in document["benchmarks"]]


MAX_LOOPS = 10**12  # calls a benchmark timed per sample; more would take days at a nanosecond each


def ingest_pytest_benchmark(document: Any) -> list[BenchmarkRecord]:
    """pytest-benchmark's ``--benchmark-json`` output as records (raw per-call timings when it kept them)."""
    if not isinstance(document, dict) or not isinstance(document.get("benchmarks"), list):
        raise ValueError("not pytest-benchmark JSON (no 'benchmarks' list)")
    records: list[BenchmarkRecord] = []
    for raw in document["benchmarks"]:
        stats_block = raw.get("stats") or {}
        name = raw.get("fullname") or raw.get("name")
        if not isinstance(name, str) or not isinstance(stats_block, dict):
            raise ValueError("a benchmark without 'fullname' or 'stats'")
        data = stats_block.get("data") or ([stats_block["median"]] if "median" in stats_block else [])
        if not data or not all(jsonsafe.is_finite_number(v) and v >= 0 for v in data):
            raise ValueError(f"{name}: no timings, or timings that are not finite numbers >= 0")
        loops = stats_block.get("iterations") or 1
        if not isinstance(loops, int) or isinstance(loops, bool) or not 1 <= loops <= MAX_LOOPS:
            raise ValueError(f"{name}: 'iterations' must be a whole number from 1 to {MAX_LOOPS}, got {loops!r}")
        records.append(BenchmarkRecord(name=name, nodeid=name, loops=loops, wall=[float(v) for v in data]))
    return records


def _merge(pool: dict[str, BenchmarkRecord], record: BenchmarkRecord) -> None:
    existing = pool.get(record.name)
    if existing is None:
        pool[record.name] = record
        return
    existing.wall += record.wall
    existing.cpu += record.cpu
    existing.peak_memory += record.peak_memory
    existing.metrics.update(record.metrics)
    existing.instructions += record.instructions
    existing.instruction_processes += record.instruction_processes


# --- mode and threshold ------------------------------------------------------------------------


def resolve_mode(config: Config, environ: dict[str, str]) -> tuple[str, str]:
    """The mode and why: paired for pull requests on GitHub-hosted runners, history elsewhere."""
    if config.perf_aa:
        return "paired", "--perf-aa measures the head against itself"
    if config.perf_mode != "auto":
        return config.perf_mode, f"--perf-mode {config.perf_mode}"
    hosted = environ.get("RUNNER_ENVIRONMENT", "") == "github-hosted"
    pull_request = environ.get("GITHUB_EVENT_NAME", "").startswith("pull_request")
    if hosted and pull_request:
        return "paired", "pull request on a GitHub-hosted runner"
    return "history", "self-hosted or local runner" if not hosted else "not a pull request"


def resolve_threshold(config: Config, environ: dict[str, str]) -> float:
    if config.regression_threshold is not None:
        return config.regression_threshold / 100
    if config.perf_metric == "instructions":
        return stats.INSTRUCTION_THRESHOLD
    return SELF_HOSTED_THRESHOLD if environ.get("RUNNER_ENVIRONMENT") == "self-hosted" else HOSTED_THRESHOLD


# --- the stage ------------------------------------------------------------------------------


Remeasure = Callable[[list[str]], dict[str, BenchmarkRecord]]


def compare(config: Config, output_dir: Path, platform: dict[str, Any], suite_args: dict[str, list[str]],
            environ: dict[str, str] | None = None) -> tuple[dict[str, Any] | None, list[str]]:
    """The performance section for this run (None when no benchmark ran) and notices for the reader.

    ``suite_args`` maps suite names to the pytest arguments that select their tests (paths, ``-m``),
    used to measure again (paired mode, confirmation).
    """
    environ = dict(os.environ) if environ is None else environ
    environ = {**environ, METRIC_ENV: config.perf_metric}  # paired and confirmation processes measure the same
    measured = read_measurements(output_dir)
    notices = list(measured.problems)
    if config.perf_mode == "off" or not measured.records:
        return None, notices
    measured.timings = {name: (statistics.median(r.wall) if r.wall else None,
                               statistics.median(r.cpu) if r.cpu else None) for name, r in measured.records.items()}
    _use_metric(measured.records, config.perf_metric)
    mode, mode_reason = resolve_mode(config, environ)
    threshold = resolve_threshold(config, environ)
    key = baselines.platform_key(platform)
    section: dict[str, Any] = {
        "mode": mode, "mode_reason": mode_reason, "threshold": threshold, "aa": config.perf_aa,
        "platform_key": key.as_dict(), "key": key.slug, "comparable": True, "suite_shift": None,
        "baseline": None, "fail_on_regression": config.fail_on_regression,
        "injected_slowdown": environ.get(SLOWDOWN_ENV) or None, "metric": config.perf_metric,
        "unit": UNITS.get(config.perf_metric, "seconds per call"),
    }
    throttle = baselines.not_comparable_reason(platform)
    if throttle and config.perf_metric == "instructions":  # a hot CPU runs the same instructions, only slower
        notices.append("performance: the machine throttled, but instruction counts do not depend on the clock; "
                       "they are compared as usual")
        section["throttled_but_comparable"] = throttle
        throttle = None
    uncounted: list[dict[str, Any]] = []
    if config.perf_metric == "instructions":  # timed only (pytest-benchmark's fixture, peak memory): not compared
        for name in [n for n, r in measured.records.items() if not r.instructions]:
            uncounted.append(_row(name, measured, None, stats.Verdict.NO_BASELINE,
                                  "no instruction count (only the perf fixture's benchmarks are counted)"))
            del measured.records[name]
    try:
        if throttle:
            section["comparable"] = False
            rows = [_row(name, measured, None, stats.Verdict.NO_BASELINE, throttle) for name in measured.records]
        elif mode == "paired":
            rows = _paired(config, output_dir, measured, suite_args, threshold, environ, section)
        else:
            rows = _history(config, output_dir, measured, suite_args, threshold, environ, section, notices)
    except PerfError as error:
        notices.append(f"performance: {error}; verdicts are 'no baseline'")
        rows = [_row(name, measured, None, stats.Verdict.NO_BASELINE, str(error)) for name in measured.records]
    rows += uncounted
    rows.sort(key=lambda row: (_ORDER[stats.Verdict(row["verdict"])], row["name"]))
    section["benchmarks"] = rows
    section["counts"] = {verdict.value: sum(r["verdict"] == verdict.value for r in rows) for verdict in stats.Verdict}
    section["regressions"] = [r["name"] for r in rows if r["verdict"] == stats.Verdict.REGRESSION]
    section["regressions"] += [f"{r['name']} (peak memory)" for r in rows
                               if (r.get("memory") or {}).get("verdict") == stats.Verdict.REGRESSION]
    return section, notices


UNITS = {"wall": "seconds per call", "cpu": "CPU seconds per call", "instructions": "instructions per call"}


def _use_metric(records: dict[str, BenchmarkRecord], metric: str) -> None:
    """Compare another metric than wall time: the lists every later step reads become that metric's.

    With ``instructions`` a benchmark that was only timed (pytest-benchmark's fixture) has nothing to
    compare, and its list is emptied so it is reported as not counted rather than compared in seconds.
    """
    if metric == "cpu":
        for record in records.values():
            if record.cpu:
                record.wall = list(record.cpu)
    elif metric == "instructions":
        for record in records.values():
            record.wall = list(record.instructions)


def _row(name: str, measured: Measured, base_samples: list[float] | None, verdict: stats.Verdict,
         reason: str = "") -> dict[str, Any]:
    record = measured.records[name]
    head = record.wall
    head_median = statistics.median(head) if head else None
    wall_median, cpu_median = measured.timings.get(name) or (None, None)
    if not measured.timings:  # not through compare(): the timing lists are still the timings
        wall_median, cpu_median = head_median, statistics.median(record.cpu) if record.cpu else None
    return {
        "name": name, "suite": measured.suites.get(name, ""), "nodeid": record.nodeid, "verdict": verdict.value,
        "reason": reason, "ratio": None, "ci": None, "p_value": None, "p_holm": None,
        "head_median": head_median, "base_median": statistics.median(base_samples) if base_samples else None,
        "head_samples": head, "base_samples": base_samples or [], "loops": record.loops,
        "cpu_median": cpu_median, "wall_median": wall_median,
        "cpu_percent": round(100 * cpu_median / wall_median, 1) if cpu_median and wall_median else None,
        "cv": float(stats.robust_cv(head)) if len(head) > 1 else None,
        "metrics": {k: {"value": m.value, "unit": m.unit, "higher_is_better": m.higher_is_better}
                    for k, m in record.metrics.items()},
        "memory": None, "confirmation": None, "trend": [], "slowdown_injected": record.slowdown,
    }


def _selection(nodeids: list[str]) -> list[str]:
    """pytest arguments that run exactly these tests (node ids are relative to the project)."""
    return sorted(set(nodeids))


def _suite_test_args(measured: Measured, suite_args: dict[str, list[str]]) -> list[str]:
    suites = sorted(set(measured.suites.values()))
    args = [arg for suite in suites for arg in suite_args.get(suite, [])]
    if not args:
        raise PerfError(f"no test selection known for suite(s) {', '.join(suites)} to measure again")
    return args


# --- paired mode --------------------------------------------------------------------------------


def _paired(config: Config, output_dir: Path, measured: Measured, suite_args: dict[str, list[str]],
            threshold: float, environ: dict[str, str], section: dict[str, Any]) -> list[dict[str, Any]]:
    project = config.project
    test_args = _suite_test_args(measured, suite_args)
    work = output_dir / PERF_FOLDER / "paired"
    if config.perf_aa:
        head_commit = _head_commit(project)
        side = paired.Side("head", head_commit, project)
        base = paired.Side("base", head_commit, project)
        result = paired.measure(base, side, test_args, work, environ=environ)
        section["baseline"] = {"source": "A/A: the head measured against itself", "commit": head_commit}
        return _paired_rows(measured, result, threshold, section,
                            lambda ids: paired.measure(base, side, ids, work / "confirm", environ=environ))
    base_commit, head_commit, ref = paired.merge_base(project, config.perf_base, environ)
    section["baseline"] = {"source": f"merge base of HEAD and {ref}", "commit": base_commit}
    head = paired.Side("head", head_commit, project)
    with paired.Worktree(project, base_commit) as base_project:
        base = paired.Side("base", base_commit, base_project)
        result = paired.measure(base, head, test_args, work, environ=environ)
        return _paired_rows(measured, result, threshold, section,
                            lambda ids: paired.measure(base, head, ids, work / "confirm", environ=environ))


def _head_commit(project: Path) -> str:
    try:
        return paired.git(["rev-parse", "HEAD"], project)
    except PerfError:
        return "working tree"


def _paired_rows(measured: Measured, result: paired.PairedMeasurement, threshold: float, section: dict[str, Any],
                 remeasure: Callable[[list[str]], paired.PairedMeasurement]) -> list[dict[str, Any]]:
    section["paired"] = {"processes": result.processes, "order": "ABBA", "base_commit": result.base_commit,
                         "head_commit": result.head_commit, "problems": result.problems}
    if result.problems:
        raise PerfError(result.problems[0])
    _use_metric(result.base, section["metric"])
    _use_metric(result.head, section["metric"])
    names = [n for n in measured.records if n in result.head and n in result.base and result.head[n].wall]
    rows: dict[str, dict[str, Any]] = {}
    for name in measured.records:
        if name not in names:
            reason = "not measured in the base commit (a new benchmark?)" if name in result.head else \
                "not measured in the paired run"
            rows[name] = _row(name, measured, None, stats.Verdict.NO_BASELINE, reason)
            if name in result.base:
                _memory_only(rows[name], result.base[name].peak_memory, result.head.get(name, measured.records[name])
                             .peak_memory)
    if names:
        base = [result.base[n].wall for n in names]
        head = [result.head[n].wall for n in names]
        loops = [max(1, result.head[n].loops) for n in names]
        if section["metric"] == "instructions":
            decisions = _decide_instruction_pairs([result.base[n] for n in names], [result.head[n] for n in names],
                                                  threshold, [measured.timings.get(n) for n in names])
        else:
            timing = "cpu" if section["metric"] == "cpu" else "wall"
            processes = [(result.process_medians["base"].get(n, {}).get(timing, []),
                          result.process_medians["head"].get(n, {}).get(timing, [])) for n in names]
            decisions = _decide_pairs(base, head, threshold, loops, processes)
        candidates = [n for n, d in zip(names, decisions, strict=True) if d["code"] == stats.REGRESSION]
        again = remeasure(_selection([result.head[n].nodeid for n in candidates])) if candidates else None
        if again is not None:
            _use_metric(again.base, section["metric"])
            _use_metric(again.head, section["metric"])
        for index, name in enumerate(names):
            decision = decisions[index]
            row = _row(name, measured, base[index], stats.CODES[decision["code"]])
            row["head_samples"] = head[index]
            row["head_median"] = statistics.median(head[index])
            row.update({k: decision[k] for k in ("ratio", "ci", "p_value", "p_holm")})
            row["noisy"] = decision["noisy"]
            if "spread" in decision:
                row["spread"] = decision["spread"]
                row["judged_despite_noise"] = decision["judged_despite_noise"]
            if decision.get("reason"):
                row["reason"] = decision["reason"]
            if section["metric"] == "instructions":
                row["processes"] = {"base": result.base[name].instruction_processes,
                                    "head": result.head[name].instruction_processes}
            if name in candidates:
                _confirm_pair(row, name, again, threshold, section["metric"])
            row["memory"] = _memory(result.base[name].peak_memory, result.head[name].peak_memory)
            rows[name] = row
    return list(rows.values())


def _decide_pairs(base: list[list[float]], head: list[list[float]], threshold: float,
                  loops: list[int], processes: list[tuple[list[float], list[float]]] | None = None
                  ) -> list[dict[str, Any]]:
    """Timings: the process is the unit when each side has 3 processes or more (``stats.process_test``).

    With fewer (``DOORBELL_CI_PERF_PROCESSES`` 1 or 2) the samples are tested with Mann-Whitney as if
    independent, which they are not: at a 5% spread between processes that gave a false regression in
    40% of unchanged 30-benchmark suites even after confirmation (benchmarks/detection/contention.py),
    so such a benchmark is reported, never gated, and says why. Without process figures at all
    (samples given directly) Mann-Whitney on the samples decides.
    """
    p_slower = np.array([float(stats.mann_whitney_greater(h, b)) for b, h in zip(base, head, strict=True)])
    p_faster = np.array([float(stats.mann_whitney_less(h, b)) for b, h in zip(base, head, strict=True)])
    few = np.zeros(len(base), dtype=bool)
    for index, (base_processes, head_processes) in enumerate(processes or []):
        if min(len(base_processes), len(head_processes)) >= stats.MIN_PROCESSES:
            p_slower[index], p_faster[index] = stats.process_test(base_processes, head_processes)
        elif base_processes or head_processes:
            few[index] = True
    ratio = np.array([float(stats.median_ratio(h, b)) for b, h in zip(base, head, strict=True)])
    shown = np.array([bool(stats.is_noisy_pair(b, h, loops=n)) for b, h, n in zip(base, head, loops, strict=True)])
    spread = np.array([float(stats.pair_spread(b, h)) for b, h in zip(base, head, strict=True)])
    short = np.array([bool(stats.too_short(b, n) | stats.too_short(h, n)) for b, h, n in zip(base, head, loops,
                                                                                             strict=True)])
    noisy, reasons = _noise(shown, short, ratio, spread, threshold)
    gateable = np.array([min(len(b), len(h)) >= stats.MIN_GATING_SAMPLES for b, h in zip(base, head, strict=True)])
    for index in np.flatnonzero(few & gateable):
        count = min(len(processes[index][0]), len(processes[index][1])) if processes else 0
        gateable[index] = False
        reasons[index] = (f"{count} process(es) a side: too few to test with the process as the unit (samples of "
                          f"one process are not independent); reported, not gated: set DOORBELL_CI_PERF_PROCESSES "
                          f"to {stats.MIN_PROCESSES} or more to gate")
    codes = stats.classify(p_slower, p_faster, ratio, noisy, gateable, threshold)
    p_holm = stats.holm(np.where(~noisy & gateable, p_slower, np.nan))
    return [{"code": int(codes[i]), "ratio": float(ratio[i]),
             "ci": list(stats.bootstrap_ratio_interval(head[i], base[i])),
             "p_value": float(p_slower[i]), "p_holm": None if np.isnan(p_holm[i]) else float(p_holm[i]),
             "noisy": bool(noisy[i]), "spread": float(spread[i]),
             "judged_despite_noise": bool(shown[i] and not noisy[i]), "reason": reasons[i]} for i in range(len(base))]


def _noise(shown: np.ndarray, short: np.ndarray, ratio: np.ndarray, spread: np.ndarray,
           threshold: float) -> tuple[np.ndarray, list[str]]:
    """Which benchmarks stay out of the gate for their spread, and why the others shown noisy are judged.

    A benchmark whose spread is shown over 10% is still judged when its ratio is beyond
    ``stats.noise_bar`` (the minimum effect plus three spreads): contention explains small effects,
    not a 3x slowdown. Samples under 1 ms never are (timer noise).
    """
    noisy = stats.kept_out(shown, short, ratio, spread, threshold)
    reasons = [f"noisy (spread {spread[i]:.0%}), but the ratio {ratio[i]:.2f} is beyond what it explains "
               f"({float(stats.noise_bar(spread[i], threshold)):.2f} or its inverse): judged"
               if shown[i] and not noisy[i] else "" for i in range(len(ratio))]
    return noisy, reasons


def _decide_instruction_pairs(base: list[BenchmarkRecord], head: list[BenchmarkRecord], threshold: float,
                              timings: list[tuple[float | None, float | None] | None]) -> list[dict[str, Any]]:
    """Instruction counts: one figure per process is the unit (``stats.instruction_test``); unstable ones never gate."""
    shares = [t[1] / t[0] for t in timings if t and t[0] and t[1]]
    best_share = max(shares) if shares else None
    results = [stats.instruction_test(b.instruction_processes, h.instruction_processes)
               for b, h in zip(base, head, strict=True)]
    reasons: list[str | None] = []
    for b, h, timing in zip(base, head, timings, strict=True):
        relative = [v / statistics.median(b.instruction_processes) for v in b.instruction_processes] + \
                   [v / statistics.median(h.instruction_processes) for v in h.instruction_processes]
        within = max((b.instructions, h.instructions), key=lambda values: float(stats.robust_cv(values))
                     if len(values) > 2 else 0.0)
        share = timing[1] / timing[0] if timing and timing[0] and timing[1] else None
        reasons.append(stats.instruction_instability(within, relative, share, best_share))
    p_slower = np.array([r[0] for r in results])
    p_faster = np.array([r[1] for r in results])
    ratio = np.array([r[2] for r in results])
    noisy = np.array([reason is not None for reason in reasons])
    gateable = np.ones(len(base), dtype=bool)
    codes = stats.classify(p_slower, p_faster, ratio, noisy, gateable, threshold)
    p_holm = stats.holm(np.where(~noisy, p_slower, np.nan))
    decisions = []
    for i, (b, h) in enumerate(zip(base, head, strict=True)):
        low = min(h.instruction_processes) / max(b.instruction_processes)
        high = max(h.instruction_processes) / min(b.instruction_processes)
        decisions.append({"code": int(codes[i]), "ratio": float(ratio[i]), "ci": [low, high],
                          "p_value": float(p_slower[i]), "p_holm": None if np.isnan(p_holm[i]) else float(p_holm[i]),
                          "noisy": bool(noisy[i]), "reason": reasons[i] or ""})
    return decisions


def _confirm_pair(row: dict[str, Any], name: str, again: paired.PairedMeasurement | None, threshold: float,
                  metric: str = "wall") -> None:
    if again is None or again.problems or name not in again.head or name not in again.base:
        why = again.problems[0] if again and again.problems else "the re-measurement did not measure it"
        row["confirmation"] = {"confirmed": False, "reason": why}
        row["verdict"] = stats.Verdict.POSSIBLE_REGRESSION.value
        return
    head, base = again.head[name].wall, again.base[name].wall
    if metric == "instructions":
        p_again, _, ratio_again = stats.instruction_test(again.base[name].instruction_processes,
                                                         again.head[name].instruction_processes)
    else:
        p_again = float(stats.mann_whitney_greater(head, base))
        ratio_again = float(stats.median_ratio(head, base))
        timing = "cpu" if metric == "cpu" else "wall"
        base_processes = again.process_medians["base"].get(name, {}).get(timing, [])
        head_processes = again.process_medians["head"].get(name, {}).get(timing, [])
        if min(len(base_processes), len(head_processes)) >= stats.MIN_PROCESSES:  # the process is the unit
            p_again = stats.process_test(base_processes, head_processes)[0]
    ok = bool(stats.confirmed(p_again, ratio_again, threshold))
    row["confirmation"] = {"confirmed": ok, "p_value": p_again, "ratio": ratio_again}
    if ok and row.get("judged_despite_noise") and bool(stats.is_noisy_pair(base, head)):
        ok = _within_noise(row, float(ratio_again), float(stats.pair_spread(base, head)), threshold)
    if not ok:
        row["verdict"] = stats.Verdict.POSSIBLE_REGRESSION.value
        row["reason"] = "flagged, but the confirmation re-measurement did not flag it again"


def _within_noise(row: dict[str, Any], ratio: float, spread: float, threshold: float) -> bool:
    """A benchmark judged despite its noise: a noisy re-measurement confirms it only beyond its own
    ``stats.noise_bar``; False (and says so) if not. (A candidate whose first look was not noisy is
    confirmed the usual way: holding its re-measurement to the bar cost a point of power at a 20%
    slowdown and 10% spread in simulation, and added nothing against false alarms.)"""
    row["confirmation"]["spread"] = spread
    if bool(stats.beyond_noise(ratio, spread, threshold)):
        return True
    row["confirmation"]["confirmed"] = False
    row["confirmation"]["reason"] = (f"the re-measurement was noisy (spread {spread:.0%}) and its ratio {ratio:.2f} "
                                     f"is within what that explains ({float(stats.noise_bar(spread, threshold)):.2f})")
    return False


def _memory_only(row: dict[str, Any], base: list[int] | list[float], head: list[int] | list[float]) -> None:
    """A benchmark that measures peak memory but no time: its verdict is the memory verdict."""
    if row["head_samples"]:
        return
    row["memory"] = _memory(base, head)
    if row["memory"] is not None:
        row["verdict"] = row["memory"]["verdict"]
        row["reason"] = "peak memory only"


def _memory(base: list[int] | list[float], head: list[int] | list[float]) -> dict[str, Any] | None:
    if not base or not head:
        return None
    base_bytes, head_bytes = statistics.median(base), statistics.median(head)
    regressed = stats.memory_regressed(base_bytes, head_bytes)
    verdict = stats.Verdict.REGRESSION if regressed else stats.Verdict.UNCHANGED
    return {"base_bytes": base_bytes, "head_bytes": head_bytes,
            "ratio": head_bytes / base_bytes if base_bytes else None,
            "verdict": verdict.value}


# --- history mode -----------------------------------------------------------------------------


def _history(config: Config, output_dir: Path, measured: Measured, suite_args: dict[str, list[str]],
             threshold: float, environ: dict[str, str], section: dict[str, Any],
             notices: list[str]) -> list[dict[str, Any]]:
    directory = config.baseline_dir if config.baseline_dir.is_absolute() else config.project / config.baseline_dir
    key = baselines.PlatformKey(**section["platform_key"])
    lookup = baselines.find(directory, key)
    notices.extend(f"performance: {problem}" for problem in lookup.problems)
    if lookup.baseline is None:
        section["baseline"] = {"source": str(directory), "reason": lookup.reason}
        return [_row(name, measured, None, stats.Verdict.NO_BASELINE, lookup.reason) for name in measured.records]
    baseline = lookup.baseline
    metric = section["metric"]
    history = [entry for entry in baseline.history if not entry.throttled][-stats.MAX_HISTORY:]
    section["baseline"] = {"source": str(baseline.path), "commit": baseline.latest.get("commit"),
                           "updated_at": baseline.updated_at, "history_length": len(history)}
    names = [n for n in measured.records if measured.records[n].wall and any(n in e.values(metric) for e in history)]
    missing = "not in the baseline (a new benchmark?)"
    if metric != "wall" and not any(e.values(metric) for e in history):
        missing = f"the baseline holds no {UNITS[metric]} (recorded with another --perf-metric); not compared"
    rows = {name: _row(name, measured, baseline.latest_samples(name, metric) or None, stats.Verdict.NO_BASELINE,
                       missing) for name in measured.records if name not in names}
    for name, row in rows.items():
        last_peak = next((e.peak_memory[name] for e in reversed(history) if name in e.peak_memory), None)
        _memory_only(row, [last_peak] if last_peak else [], measured.records[name].peak_memory)
    if not names:
        return list(rows.values())
    matrix = np.array([[e.values(metric).get(n, np.nan) for n in names] for e in history], dtype=float)
    current = np.array([statistics.median(measured.records[n].wall) for n in names])
    jobs = np.sum(~np.isnan(matrix), axis=0)
    counted = metric == "instructions"
    p_slower, p_faster, ratio, bounds, shift = _history_test(matrix, current, counted)
    reasons: list[str] = []
    if counted:
        shares = {n: t[1] / t[0] for n, t in measured.timings.items() if t[0] and t[1]}
        best = max(shares.values()) if shares else None
        for n in names:
            record = measured.records[n]
            reasons.append(stats.instruction_instability(record.instructions, record.instruction_processes,
                                                         shares.get(n), best) or "")
        noisy = np.array([bool(reason) for reason in reasons])
    else:
        samples = [measured.records[n].wall for n in names]
        loops = [max(1, measured.records[n].loops) for n in names]
        shown = np.array([bool(stats.is_noisy(values, loops=n)) for values, n in zip(samples, loops, strict=True)])
        short = np.array([bool(stats.too_short(values, n)) for values, n in zip(samples, loops, strict=True)])
        spread = np.array([float(stats.robust_cv(values)) for values in samples])
        noisy, reasons = _noise(shown, short, ratio, spread, threshold)
    gateable = jobs >= stats.MIN_GATING_HISTORY
    codes = stats.classify(p_slower, p_faster, ratio, noisy, gateable, threshold)
    p_holm = stats.holm(np.where(~noisy & gateable, p_slower, np.nan))
    second: dict[str, dict[str, Any]] = {}
    if config.perf_adaptive_budget > 0 and not counted:  # counts need no more samples (docs/PERFORMANCE.md)
        first = FirstLook(names, matrix, current, codes, p_slower, ratio, bounds[..., 1], noisy, gateable)
        second = _adaptive(config, output_dir, measured, first, threshold, environ, section, notices)
    section["suite_shift"] = None if counted else float(np.exp(shift))
    section["suite_normalised"] = not counted and len(names) >= stats.SUITE_NORMALISE_MIN
    candidates = [n for n, c in zip(names, codes, strict=True) if c == stats.REGRESSION]
    again: dict[str, BenchmarkRecord] = {}
    if candidates:
        again = _remeasure_head(config, output_dir, measured, candidates, environ, notices)
    for index, name in enumerate(names):
        row = _row(name, measured, baseline.latest_samples(name, metric) or None, stats.CODES[int(codes[index])])
        row.update({"ratio": float(ratio[index]), "ci": [float(b) for b in bounds[index]],
                    "p_value": float(p_slower[index]),
                    "p_holm": None if np.isnan(p_holm[index]) else float(p_holm[index]),
                    "noisy": bool(noisy[index]), "history_jobs": int(jobs[index]),
                    "trend": [e.values(metric)[name] for e in history if name in e.values(metric)],
                    # what the history predicts for this job (after the suite-wide shift): head / ratio
                    "base_median": float(current[index] / ratio[index]) if ratio[index] > 0 else None})
        if reasons and reasons[index]:
            row["reason"] = reasons[index]
        if not counted:
            row["spread"] = float(spread[index])
            row["judged_despite_noise"] = bool(shown[index] and not noisy[index])
        if not gateable[index] and row["verdict"] != stats.Verdict.NO_BASELINE:
            row["reason"] = (f"only {int(jobs[index])} earlier run(s) in the history; "
                             f"{stats.MIN_GATING_HISTORY} needed to gate")
        if name in candidates:
            _confirm_history(row, name, index, matrix, current, again, threshold, counted)
        if name in second:
            _apply_second_look(row, second[name], threshold)
        last_peak = next((e.peak_memory[name] for e in reversed(history) if name in e.peak_memory), None)
        row["memory"] = _memory([last_peak] if last_peak else [], measured.records[name].peak_memory)
        rows[name] = row
    return list(rows.values())


def _history_test(matrix: np.ndarray, current: np.ndarray, counted: bool = False) -> tuple[np.ndarray, ...]:
    """Time: the suite-wide shift of each job is divided out. Instruction counts have no machine speed to
    divide out (a shift of the whole suite is a change of the code or the interpreter), and their spread
    is floored at ``stats.INSTRUCTION_NOISE_FLOOR`` so a history that agrees to the instruction does not
    make a 0.01% change significant."""
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a benchmark with one earlier run has no spread yet
        if counted:
            return stats.history_test(np.log(matrix), np.log(current), normalise=False,
                                      floor=stats.INSTRUCTION_NOISE_FLOOR)
        return stats.history_test(np.log(matrix), np.log(current))


def _confirm_history(row: dict[str, Any], name: str, index: int, matrix: np.ndarray, current: np.ndarray,
                     again: dict[str, BenchmarkRecord], threshold: float, counted: bool = False) -> None:
    record = again.get(name)
    if record is None or not record.wall:
        row["confirmation"] = {"confirmed": False, "reason": "the re-measurement did not measure it"}
        row["verdict"] = stats.Verdict.POSSIBLE_REGRESSION.value
        return
    second = current.copy()
    second[index] = statistics.median(record.wall)
    p_again, _, ratio_again, _, _ = _history_test(matrix, second, counted)
    ok = bool(stats.confirmed(p_again[index], ratio_again[index], threshold))
    row["confirmation"] = {"confirmed": ok, "p_value": float(p_again[index]), "ratio": float(ratio_again[index])}
    if ok and row.get("judged_despite_noise") and bool(stats.is_noisy(record.wall)):
        ok = _within_noise(row, float(ratio_again[index]), float(stats.robust_cv(record.wall)), threshold)
    if not ok:
        row["verdict"] = stats.Verdict.POSSIBLE_REGRESSION.value
        row["reason"] = "flagged, but the confirmation re-measurement did not flag it again"


def _remeasure_head(config: Config, output_dir: Path, measured: Measured, names: list[str],
                    environ: dict[str, str], notices: list[str], folder: str = "confirm", timeout: float = 1800.0,
                    what: str = "confirmation re-measurement") -> dict[str, BenchmarkRecord]:
    """History mode's confirmation: the flagged benchmarks alone, in one fresh process of the head.

    Also the adaptive second look's extra samples (``folder`` per process, ``timeout`` what is left
    of its budget).
    """
    head = paired.Side("head", "HEAD", config.project)
    work = output_dir / PERF_FOLDER / folder
    work.mkdir(parents=True, exist_ok=True)
    selection = _selection([measured.records[n].nodeid for n in names])
    samples = len(next(iter(measured.records[n].wall for n in names), [])) or 20  # as many as the first time
    records, problem = paired.run_side(head, selection, work / "head.json", samples, work / "head.log", timeout,
                                       environ, inject_slowdown=True)
    if problem:
        notices.append(f"performance: {what} failed: {problem}")
    pool = {record.name: record for record in records}
    _use_metric(pool, config.perf_metric)
    return pool


# --- history mode's adaptive second look (--perf-adaptive-budget) ------------------------------------

MAX_ADAPTIVE_PROCESSES = 8  # extra processes at most, whatever the budget (8 x 20 samples: the gain has flattened)
ADAPTIVE_OVERHEAD = 1.5  # a process's time over its samples' (start-up, warm-up, calibration), until one is measured


@dataclass
class FirstLook:
    """History mode's first look at one suite, per benchmark (arrays in ``names`` order)."""

    names: list[str]
    matrix: np.ndarray  # earlier jobs x benchmarks
    current: np.ndarray  # this job's medians
    codes: np.ndarray
    p_slower: np.ndarray
    ratio: np.ndarray
    upper: np.ndarray  # upper 95% bound of the ratio
    noisy: np.ndarray
    gateable: np.ndarray


def _adaptive(config: Config, output_dir: Path, measured: Measured, first: FirstLook, threshold: float,
              environ: dict[str, str], section: dict[str, Any], notices: list[str]) -> dict[str, dict[str, Any]]:
    """More samples of the benchmarks close to the line, within the time budget, and the second look.

    ``stats.near_the_line`` picks the benchmarks the first look left undecided; their tests run again
    in fresh processes of the head (the confirmation's mechanism) while the next process is expected
    to fit in the budget; the first look's own test on the pooled median then decides, held to
    ``ADAPTIVE_ALPHA`` by ``stats.second_look`` (docs/PERFORMANCE.md, "Adaptive samples", has the
    simulation behind the choice). Returns, per resampled benchmark, what its row shows.
    """
    budget = float(config.perf_adaptive_budget)
    names, current, p_slower, ratio = first.names, first.current, first.p_slower, first.ratio
    near = stats.near_the_line(first.codes, p_slower, ratio, first.upper, first.noisy, first.gateable, threshold)
    chosen = [n for n, flag in zip(names, near, strict=True) if flag]
    record = {"budget_seconds": budget, "seconds": 0.0, "processes": 0, "benchmarks": chosen,
              "first_alpha": stats.FAMILY_ALPHA, "second_alpha": stats.ADAPTIVE_ALPHA,
              "stopped": "no benchmark close to the line" if not chosen else ""}
    section["adaptive"] = record
    if not chosen:
        return {}
    extra: dict[str, list[list[float]]] = {n: [] for n in chosen}
    expected = ADAPTIVE_OVERHEAD * sum(len(measured.records[n].wall) * statistics.median(measured.records[n].wall)
                                       * max(1, measured.records[n].loops) for n in chosen)
    start = time.monotonic()
    while True:
        left = budget - (time.monotonic() - start)
        if record["processes"] >= MAX_ADAPTIVE_PROCESSES:
            record["stopped"] = f"{MAX_ADAPTIVE_PROCESSES} extra processes (the most taken)"
            break
        if expected > left:
            record["stopped"] = (f"the next process (~{expected:.1f} s) would not fit in the {left:.1f} s "
                                 "left of the budget")
            break
        began = time.monotonic()
        pool = _remeasure_head(config, output_dir, measured, chosen, environ, notices,
                               folder=f"adaptive/{record['processes']:02d}", timeout=max(1.0, left),
                               what="adaptive re-measurement")
        expected = time.monotonic() - began  # the next one will take about as long as this one
        if not any(pool.get(n) and pool[n].wall for n in chosen):
            record["stopped"] = "a re-measurement measured nothing (see the notices)"
            break
        record["processes"] += 1
        for n in chosen:
            if pool.get(n) and pool[n].wall:
                extra[n].append(list(pool[n].wall))
    record["seconds"] = round(time.monotonic() - start, 3)
    notices.append(f"performance: {len(chosen)} benchmark(s) close to the line measured again in "
                   f"{record['processes']} extra process(es), {record['seconds']:.1f} s of the {budget:g} s budget "
                   f"(stopped: {record['stopped']})")
    resampled = np.array([bool(extra.get(n)) for n in names])
    if not resampled.any():
        return {}
    pooled = {n: measured.records[n].wall + [v for process in extra[n] for v in process]
              for n in names if extra.get(n)}
    second_current = np.array([statistics.median(pooled[n]) if n in pooled else current[i]
                               for i, n in enumerate(names)])
    p_second, _, ratio_second, _, _ = _history_test(first.matrix, second_current)
    in_family = ~first.noisy & first.gateable
    regression = stats.second_look(p_second, ratio_second, resampled, in_family, threshold)
    results = {}
    for index, n in enumerate(names):
        if not resampled[index]:
            continue
        results[n] = {"extra_samples": len(pooled[n]) - len(measured.records[n].wall),
                      "extra_processes": len(extra[n]), "seconds": record["seconds"], "samples": len(pooled[n]),
                      "first_look": {"p_value": float(p_slower[index]), "ratio": float(ratio[index])},
                      "p_value": float(p_second[index]), "ratio": float(ratio_second[index]),
                      "regression": bool(regression[index]), "pooled": pooled[n]}
    return results


def _apply_second_look(row: dict[str, Any], second: dict[str, Any], threshold: float) -> None:
    """The row of a resampled benchmark shows the pooled samples and the second look's verdict."""
    pooled = second.pop("pooled")
    row["head_samples"] = pooled
    row["head_median"] = statistics.median(pooled)
    row["ratio"], row["p_value"] = second["ratio"], second["p_value"]
    row["p_holm"] = None  # the second look's Holm runs at its own level over the whole family
    row["base_median"] = row["head_median"] / second["ratio"] if second["ratio"] > 0 else None
    row["adaptive"] = second
    if second["regression"]:
        row["verdict"] = stats.Verdict.REGRESSION.value
        row["reason"] = (f"close to the line at first (ratio {second['first_look']['ratio']:.3f}, "
                         f"p {second['first_look']['p_value']:.3f}); regression on {second['samples']} samples")
        row["confirmation"] = {"confirmed": True, "by": "adaptive samples from fresh processes",
                               "p_value": second["p_value"], "ratio": second["ratio"]}
        return
    possible = second["p_value"] < stats.POSSIBLE_ALPHA and second["ratio"] >= 1 + threshold
    row["verdict"] = (stats.Verdict.POSSIBLE_REGRESSION if possible else stats.Verdict.UNCHANGED).value
    row["reason"] = (f"close to the line at first; {second['extra_samples']} more samples did not show a "
                     "regression at the second look's level")
