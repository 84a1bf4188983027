"""Regression-detection simulation: false alarms and power of the reference rule vs doorbell-ci's modes.

Run from the repository root (needs numpy and scipy, both doorbell-ci dependencies):

    python benchmarks/detection/simulate.py                # 2,000 suites per cell, writes results.json
    python benchmarks/detection/simulate.py --suites 200   # a quick look

Noise model (log scale, per benchmark and sample), as in the research note's section 4:
``log t = log(1 + slowdown) [head, benchmark 0] + job_shared + job_benchmark + e + o`` with
``job_shared ~ N(0, 0.97 b)``, ``job_benchmark ~ N(0, 0.25 b)`` (b = between-job CV, a new draw for
every CI job), ``e ~ N(0, w)`` (w = within-job CV) and a right-skewed outlier ``o`` (5% of samples,
Exp(mean 0.2)). 30 benchmarks a suite; the slowdown, if any, is on benchmark 0.

Rules compared (the decision code is doorbell_ci.perf.stats, the same functions a real run calls):
- reference: mean of 5 samples from this job over the mean of 5 stored from another job, > 15%;
- paired: base and head measured in the same job, 20 v 20, exact one-sided Mann-Whitney U, Holm 0.05,
  minimum effect 5% (hosted default), then one confirmation re-measurement of flagged benchmarks;
- history: K = 20 earlier jobs' medians, suite-normalised, prediction interval, Holm 0.05, minimum effect
  3% (self-hosted default), then one confirmation re-measurement in the same job.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from doorbell_ci.perf import stats  # noqa: E402

BENCHMARKS = 30
SAMPLES = 20
REFERENCE_SAMPLES = 5
HISTORY_JOBS = 20
BETWEEN = (0.0, 0.03, 0.05, 0.10)
WITHIN = (0.02, 0.05, 0.10)
SLOWDOWNS = (0.0, 0.05, 0.10, 0.20, 0.50)
OUTLIER_PROBABILITY = 0.05
OUTLIER_MEAN = 0.2


def job_effects(rng: np.random.Generator, shape: tuple[int, ...], between: float) -> np.ndarray:
    """Log speed of one CI job per benchmark: a shared runner factor plus a smaller per-benchmark part."""
    shared = rng.normal(0.0, 0.97 * between, size=shape[:-1] + (1,))
    own = rng.normal(0.0, 0.25 * between, size=shape)
    return shared + own


def samples(rng: np.random.Generator, log_centre: np.ndarray, within: float, count: int) -> np.ndarray:
    """``count`` timings per benchmark around ``exp(log_centre)`` with jitter and right-skewed outliers."""
    shape = log_centre.shape + (count,)
    noise = rng.normal(0.0, within, size=shape)
    outliers = np.where(rng.random(shape) < OUTLIER_PROBABILITY, rng.exponential(OUTLIER_MEAN, size=shape), 0.0)
    return 0.05 * np.exp(log_centre[..., None] + noise + outliers)  # 50 ms benchmarks


def slowdown_vector(slowdown: float) -> np.ndarray:
    vector = np.zeros(BENCHMARKS)
    vector[0] = np.log1p(slowdown)
    return vector


def reference_rule(rng: np.random.Generator, suites: int, between: float, within: float,
                   slowdown: float) -> np.ndarray:
    stored_job = job_effects(rng, (suites, BENCHMARKS), between)
    head_job = job_effects(rng, (suites, BENCHMARKS), between) + slowdown_vector(slowdown)
    stored = samples(rng, stored_job, within, REFERENCE_SAMPLES).mean(axis=-1)
    head = samples(rng, head_job, within, REFERENCE_SAMPLES).mean(axis=-1)
    return stats.reference_rule(head, stored)


def paired_rule(rng: np.random.Generator, suites: int, between: float, within: float,
                slowdown: float, threshold: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    job = job_effects(rng, (suites, BENCHMARKS), between)  # the same job measures both sides
    base = samples(rng, job, within, SAMPLES)
    head = samples(rng, job + slowdown_vector(slowdown), within, SAMPLES)
    codes = _paired_codes(base, head, threshold)
    candidates = codes == stats.REGRESSION
    judged = stats.is_noisy_pair(base, head) & ~_paired_noisy(base, head, stats.median_ratio(head, base), threshold)
    base_again = samples(rng, job, within, SAMPLES)
    head_again = samples(rng, job + slowdown_vector(slowdown), within, SAMPLES)
    ratio_again = stats.median_ratio(head_again, base_again)
    again = stats.confirmed(stats.mann_whitney_greater(head_again, base_again), ratio_again, threshold)
    again &= ~(judged & _paired_noisy(base_again, head_again, ratio_again, threshold))  # judged despite noise: bar
    return candidates, candidates & again


def _paired_noisy(base: np.ndarray, head: np.ndarray, ratio: np.ndarray, threshold: float) -> np.ndarray:
    """The product's rule: shown noisy and not beyond the noise bar (stats.kept_out)."""
    short = stats.too_short(base) | stats.too_short(head)
    return stats.kept_out(stats.is_noisy_pair(base, head), short, ratio, stats.pair_spread(base, head), threshold)


