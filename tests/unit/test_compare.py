"""The compare stage in history mode, from files on disk (no benchmark process is started here)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from doorbell_ci.config import load_config
from doorbell_ci.perf import baselines, compare, measure, stats

PLATFORM = {"os": "linux", "arch": "x86_64", "python": "3.11.7", "cpu_model": "Test CPU", "runner_label": "unit"}
NAMES = [f"tests/performance/test_b.py::test_{index}" for index in range(12)]


def _config(tmp_path: Path, **changes: object):
    (tmp_path / "project").mkdir(exist_ok=True)
    config = load_config(tmp_path / "project", environ={})
    return replace(config, **changes)


def _write_samples(output: Path, medians: dict[str, float], spread: float = 0.01, seed: int = 0,
                   spreads: dict[str, float] | None = None) -> None:
    rng = np.random.default_rng(seed)
    own = spreads or {}
    records = [measure.BenchmarkRecord(name=name, nodeid=name, loops=2,
                                       wall=list(median * np.exp(rng.normal(0, own.get(name, spread), 20))),
                                       cpu=list(median * np.exp(rng.normal(0, own.get(name, spread), 20))))
               for name, median in medians.items()]
    measure.write_samples(output / "perf" / "performance.json", "performance", records)


def _write_history(directory: Path, runs: int, median: float = 0.010, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    key = baselines.platform_key(PLATFORM)
    for run in range(runs):
        job = float(np.exp(rng.normal(0, 0.01)))
        benchmarks = {name: {"wall": list(median * job * np.exp(rng.normal(0, 0.01, 20))), "cpu": [], "metrics": {},
                             "peak_memory": []} for name in NAMES}
        baselines.update(directory, key, benchmarks, commit=f"c{run}", run_id=str(run))


def _by_name(section: dict) -> dict[str, dict]:
    return {row["name"]: row for row in section["benchmarks"]}


def test_no_benchmarks_means_no_performance_section(tmp_path: Path) -> None:
    section, notices = compare.compare(_config(tmp_path), tmp_path / "out", PLATFORM, {}, environ={})
    assert section is None and notices == []


def test_without_a_baseline_every_verdict_is_no_baseline_with_the_reason(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _write_samples(tmp_path / "out", {name: 0.01 for name in NAMES})
    section, _ = compare.compare(config, tmp_path / "out", PLATFORM, {}, environ={})
    assert section is not None and section["mode"] == "history"
    assert section["counts"]["no baseline"] == len(NAMES)
    assert all("no baseline" in row["reason"] for row in section["benchmarks"])
    assert section["benchmarks"][0]["head_samples"]  # raw samples are carried into report.json


def test_unchanged_and_improved_benchmarks_against_twenty_runs(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _write_history(config.project / "baselines", runs=20)
    current = {name: 0.010 for name in NAMES}
    current[NAMES[0]] = 0.007  # 30% faster
    _write_samples(tmp_path / "out", current)
    section, notices = compare.compare(config, tmp_path / "out", PLATFORM, {}, environ={})
    rows = _by_name(section)
    assert rows[NAMES[0]]["verdict"] == "improvement"
    assert rows[NAMES[0]]["ratio"] == pytest.approx(0.7, rel=0.05)
    assert {rows[name]["verdict"] for name in NAMES[1:]} == {"unchanged"}
    assert len(rows[NAMES[1]]["trend"]) == 20 and rows[NAMES[1]]["history_jobs"] == 20
    assert section["baseline"]["history_length"] == 20
    assert section["regressions"] == [] and notices == []


def test_a_uniformly_slower_job_is_a_suite_shift_not_thirty_regressions(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _write_history(config.project / "baselines", runs=20)
    _write_samples(tmp_path / "out", {name: 0.013 for name in NAMES})  # a slower runner: everything +30%
    section, _ = compare.compare(config, tmp_path / "out", PLATFORM, {}, environ={})
    assert section["suite_shift"] == pytest.approx(1.3, rel=0.03)
    assert section["counts"]["regression"] == 0 and section["counts"]["possible regression"] == 0


def test_too_short_a_history_reports_but_never_gates(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _write_history(config.project / "baselines", runs=3)
    _write_samples(tmp_path / "out", {name: 0.010 for name in NAMES})
    section, _ = compare.compare(config, tmp_path / "out", PLATFORM, {}, environ={})
    row = _by_name(section)[NAMES[0]]
    assert "3 earlier run(s)" in row["reason"] and row["verdict"] != "regression"


def test_throttled_run_is_not_compared(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _write_history(config.project / "baselines", runs=20)
    _write_samples(tmp_path / "out", {name: 0.010 for name in NAMES})
    section, _ = compare.compare(config, tmp_path / "out", {**PLATFORM, "throttled": True}, {}, environ={})
    assert section["comparable"] is False
    assert section["counts"]["no baseline"] == len(NAMES)
    assert "throttled" in section["benchmarks"][0]["reason"]


def test_another_platform_never_compares(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _write_history(config.project / "baselines", runs=20)
    _write_samples(tmp_path / "out", {name: 0.010 for name in NAMES})
    other = {**PLATFORM, "arch": "aarch64"}
    section, _ = compare.compare(config, tmp_path / "out", other, {}, environ={})
    assert section["counts"]["no baseline"] == len(NAMES)
    assert "other platforms" in section["baseline"]["reason"]


def test_a_corrupt_baseline_is_a_notice_and_absent(tmp_path: Path) -> None:
    config = _config(tmp_path)
    folder = config.project / "baselines"
    folder.mkdir()
    (folder / f"{baselines.platform_key(PLATFORM).slug}.json").write_text('{"format": "doorbell-ci-baseline", "ver')
    _write_samples(tmp_path / "out", {NAMES[0]: 0.010})
    section, notices = compare.compare(config, tmp_path / "out", PLATFORM, {}, environ={})
    assert section["benchmarks"][0]["verdict"] == "no baseline"
    assert any("not valid JSON" in notice and "treated as absent" in notice for notice in notices)


def test_perf_mode_off_compares_nothing(tmp_path: Path) -> None:
    _write_samples(tmp_path / "out", {NAMES[0]: 0.010})
    section, _ = compare.compare(_config(tmp_path, perf_mode="off"), tmp_path / "out", PLATFORM, {}, environ={})
    assert section is None


def test_unreadable_samples_file_is_a_notice_and_the_others_are_kept(tmp_path: Path) -> None:
    _write_samples(tmp_path / "out", {NAMES[0]: 0.010})
    (tmp_path / "out" / "perf" / "load.json").write_text("{broken")
    measured = compare.read_measurements(tmp_path / "out")
    assert list(measured.records) == [NAMES[0]]
    assert len(measured.problems) == 1 and "load.json could not be read" in measured.problems[0]


def test_pytest_benchmark_json_is_ingested(tmp_path: Path) -> None:
    document = {"benchmarks": [{"fullname": "tests/test_x.py::test_sum", "name": "test_sum",
                                "stats": {"data": [0.001, 0.0011, 0.0012], "iterations": 4, "median": 0.0011}},
                               {"fullname": "tests/test_x.py::test_no_data", "stats": {"median": 0.5}}]}
    (tmp_path / "perf").mkdir()
    (tmp_path / "perf" / "performance.pytest-benchmark.json").write_text(json.dumps(document))
    measured = compare.read_measurements(tmp_path)
    assert measured.records["tests/test_x.py::test_sum"].wall == [0.001, 0.0011, 0.0012]
    assert measured.records["tests/test_x.py::test_sum"].loops == 4
    assert measured.records["tests/test_x.py::test_no_data"].wall == [0.5]
    assert measured.suites["tests/test_x.py::test_sum"] == "performance"


def test_mode_and_threshold_defaults_per_runner(tmp_path: Path) -> None:
    config = _config(tmp_path)
    hosted_pr = {"RUNNER_ENVIRONMENT": "github-hosted", "GITHUB_EVENT_NAME": "pull_request"}
    assert compare.resolve_mode(config, hosted_pr)[0] == "paired"
    assert compare.resolve_mode(config, {"RUNNER_ENVIRONMENT": "self-hosted"})[0] == "history"
    assert compare.resolve_mode(replace(config, perf_aa=True), {})[0] == "paired"
    assert compare.resolve_threshold(config, hosted_pr) == 0.05
    assert compare.resolve_threshold(config, {"RUNNER_ENVIRONMENT": "self-hosted"}) == 0.03
    assert compare.resolve_threshold(replace(config, regression_threshold=8.0), {}) == pytest.approx(0.08)


NEAR = 0.0110


def _write_spread_history(directory: Path, runs: int = 20, spread: float = 0.04, seed: int = 2) -> None:
    """Earlier jobs whose medians differ by ``spread`` per benchmark: a history that cannot resolve a few percent."""
    rng = np.random.default_rng(seed)
    key = baselines.platform_key(PLATFORM)
    for run in range(runs):
        medians = {name: 0.010 * float(np.exp(rng.normal(0, spread))) for name in NAMES}
        benchmarks = {name: {"wall": list(median * np.exp(rng.normal(0, 0.01, 20))), "cpu": [], "metrics": {},
                             "peak_memory": []} for name, median in medians.items()}
        baselines.update(directory, key, benchmarks, commit=f"c{run}", run_id=str(run))


def test_adaptive_budget_too_small_for_one_process_starts_none_and_keeps_the_first_look(tmp_path: Path) -> None:
    config = _config(tmp_path, perf_mode="history", regression_threshold=3.0, perf_adaptive_budget=0.01)
    _write_spread_history(config.project / "baselines")
    current = {name: 0.010 for name in NAMES}
    current[NAMES[0]] = NEAR  # slower, close to the line, not decided against a 4% spread
    _write_samples(tmp_path / "out", current)
    section, notices = compare.compare(config, tmp_path / "out", PLATFORM, {}, environ={})
    rows = _by_name(section)
    adaptive = section["adaptive"]
    assert adaptive["benchmarks"] == [NAMES[0]]
    assert adaptive["processes"] == 0 and "would not fit" in adaptive["stopped"]
    assert not (tmp_path / "out" / "perf" / "adaptive").exists()  # no process was started
    assert "adaptive" not in rows[NAMES[0]] and len(rows[NAMES[0]]["head_samples"]) == 20
    assert 0.05 / 12 < rows[NAMES[0]]["p_value"] < 0.05 and rows[NAMES[0]]["verdict"] != "regression"
    assert any("0 extra process(es)" in notice for notice in notices)


def test_without_an_adaptive_budget_nothing_is_measured_again(tmp_path: Path) -> None:
    config = _config(tmp_path, perf_mode="history", regression_threshold=3.0)
    assert config.perf_adaptive_budget == 0
    _write_spread_history(config.project / "baselines")
    current = {name: 0.010 for name in NAMES}
    current[NAMES[0]] = NEAR
    _write_samples(tmp_path / "out", current)
    section, _ = compare.compare(config, tmp_path / "out", PLATFORM, {}, environ={})
    assert "adaptive" not in section and "adaptive" not in _by_name(section)[NAMES[0]]


def test_a_noisy_benchmark_is_judged_when_slower_than_its_spread_explains(tmp_path: Path) -> None:
    """Spread 30% (contention): a 3x slowdown is a regression candidate, a 1.3x one stays noisy (never gates)."""
    config = _config(tmp_path)
    _write_history(config.project / "baselines", runs=20)
    current = {name: 0.010 for name in NAMES}
    current[NAMES[0]], current[NAMES[1]] = 0.030, 0.013
    _write_samples(tmp_path / "out", current, spreads={NAMES[0]: 0.3, NAMES[1]: 0.3, NAMES[2]: 0.3})
    section, notices = compare.compare(config, tmp_path / "out", PLATFORM, {}, environ={})
    rows = _by_name(section)
    judged, small, steady = rows[NAMES[0]], rows[NAMES[1]], rows[NAMES[2]]
    assert stats.is_noisy(judged["head_samples"]) and judged["noisy"] is False and judged["judged_despite_noise"]
    assert "is beyond what it explains" in judged["reason"] and judged["ratio"] > 2
    # the candidate went to its confirmation; this project has no tests to measure again, so it is not confirmed
    assert judged["confirmation"]["confirmed"] is False and judged["verdict"] == "possible regression"
    assert any("confirmation re-measurement failed" in notice for notice in notices)
    assert small["verdict"] == "noisy" and small["noisy"] is True and small["reason"] == ""
    assert not small["judged_despite_noise"] and not rows[NAMES[3]]["judged_despite_noise"]
    assert steady["verdict"] == "noisy"


def test_a_noisy_confirmation_confirms_only_beyond_its_own_bar() -> None:
    rng = np.random.default_rng(4)
    matrix = np.full((20, 1), 0.010) * np.exp(rng.normal(0, 0.01, (20, 1)))
    current = np.array([0.030])
    for again_median, judged, confirmed in ((0.030, True, True), (0.015, True, False), (0.015, False, True)):
        record = measure.BenchmarkRecord(name="b", nodeid="b", loops=1,
                                         wall=list(again_median * np.exp(rng.normal(0, 0.3, 20))), cpu=[])
        row: dict = {"verdict": "regression", "judged_despite_noise": judged}
        compare._confirm_history(row, "b", 0, matrix, current, {"b": record}, 0.05)
        assert row["confirmation"]["confirmed"] is confirmed, row
        assert (row["verdict"] == "regression") is confirmed
        if judged:  # only a benchmark judged despite its noise is held to the bar again
            assert row["confirmation"]["spread"] > 0.1
            assert confirmed or "within what that explains" in row["confirmation"]["reason"]
        else:
            assert "spread" not in row["confirmation"]


def test_paired_decisions_judge_a_noisy_benchmark_only_far_beyond_its_spread() -> None:
    rng = np.random.default_rng(8)

    def noisy(median: float) -> list[float]:
        return list(median * np.exp(rng.normal(0, 0.3, 20)))

    base = [noisy(0.01), noisy(0.01), list(np.full(20, 0.0004) * np.exp(rng.normal(0, 0.3, 20)))]
    head = [noisy(0.03), noisy(0.013), list(np.full(20, 0.0012) * np.exp(rng.normal(0, 0.3, 20)))]
    decisions = compare._decide_pairs(base, head, 0.05, [1, 1, 1])
    three, small, short = decisions
    assert stats.CODES[three["code"]] is stats.Verdict.REGRESSION and three["noisy"] is False
    assert three["spread"] > 0.15 and "judged" in three["reason"] and three["judged_despite_noise"]
    assert stats.CODES[small["code"]] is stats.Verdict.NOISY and small["reason"] == ""
    assert stats.CODES[short["code"]] is stats.Verdict.NOISY  # under 1 ms a sample: timer noise, whatever the ratio


def test_paired_timings_gate_only_with_three_processes_a_side() -> None:
    """Two processes a side: samples of one process are not independent, so a 2x slowdown is reported, not gated."""
    rng = np.random.default_rng(9)
    base = [list(0.010 * np.exp(rng.normal(0, 0.02, 20)))]
    head = [list(0.020 * np.exp(rng.normal(0, 0.02, 20)))]

    def medians(values: list[float], count: int) -> list[float]:
        return [float(np.median(part)) for part in np.array_split(values, count)]

    two = compare._decide_pairs(base, head, 0.05, [1], [(medians(base[0], 2), medians(head[0], 2))])[0]
    assert stats.CODES[two["code"]] is stats.Verdict.POSSIBLE_REGRESSION and two["p_holm"] is None
    assert "2 process(es) a side" in two["reason"] and "DOORBELL_CI_PERF_PROCESSES" in two["reason"]
    three = compare._decide_pairs(base, head, 0.05, [1], [(medians(base[0], 4), medians(head[0], 4))])[0]
    assert stats.CODES[three["code"]] is stats.Verdict.REGRESSION and three["reason"] == ""
    alone = compare._decide_pairs(base, head, 0.05, [1])[0]  # no process figures: the samples decide
    assert stats.CODES[alone["code"]] is stats.Verdict.REGRESSION
