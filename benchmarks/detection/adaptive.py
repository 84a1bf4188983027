"""History mode with adaptive extra samples near the line: false alarms and power, with and without.

Run from the repository root (numpy and scipy, doorbell-ci dependencies):

    python benchmarks/detection/adaptive.py                 # 1,000 suites per cell (9 min), writes adaptive.json
    python benchmarks/detection/adaptive.py --suites 300    # a quick look

The noise model is ``simulate.py``'s (research note section 4): 30 benchmarks, 20 samples a job,
K = 20 earlier jobs, a job effect (97% shared by the suite, 25% per benchmark, of the between-job CV)
and 5% right-skewed outliers; the within-job spread is **10%** throughout (where history mode was
weak: 37-40% power at a 10% slowdown). Optionally a *process* effect (``--process-cv``): each pytest
process of a job is shifted by its own draw (hash seed, layout, the load a minute later), which the
earlier jobs' medians carry and the extra processes draw anew.

Rules (decisions are ``doorbell_ci.perf.stats``, the code the compare stage runs; self-hosted gate 3%;
the first look's regression candidates always go through the confirmation re-measurement, p < 0.01):

- ``shipped``: one look, Holm 0.05 (as before, and ``--perf-adaptive-budget 0``);
- ``naive``: then benchmarks close to the line (``stats.near_the_line``) get ``P`` extra processes of
  20 samples and the same prediction-interval test is applied to the pooled median, Holm at 0.05 again:
  two looks, no correction;
- ``strict`` (what ``--perf-adaptive-budget`` does): the same, the second look held to 0.01 by
  ``stats.second_look`` (Holm over the whole gated family): at most 0.05 + 0.01 by the union bound;
- ``split``: the first look at 0.04 and the second at 0.01 (at most 0.05);
- ``credited`` (rejected): as ``strict``, but the second look's prediction variance credits the extra
  samples (``adaptive_history_test`` below: only the within-job jitter part shrinks, Satterthwaite
  degrees of freedom for the subtracted variance).

Slowdown 0%: share of unchanged suites with at least one false alarm. Other columns: share of suites
where the slowed benchmark (one of 30) is flagged. "resampled" is the mean number of benchmarks a
suite re-ran (each for ``P`` processes), the cost.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as scipy_stats

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from simulate import BENCHMARKS, SAMPLES, job_effects, samples, slowdown_vector  # noqa: E402

from doorbell_ci.perf import stats  # noqa: E402

HISTORY_JOBS = 20
WITHIN = 0.10
BETWEEN = (0.0, 0.03, 0.05, 0.10)
SLOWDOWNS = (0.0, 0.05, 0.10, 0.20)
EXTRA_PROCESSES = (1, 4)
THRESHOLD = 0.03
RULES = ("shipped", "naive", "strict", "split", "credited")
MEDIAN_VARIANCE = np.pi / 2  # variance of the median of n normal samples is (pi/2) sigma^2 / n


def within_job_sd(process_logs: list[ArrayLike]) -> float:
    """The spread of single samples around *their own process's* median (log scale, MAD-based sigma).

    Residuals are taken within each process so that a shift between processes (another hash seed,
    layout, or the machine's load a minute later) is not mistaken for sample jitter: only jitter
    shrinks with more samples, and crediting process shifts as jitter would overstate the gain.
    """
    residuals = [np.asarray(logs, dtype=float) - np.median(logs) for logs in process_logs if np.size(logs) > 1]
    if not residuals:
        return float("nan")
    pooled = np.concatenate(residuals)
    return float(stats._MAD_TO_SIGMA * np.median(np.abs(pooled)))


def adaptive_history_test(history_logs: ArrayLike, current_logs: ArrayLike, within_sd: ArrayLike,
                          history_samples: ArrayLike, current_samples: ArrayLike,
                          normalise: bool | None = None, floor: float = 0.0,
                          residuals: ArrayLike | None = None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """History mode's second look, after more samples of this job: (p slower, ratio) per benchmark.

    A job median from ``n`` samples varies as ``sigma_b^2 + v/n`` (``sigma_b``: between jobs; ``v/n``:
    the median's own jitter, ``v = (pi/2) sigma_w^2``). The earlier jobs' spread ``s^2`` estimates the
    former with ``n = history_samples``; this job's median of ``m = current_samples`` has variance
    ``sigma_b^2 + v/m``. So the prediction variance is ``max(0, s^2 - v/n) + v/m + s^2/K`` instead of
    ``s^2 (1 + 1/K)``: only the jitter part shrinks, the job-to-job part never does, and the degrees of
    freedom shrink with the share of the variance that was subtracted (Satterthwaite). ``sigma_w`` is
    taken at its one-sided 99% lower bound (``residuals`` samples behind it): overestimating it would
    credit more than the extra samples bought and inflate false alarms. With ``m = n`` the variance is
    at least the first look's.
    """
    history = np.asarray(history_logs, dtype=float)
    current = np.asarray(current_logs, dtype=float)
    normalise = current.shape[-1] >= stats.SUITE_NORMALISE_MIN if normalise is None else normalise
    centre = np.nanmean(history, axis=-2)
    if normalise:
        shift = stats.suite_shift(current - centre)
        job_shifts = np.nanmedian(history - centre[..., None, :], axis=-1)
        history = history - job_shifts[..., None]
        current = current - shift[..., None]
        centre = np.nanmean(history, axis=-2)
    jobs = np.sum(~np.isnan(history), axis=-2).astype(float)
    count = np.asarray(residuals if residuals is not None else current_samples, dtype=float)
    sigma_w = np.asarray(within_sd, dtype=float) / (1 + 2.326 * stats._MAD_RELATIVE_SE / np.sqrt(np.maximum(count, 1)))
    sigma_w = np.nan_to_num(sigma_w, nan=0.0)  # unknown jitter: no credit
    jitter = MEDIAN_VARIANCE * sigma_w ** 2
    history_variance = np.maximum(np.nanvar(history, axis=-2, ddof=1), floor ** 2)
    between = np.maximum(history_variance - jitter / np.asarray(history_samples, dtype=float), 0.0)
    variance = between + jitter / np.asarray(current_samples, dtype=float) + history_variance / jobs
    # Satterthwaite: the part of the variance estimated from the K jobs is s^2 (1 + 1/K) less a constant
    # (or s^2 / K where the between-job part is floored at 0); fewer degrees of freedom than K - 1
    # when that subtraction makes it small, so the t tail is not too thin for a variance partly subtracted.
    estimated = np.where(between > 0, history_variance * (1 + 1 / jobs), history_variance / jobs)
    with np.errstate(divide="ignore", invalid="ignore"):
        freedom = np.clip((jobs - 1) * (variance / estimated) ** 2, 1.0, np.maximum(jobs - 1, 1.0))
        distance = current - centre
        t_value = np.where(variance > 0, distance / np.sqrt(variance), np.sign(distance) * np.inf)
    return np.asarray(scipy_stats.t.sf(t_value, freedom)), np.exp(distance)



def process_effects(rng: np.random.Generator, shape: tuple[int, ...], process_cv: float) -> np.ndarray:
    return rng.normal(0.0, process_cv, size=shape) if process_cv else np.zeros(shape)


def one_chunk(rng: np.random.Generator, suites: int, between: float, slowdown: float, extra: int,
              process_cv: float) -> dict[str, np.ndarray]:
    shape = (suites, BENCHMARKS)
    past = job_effects(rng, (suites, HISTORY_JOBS, BENCHMARKS), between)
    past = past + process_effects(rng, past.shape, process_cv)
    history = np.log(np.median(samples(rng, past, WITHIN, SAMPLES), axis=-1))
    job = job_effects(rng, shape, between) + slowdown_vector(slowdown)
    processes = [samples(rng, job + process_effects(rng, shape, process_cv), WITHIN, SAMPLES)
                 for _ in range(extra + 1)]
    first = processes[0]
    p_slower, p_faster, ratio, bounds, _ = stats.history_test(history, np.log(np.median(first, axis=-1)))
    noisy = stats.is_noisy(first)
    gateable = np.ones(shape, dtype=bool)
    in_family = ~noisy & gateable
    again = samples(rng, job + process_effects(rng, shape, process_cv), WITHIN, SAMPLES)
    p_again, _, ratio_again, _, _ = stats.history_test(history, np.log(np.median(again, axis=-1)))
    confirm = stats.confirmed(p_again, ratio_again, THRESHOLD)

    pooled = np.concatenate(processes, axis=-1)
    pooled_logs = np.log(np.median(pooled, axis=-1))
    logs = np.log(np.stack(processes, axis=-2))  # (suites, B, processes, samples)
    residuals = logs - np.median(logs, axis=-1, keepdims=True)
    within_sd = 1.4826 * np.median(np.abs(residuals.reshape(suites, BENCHMARKS, -1)), axis=-1)
    count = SAMPLES * (extra + 1)
    p_credit, ratio_credit = adaptive_history_test(history, pooled_logs, within_sd, SAMPLES, count)
    p_plain, _, ratio_plain, _, _ = stats.history_test(history, pooled_logs)

    results = {}
    for rule in RULES:
        first_alpha = stats.FAMILY_ALPHA - stats.ADAPTIVE_ALPHA if rule == "split" else stats.FAMILY_ALPHA
        codes = stats.classify(p_slower, p_faster, ratio, noisy, gateable, THRESHOLD, family_alpha=first_alpha)
        flags = (codes == stats.REGRESSION) & confirm
        near = stats.near_the_line(codes, p_slower, ratio, bounds[..., 1], noisy, gateable, THRESHOLD)
        p_second, ratio_second = (p_credit, ratio_credit) if rule == "credited" else (p_plain, ratio_plain)
        if rule == "naive":
            second = stats.holm(np.where(in_family, np.where(near, p_second, 1.0), np.nan))
            flags = flags | (near & (second < stats.FAMILY_ALPHA) & (ratio_second >= 1 + THRESHOLD))
        elif rule != "shipped":  # the product's second look (strict), and two alternatives to it
            flags = flags | stats.second_look(p_second, ratio_second, near, in_family, THRESHOLD)
        results[rule] = flags
        results[f"{rule}_resampled"] = near.sum(axis=-1)
    return results


def run(suites: int, seed: int, process_cv: float, chunk: int = 500) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    rows = []
    for extra in EXTRA_PROCESSES:
        for between in BETWEEN:
            for slowdown in SLOWDOWNS:
                totals = {rule: 0.0 for rule in RULES}
                resampled = 0.0
                done = 0
                while done < suites:
                    size = min(chunk, suites - done)
                    result = one_chunk(rng, size, between, slowdown, extra, process_cv)
                    for rule in RULES:
                        flags = result[rule]
                        rate = flags.any(axis=-1).mean() if slowdown == 0 else flags[..., 0].mean()
                        totals[rule] += float(rate) * size
                    resampled += float(result["strict_resampled"].sum())
                    done += size
                row = {"extra_processes": extra, "between_cv": between, "within_cv": WITHIN,
                       "process_cv": process_cv, "slowdown": slowdown,
                       **{rule: round(total / suites, 4) for rule, total in totals.items()},
                       "resampled_per_suite": round(resampled / suites, 3)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def markdown(rows: list[dict[str, float]], suites: int) -> str:
    names = {"shipped": "one look (as before)",
             "naive": "two looks, both at 0.05 (no correction)",
             "strict": "**0.05, then 0.01 on the pooled samples (shipped)**",
             "split": "0.04, then 0.01 (alpha split)",
             "credited": "0.05, then 0.01 with the jitter credited (rejected)"}
    lines = [f"{suites} simulated suites of {BENCHMARKS} benchmarks per cell, within-job CV {WITHIN:.0%}, "
             f"process CV {rows[0]['process_cv']:.0%}, gate {THRESHOLD:.0%}.", "",
             "| extra processes | between-job CV | rule | 0% (false alarm) | 5% | 10% | 20% "
             "| resampled / suite (A/A) |",
             "|---:|---:|---|---:|---:|---:|---:|---:|"]
    for extra in EXTRA_PROCESSES:
        for between in BETWEEN:
            cell = sorted((r for r in rows if r["extra_processes"] == extra and r["between_cv"] == between),
                          key=lambda r: r["slowdown"])
            for rule, label in names.items():
                values = " | ".join(f"{r[rule]:.3f}" for r in cell)
                cost = f"{cell[0]['resampled_per_suite']:.2f}" if rule == "strict" else ""
                lines.append(f"| {extra} | {between:.0%} | {label} | {values} | {cost} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--process-cv", type=float, default=0.0)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("adaptive.json"))
    args = parser.parse_args()
    begin = time.monotonic()
    rows = run(args.suites, args.seed, args.process_cv)
    elapsed = time.monotonic() - begin
    table = markdown(rows, args.suites)
    args.output.write_text(json.dumps({"suites_per_cell": args.suites, "seed": args.seed,
                                       "process_cv": args.process_cv, "seconds": round(elapsed, 1),
                                       "rows": rows, "markdown": table}, indent=2) + "\n", encoding="utf-8")
    print(table)
    print(f"{len(rows)} cells in {elapsed:.0f} s; written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