def _paired_codes(base: np.ndarray, head: np.ndarray, threshold: float) -> np.ndarray:
    ratio = stats.median_ratio(head, base)
    return stats.classify(
        stats.mann_whitney_greater(head, base),
        stats.mann_whitney_less(head, base),
        ratio,
        _paired_noisy(base, head, ratio, threshold),
        np.full(base.shape[:-1], SAMPLES >= stats.MIN_GATING_SAMPLES),
        threshold,
    )


def history_rule(rng: np.random.Generator, suites: int, between: float, within: float,
                 slowdown: float, threshold: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    past_jobs = job_effects(rng, (suites, HISTORY_JOBS, BENCHMARKS), between)
    history = np.log(np.median(samples(rng, past_jobs, within, SAMPLES), axis=-1))
    job = job_effects(rng, (suites, BENCHMARKS), between) + slowdown_vector(slowdown)
    current = samples(rng, job, within, SAMPLES)
    p_slower, p_faster, ratio, _bounds, _shift = stats.history_test(history, np.log(np.median(current, axis=-1)))
    gateable = np.full(ratio.shape, HISTORY_JOBS >= stats.MIN_GATING_HISTORY)
    noisy = stats.kept_out(stats.is_noisy(current), stats.too_short(current), ratio, stats.robust_cv(current),
                           threshold)
    judged = stats.is_noisy(current) & ~noisy
    codes = stats.classify(p_slower, p_faster, ratio, noisy, gateable, threshold)
    candidates = codes == stats.REGRESSION
    again = samples(rng, job, within, SAMPLES)
    p_again, _, ratio_again, _, _ = stats.history_test(history, np.log(np.median(again, axis=-1)))
    again_noisy = stats.kept_out(stats.is_noisy(again), stats.too_short(again), ratio_again, stats.robust_cv(again),
                                 threshold)
    return candidates, candidates & stats.confirmed(p_again, ratio_again, threshold) & ~(judged & again_noisy)


def rates(flags: np.ndarray, slowdown: float) -> float:
    """Unchanged suite: share with any flag. Slowed suite: share where benchmark 0 is flagged."""
    return float(flags.any(axis=-1).mean()) if slowdown == 0 else float(flags[..., 0].mean())


def run(suites: int, seed: int, chunk: int = 500) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    rows: list[dict[str, float]] = []
    for between in BETWEEN:
        for within in WITHIN:
            for slowdown in SLOWDOWNS:
                totals = {"reference": 0.0, "paired_no_confirm": 0.0, "paired": 0.0,
                          "history_no_confirm": 0.0, "history": 0.0}
                done = 0
                while done < suites:
                    size = min(chunk, suites - done)
                    paired_first, paired_final = paired_rule(rng, size, between, within, slowdown)
                    history_first, history_final = history_rule(rng, size, between, within, slowdown)
                    results = {
                        "reference": reference_rule(rng, size, between, within, slowdown),
                        "paired_no_confirm": paired_first, "paired": paired_final,
                        "history_no_confirm": history_first, "history": history_final,
                    }
                    for name, flags in results.items():
                        totals[name] += rates(flags, slowdown) * size
                    done += size
                row = {"between_cv": between, "within_cv": within, "slowdown": slowdown}
                row.update({name: round(total / suites, 4) for name, total in totals.items()})
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def markdown(rows: list[dict[str, float]], suites: int) -> str:
    lines = [
        f"{suites} simulated suites of {BENCHMARKS} benchmarks per cell. Slowdown 0%: share of unchanged suites "
        "with at least one false alarm. Other columns: share of runs where the slowed benchmark is flagged.",
        "",
        "| between-job CV | within-job CV | rule | 0% (false alarm) | 5% | 10% | 20% | 50% |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    names = {"reference": "reference (mean 5 > stored +15%)", "paired_no_confirm": "paired, before confirmation",
             "paired": "**paired** (default, with confirmation)", "history_no_confirm": "history K=20, before "
             "confirmation", "history": "**history** K=20 (with confirmation)"}
    for between in BETWEEN:
        for within in WITHIN:
            cell = [r for r in rows if r["between_cv"] == between and r["within_cv"] == within]
            for name, label in names.items():
                values = " | ".join(f"{r[name]:.3f}" for r in sorted(cell, key=lambda r: r["slowdown"]))
                lines.append(f"| {between:.0%} | {within:.0%} | {label} | {values} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", type=int, default=2000, help="simulated suites per cell (default 2000)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args()
    begin = time.monotonic()
    rows = run(args.suites, args.seed)
    elapsed = time.monotonic() - begin
    write_results(args.output, args.suites, args.seed, elapsed, rows, markdown(rows, args.suites))
    return 0


def write_results(output: Path, suites: int, seed: int, elapsed: float, rows: list[dict[str, float]],
                  table: str) -> None:
    """The simulation's JSON (cells, table, machine) and the table on stdout; contention.py writes its own so."""
    document = {"suites_per_cell": suites, "seed": seed, "seconds": round(elapsed, 1),
                "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
                "rows": rows, "markdown": table}
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(table)
    print(f"{len(rows)} cells in {elapsed:.0f} s; written to {output}")


if __name__ == "__main__":
    raise SystemExit(main())
