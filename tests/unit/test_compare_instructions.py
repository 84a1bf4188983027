"""The compare stage with ``--perf-metric instructions``, from samples and baselines on disk.

Counts here are synthetic at the residual noise measured under Valgrind (0.01-0.05% between
processes); tests/integration/test_perf_instructions.py counts real ones.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from doorbell_ci.config import load_config
from doorbell_ci.perf import baselines, compare, measure, stats

PLATFORM = {"os": "linux", "arch": "x86_64", "python": "3.11.7", "cpu_model": "Test CPU", "runner_label": "unit"}
NAMES = [f"tests/performance/test_b.py::test_{index}" for index in range(4)]
COUNT = 150_000.0


def _config(tmp_path: Path, **changes: object):
    (tmp_path / "project").mkdir(exist_ok=True)
    config = load_config(tmp_path / "project", environ={})
    return replace(config, **{"perf_metric": "instructions", "perf_mode": "history", **changes})


def _record(name: str, count: float, rng: np.random.Generator, within: float = 0.0002) -> measure.BenchmarkRecord:
    figures = list(count * np.exp(rng.normal(0, within, 10)))
    return measure.BenchmarkRecord(name=name, nodeid=name, loops=100, wall=[1e-4] * 20, cpu=[0.9e-4] * 20,
                                   instructions=figures, instruction_processes=[float(np.median(figures))])


def _write_history(directory: Path, runs: int, metric_counts: bool = True, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    key = baselines.platform_key(PLATFORM)
    for run in range(runs):
        benchmarks = {}
        for name in NAMES:
            record = _record(name, COUNT * float(np.exp(rng.normal(0, 0.0002))), rng)
            entry = {"wall": record.wall, "cpu": record.cpu, "peak_memory": [], "metrics": {}}
            if metric_counts:
                entry |= {"instructions": record.instructions, "instruction_processes": record.instruction_processes}
            benchmarks[name] = entry
        baselines.update(directory, key, benchmarks, commit=f"c{run}", run_id=str(run))


def _write_current(output: Path, counts: dict[str, float], seed: int = 7,
                   unstable: str | None = None) -> None:
    rng = np.random.default_rng(seed)
    records = [_record(name, count, rng, within=0.02 if name == unstable else 0.0002)
               for name, count in counts.items()]
    measure.write_samples(output / "perf" / "performance.json", "performance", records)


def _rows(section: dict) -> dict[str, dict]:
    return {row["name"]: row for row in section["benchmarks"]}


def test_a_one_and_a_half_percent_change_is_flagged_and_the_rest_unchanged(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _write_history(config.project / "baselines", runs=8)
    current = dict.fromkeys(NAMES, COUNT)
    current[NAMES[0]] = COUNT * 1.015
    _write_current(tmp_path / "out", current)
    section, _ = compare.compare(config, tmp_path / "out", PLATFORM, {}, environ={})
    rows = _rows(section)
    assert section["threshold"] == stats.INSTRUCTION_THRESHOLD and section["unit"] == "instructions per call"
    # flagged; the confirmation process cannot start here (no suite selection), so it stays "possible"
    assert rows[NAMES[0]]["verdict"] == "possible regression"
    assert rows[NAMES[0]]["ratio"] == pytest.approx(1.015, rel=0.002) and rows[NAMES[0]]["p_value"] < 1e-6
    assert {rows[name]["verdict"] for name in NAMES[1:]} == {"unchanged"}
    assert rows[NAMES[1]]["head_median"] == pytest.approx(COUNT, rel=0.001)  # instructions, not seconds
    assert rows[NAMES[1]]["wall_median"] == pytest.approx(1e-4)  # the timing is kept beside the count
    assert section["suite_shift"] is None  # no machine speed to divide out of counts


def test_half_a_percent_is_below_the_gate(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _write_history(config.project / "baselines", runs=8)
    current = dict.fromkeys(NAMES, COUNT)
    current[NAMES[0]] = COUNT * 1.005
    _write_current(tmp_path / "out", current)
    section, _ = compare.compare(config, tmp_path / "out", PLATFORM, {}, environ={})
    assert _rows(section)[NAMES[0]]["verdict"] == "unchanged"


def test_a_baseline_of_timings_is_not_compared_with_counts(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _write_history(config.project / "baselines", runs=8, metric_counts=False)
    _write_current(tmp_path / "out", dict.fromkeys(NAMES, COUNT * 2))
    section, _ = compare.compare(config, tmp_path / "out", PLATFORM, {}, environ={})
    rows = _rows(section)
    assert {row["verdict"] for row in rows.values()} == {"no baseline"}
    assert "no instructions per call" in rows[NAMES[0]]["reason"]


def test_an_unstable_count_is_reported_not_gated(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _write_history(config.project / "baselines", runs=8)
    current = dict.fromkeys(NAMES, COUNT)
    current[NAMES[2]] = COUNT * 1.5
    _write_current(tmp_path / "out", current, unstable=NAMES[2])
    section, _ = compare.compare(config, tmp_path / "out", PLATFORM, {}, environ={})
    row = _rows(section)[NAMES[2]]
    assert row["verdict"] == "noisy" and "not stable" in row["reason"] and "wall time" in row["reason"]
    assert section["regressions"] == []


def test_a_throttled_run_still_compares_counts(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _write_history(config.project / "baselines", runs=8)
    _write_current(tmp_path / "out", dict.fromkeys(NAMES, COUNT))
    hot = {**PLATFORM, "throttled": True, "throttle_flags": ["soft temperature limit"]}
    section, notices = compare.compare(config, tmp_path / "out", hot, {}, environ={})
    assert section["comparable"] is True and section["throttled_but_comparable"]
    assert {row["verdict"] for row in section["benchmarks"]} == {"unchanged"}
    assert any("do not depend on the clock" in notice for notice in notices)
    # the same run timed in wall time is "not comparable", as before
    wall, _ = compare.compare(replace(config, perf_metric="wall"), tmp_path / "out", hot, {}, environ={})
    assert wall["comparable"] is False


def test_a_timed_only_benchmark_says_it_was_not_counted(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _write_history(config.project / "baselines", runs=8)
    rng = np.random.default_rng(3)
    records = [_record(name, COUNT, rng) for name in NAMES]
    records.append(measure.BenchmarkRecord(name="bench.py::test_timed", nodeid="bench.py::test_timed", loops=1,
                                           wall=[1e-3] * 20))
    measure.write_samples(tmp_path / "out" / "perf" / "performance.json", "performance", records)
    section, _ = compare.compare(config, tmp_path / "out", PLATFORM, {}, environ={})
    row = _rows(section)["bench.py::test_timed"]
    assert row["verdict"] == "no baseline" and "no instruction count" in row["reason"]


def test_the_instruction_test_takes_the_process_as_its_unit() -> None:
    # Two processes a side that agree to the instruction: a 0.05% difference is no evidence of 1%,
    # and with the floor the test does not call a tiny difference significant at the gate's size.
    p_slower, _, ratio = stats.instruction_test([100_000, 100_000], [100_050, 100_050])
    assert ratio == pytest.approx(1.0005) and p_slower > 0.05
    p_slower, _, ratio = stats.instruction_test([100_000, 100_010], [101_000, 101_020])
    assert ratio == pytest.approx(1.01, rel=1e-4) and p_slower < 0.01
    codes = stats.classify([p_slower], [1 - p_slower], [ratio], [False], [True], 0.01)
    assert stats.CODES[int(codes[0])] == stats.Verdict.REGRESSION


def test_instability_reasons() -> None:
    steady = [100_000 + i for i in range(10)]
    assert stats.instruction_instability(steady, [1.0, 1.0001]) is None
    clock = [100_000 * (1 + 0.03 * (i % 3)) for i in range(10)]
    assert "between identical calls" in stats.instruction_instability(clock, [1.0])
    assert "between processes" in stats.instruction_instability(steady, [1.0, 1.02])
    waiting = stats.instruction_instability(steady, [1.0], cpu_share=0.05, best_cpu_share=0.9)
    assert waiting is not None and "waiting" in waiting
