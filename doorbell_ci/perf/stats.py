"""The decision: is a benchmark slower, and can we say so without crying wolf?

Every function here is pure and works on numpy arrays whose *last* axis is the sample (or the
benchmark, for suite-wide steps), so the same code decides one real run and two million
simulated ones in ``benchmarks/detection``. The method follows section 5 of the research note
(docs/PERFORMANCE_REGRESSION.md explains it to users):

- paired mode: exact one-sided Mann-Whitney U of head samples against base samples measured in
  the same job (runner-to-runner noise cancels);
- history mode: one median per job, a one-sided t prediction interval on log values over the
  last K jobs, after dividing out the suite-wide speed shift of each job;
- both: Holm across the suite at 0.05, a minimum effect, and a confirmation re-measurement
  of flagged benchmarks before anything fails.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as scipy_stats

from doorbell_ci.perf.baselines import MAX_HISTORY  # noqa: F401 - jobs of history mode, kept in a baseline

FAMILY_ALPHA = 0.05  # Holm family-wise error rate across one suite
POSSIBLE_ALPHA = 0.01  # uncorrected level for "possible regression" (comment only)
CONFIRM_ALPHA = 0.01  # the confirmation re-measurement must flag again at this level
NOISY_CV = 0.10  # a benchmark whose spread is shown to exceed this is noisy: it gates only beyond noise_bar
NOISY_GATE_SPREADS = 3.0  # a noisy benchmark is judged when slower by the minimum effect plus this many spreads
MIN_SAMPLE_SECONDS = 0.001  # samples shorter than this are timer noise
MIN_GATING_SAMPLES = 10  # per side, paired mode
MIN_PROCESSES = 3  # per side, for the process-level test of timings (paired mode runs 4)
EXACT_LIMIT = 200  # samples per side up to which Mann-Whitney U is exact
MIN_GATING_HISTORY = 5  # jobs, history mode
SUITE_NORMALISE_MIN = 10  # benchmarks needed before the suite-wide shift is divided out
MEMORY_MIN_RATIO = 1.05
MEMORY_MIN_BYTES = 1024 * 1024
INSTRUCTION_THRESHOLD = 0.01  # default minimum effect for instruction counts (time: 5% hosted, 3% self-hosted)
UNSTABLE_CV = 0.0025  # an instruction count that varies more than this (a quarter of the 1% gate) is not gated
INSTRUCTION_NOISE_FLOOR = 0.0005  # relative sd per process assumed at least (measured: 0.005-0.05%)
WAITING_SHARE = 0.5  # CPU/wall below half of the run's most CPU-bound benchmark: it waits (sleep, I/O, locks)
# History mode's adaptive second look (compare._adaptive): the first look keeps its 0.05, the second look
# on the pooled samples is held to 0.01, so the two together cannot exceed 0.06 (union bound).
ADAPTIVE_ALPHA = 0.01
NEAR_P = 0.05  # uncorrected p below this and half the minimum effect: "close to the line", worth more samples
_MAD_TO_SIGMA = 1.4826
_MAD_RELATIVE_SE = 1.166  # standard error of a MAD-based sigma, relative, times sqrt(n)


class Verdict(StrEnum):
    REGRESSION = "regression"
    POSSIBLE_REGRESSION = "possible regression"
    IMPROVEMENT = "improvement"
    UNCHANGED = "unchanged"
    NOISY = "noisy"
    NO_BASELINE = "no baseline"


# Integer codes of the verdicts, so a whole simulated suite can be classified in one array.
CODES: tuple[Verdict, ...] = tuple(Verdict)
REGRESSION, POSSIBLE, IMPROVEMENT, UNCHANGED, NOISY, NO_BASELINE = range(len(CODES))


def mann_whitney_greater(head: ArrayLike, base: ArrayLike) -> NDArray[np.float64]:
    """One-sided exact Mann-Whitney U p-value that ``head`` samples are larger (slower) than ``base``.

    Exact rather than the normal approximation: at n = 20 per side the approximation is off in
    exactly the tail a Holm-corrected gate looks at.
    """
    return np.asarray(scipy_stats.mannwhitneyu(head, base, alternative="greater", method=_method(head, base),
                                               axis=-1).pvalue)


def mann_whitney_less(head: ArrayLike, base: ArrayLike) -> NDArray[np.float64]:
    """The mirror test, for improvements (reported, never gating)."""
    return np.asarray(scipy_stats.mannwhitneyu(head, base, alternative="less", method=_method(head, base),
                                               axis=-1).pvalue)


def _method(head: ArrayLike, base: ArrayLike) -> str:
    """Exact up to a few hundred samples a side (ingested pytest-benchmark runs can hold thousands)."""
    return "exact" if max(np.shape(head)[-1], np.shape(base)[-1]) <= EXACT_LIMIT else "asymptotic"


def process_test(base_processes: ArrayLike, head_processes: ArrayLike) -> tuple[float, float]:
    """(p slower, p faster) with the *process* as the unit: Welch's t-test on the logs of process medians.

    Samples inside one process share its hash seed, memory layout and the machine's state during
    those seconds; testing them as independent (Mann-Whitney on the pooled samples) overstated the
    evidence, and under load once confirmed a "regression" of an unchanged benchmark. A process
    median carries both levels of variation (between processes, and within one, divided by the
    samples), so a test on process medians models both. Needs ``MIN_PROCESSES`` a side: with two, the
    test has about one degree of freedom and a 2x slowdown measured on this machine did not reach
    p < 0.01; callers then fall back to the samples (and say so).
    """
    base = np.log(np.asarray(base_processes, dtype=float))
    head = np.log(np.asarray(head_processes, dtype=float))
    if base.size < MIN_PROCESSES or head.size < MIN_PROCESSES:
        return float("nan"), float("nan")
    result = scipy_stats.ttest_ind(head, base, equal_var=False)
    t_value, freedom = float(result.statistic), float(result.df)
    if not np.isfinite(t_value):  # identical processes on both sides
        t_value = 0.0 if head.mean() == base.mean() else np.sign(head.mean() - base.mean()) * np.inf
    return float(scipy_stats.t.sf(t_value, freedom)), float(scipy_stats.t.cdf(t_value, freedom))


def median_ratio(head: ArrayLike, base: ArrayLike) -> NDArray[np.float64]:
    """Ratio of medians: the effect size every verdict is stated in (1.10 = 10% slower)."""
    return np.asarray(np.median(head, axis=-1) / np.median(base, axis=-1))


def bootstrap_ratio_interval(head: ArrayLike, base: ArrayLike, resamples: int = 2000,
                             seed: int = 20260101, level: float = 0.95) -> tuple[float, float]:
    """Seeded percentile bootstrap interval of the ratio of medians (for display, never for gating)."""
    head_values = np.asarray(head, dtype=float)
    base_values = np.asarray(base, dtype=float)
    rng = np.random.default_rng(seed)
    head_medians = np.median(rng.choice(head_values, size=(resamples, head_values.size)), axis=1)
    base_medians = np.median(rng.choice(base_values, size=(resamples, base_values.size)), axis=1)
    ratios = head_medians / base_medians
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


def robust_cv(samples: ArrayLike) -> NDArray[np.float64]:
    """Spread relative to the median, from the median absolute deviation (one outlier cannot inflate it)."""
    values = np.asarray(samples, dtype=float)
    median = np.median(values, axis=-1, keepdims=True)
    mad = np.median(np.abs(values - median), axis=-1)
    return np.asarray(_MAD_TO_SIGMA * mad / np.squeeze(median, axis=-1))


def is_noisy(samples: ArrayLike, max_cv: float = NOISY_CV, loops: ArrayLike = 1) -> NDArray[np.bool_]:
    """True where the spread is *shown* to exceed ``max_cv``, or where samples are under 1 ms.

    "Shown" means the robust CV is above ``max_cv`` by more than its own sampling error (one-sided
    99%), so a benchmark whose true CV is 10% is not thrown out half the time because 20 samples
    happened to estimate 10.5%. ``samples`` are seconds per call; ``loops`` calls make one sample.
    """
    values = np.asarray(samples, dtype=float)
    count = values.shape[-1]
    margin = 1 + 2.326 * _MAD_RELATIVE_SE / np.sqrt(count)
    return np.asarray((robust_cv(values) > max_cv * margin) | too_short(values, loops))


def is_noisy_pair(base: ArrayLike, head: ArrayLike, max_cv: float = NOISY_CV,
                  loops: ArrayLike = 1) -> NDArray[np.bool_]:
    """Noisy test for paired mode: both sides' samples, each relative to its own median, judged together.

    Pooling doubles the samples the spread is estimated from (a slowdown shifts the median, not the spread).
    """
    return np.asarray(is_noisy(_relative_pair(base, head), max_cv) | too_short(base, loops) | too_short(head, loops))


def pair_spread(base: ArrayLike, head: ArrayLike) -> NDArray[np.float64]:
    """Paired mode's spread: the robust CV of both sides' samples, each relative to its own median."""
    return robust_cv(_relative_pair(base, head))


def _relative_pair(base: ArrayLike, head: ArrayLike) -> NDArray[np.float64]:
    """Both sides' samples, each divided by its own side's median, side by side on the last axis."""
    base_values = np.asarray(base, dtype=float)
    head_values = np.asarray(head, dtype=float)
    return np.concatenate([base_values / np.median(base_values, axis=-1, keepdims=True),
                           head_values / np.median(head_values, axis=-1, keepdims=True)], axis=-1)


def too_short(samples: ArrayLike, loops: ArrayLike = 1) -> NDArray[np.bool_]:
    """A whole sample under ``MIN_SAMPLE_SECONDS``: timer noise, never judged whatever the ratio."""
    return np.asarray(np.min(np.asarray(samples, dtype=float), axis=-1) * np.asarray(loops) < MIN_SAMPLE_SECONDS)


def noise_bar(spread: ArrayLike, threshold: float, spreads: float = NOISY_GATE_SPREADS) -> NDArray[np.float64]:
    """The ratio a noisy benchmark must reach to be judged: ``1 + threshold + spreads * spread``.

    A spread over 10% (contention: one process of a side 1.5x slower than its twin) can move a ratio of
    medians by about its own size, so small effects on such a benchmark stay ``noisy``; a slowdown several
    spreads beyond the minimum effect is not something the spread explains (a 3x slower head measured at
    2.5x with a 30% spread). benchmarks/detection/contention.py has the simulation behind ``spreads``.
    """
    return np.asarray(1 + threshold + spreads * np.asarray(spread, dtype=float))


def beyond_noise(ratio: ArrayLike, spread: ArrayLike, threshold: float,
                 spreads: float = NOISY_GATE_SPREADS) -> NDArray[np.bool_]:
    """Where a ratio is past :func:`noise_bar` either way (slower, or faster by the mirror image)."""
    bar = noise_bar(spread, threshold, spreads)
    ratio = np.asarray(ratio, dtype=float)
    return np.asarray((ratio >= bar) | (ratio <= 1 / bar))


def kept_out(noisy: ArrayLike, short: ArrayLike, ratio: ArrayLike, spread: ArrayLike, threshold: float,
             spreads: float = NOISY_GATE_SPREADS) -> NDArray[np.bool_]:
    """The noisy benchmarks that stay out of the gate: all of them but those (not too short) beyond the noise bar."""
    judged = ~np.asarray(short, dtype=bool) & beyond_noise(ratio, spread, threshold, spreads)
    return np.asarray(np.asarray(noisy, dtype=bool) & ~judged)


def holm(pvalues: ArrayLike) -> NDArray[np.float64]:
    """Holm-adjusted p-values along the last axis (one suite); NaN marks benchmarks outside the family."""
    p = np.asarray(pvalues, dtype=float)
    family = np.sum(~np.isnan(p), axis=-1, keepdims=True)
    order = np.argsort(np.where(np.isnan(p), np.inf, p), axis=-1)
    sorted_p = np.take_along_axis(p, order, axis=-1)
    rank = np.arange(p.shape[-1])
    scaled = np.where(np.isnan(sorted_p), np.nan, (family - rank) * sorted_p)
    adjusted_sorted = np.minimum(np.fmax.accumulate(np.nan_to_num(scaled, nan=-np.inf), axis=-1), 1.0)
    adjusted_sorted = np.where(np.isnan(sorted_p), np.nan, adjusted_sorted)
    adjusted = np.empty_like(adjusted_sorted)
    np.put_along_axis(adjusted, order, adjusted_sorted, axis=-1)
    return adjusted


def suite_shift(log_ratios: ArrayLike) -> NDArray[np.float64]:
    """The whole job's speed shift: the median over benchmarks of log(current / reference)."""
    return np.asarray(np.nanmedian(np.asarray(log_ratios, dtype=float), axis=-1))


def history_test(history_logs: ArrayLike, current_logs: ArrayLike,
                 normalise: bool | None = None, floor: float = 0.0) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                                         NDArray[np.float64], NDArray[np.float64]]:
    """History mode for one suite: p-values, ratios, 95% prediction bounds of the ratio, suite shift.

    ``history_logs`` is (..., K jobs, B benchmarks) of log job medians (NaN where a job lacked the
    benchmark); ``current_logs`` is (..., B). Each job's suite-wide shift (median over benchmarks of
    its distance from the benchmark's mean) is subtracted when the suite has at least
    ``SUITE_NORMALISE_MIN`` benchmarks, then the one-sided prediction-interval p-value
    ``1 - T_{K-1}((x - mean) / (sd * sqrt(1 + 1/K)))`` is computed per benchmark.
    Returns (p slower, p faster, ratio, (low, high) stacked on the last axis, shift).
    """
    history = np.asarray(history_logs, dtype=float)
    current = np.asarray(current_logs, dtype=float)
    benchmarks = current.shape[-1]
    normalise = benchmarks >= SUITE_NORMALISE_MIN if normalise is None else normalise
    centre = np.nanmean(history, axis=-2)
    shift = suite_shift(current - centre)
    if normalise:
        job_shifts = np.nanmedian(history - centre[..., None, :], axis=-1)
        history = history - job_shifts[..., None]
        current = current - shift[..., None]
        centre = np.nanmean(history, axis=-2)
    jobs = np.sum(~np.isnan(history), axis=-2).astype(float)
    spread = np.maximum(np.nanstd(history, axis=-2, ddof=1), floor) * np.sqrt(1 + 1 / jobs)
    distance = current - centre
    with np.errstate(divide="ignore", invalid="ignore"):
        t_value = np.where(spread > 0, distance / spread, np.sign(distance) * np.inf)
    p_slower = scipy_stats.t.sf(t_value, jobs - 1)
    p_faster = scipy_stats.t.cdf(t_value, jobs - 1)
    half_width = scipy_stats.t.ppf(0.975, jobs - 1) * spread
    bounds = np.stack([np.exp(distance - half_width), np.exp(distance + half_width)], axis=-1)
    return np.asarray(p_slower), np.asarray(p_faster), np.exp(distance), bounds, shift


def classify(p_slower: ArrayLike, p_faster: ArrayLike, ratio: ArrayLike, noisy: ArrayLike,
             gateable: ArrayLike, threshold: float, family_alpha: float = FAMILY_ALPHA) -> NDArray[np.int_]:
    """Verdict codes for one suite (last axis = benchmarks), before confirmation.

    Holm runs over the gated benchmarks only (not noisy, enough samples or history). A Holm-significant
    slowdown of at least ``threshold`` is a regression candidate; significant only without the
    correction (p < 0.01) it is a possible regression; the mirror image is an improvement.
    """
    p_slower = np.asarray(p_slower, dtype=float)
    p_faster = np.asarray(p_faster, dtype=float)
    ratio = np.asarray(ratio, dtype=float)
    noisy = np.asarray(noisy, dtype=bool)
    gateable = np.asarray(gateable, dtype=bool)
    has_baseline = ~np.isnan(ratio)
    in_family = has_baseline & ~noisy & gateable
    slower_holm = holm(np.where(in_family, p_slower, np.nan))
    faster_holm = holm(np.where(in_family, p_faster, np.nan))
    big_slowdown = ratio >= 1 + threshold
    big_speedup = ratio <= 1 / (1 + threshold)
    codes = np.full(ratio.shape, UNCHANGED)
    possible = has_baseline & ~noisy & big_slowdown & (p_slower < POSSIBLE_ALPHA)
    codes = np.where(possible, POSSIBLE, codes)
    codes = np.where(in_family & big_slowdown & (slower_holm < family_alpha), REGRESSION, codes)
    codes = np.where(in_family & big_speedup & (faster_holm < FAMILY_ALPHA), IMPROVEMENT, codes)
    codes = np.where(noisy & has_baseline, NOISY, codes)
    codes = np.where(~has_baseline, NO_BASELINE, codes)
    return codes


def near_the_line(codes: ArrayLike, p_slower: ArrayLike, ratio: ArrayLike, upper: ArrayLike, noisy: ArrayLike,
                  gateable: ArrayLike, threshold: float) -> NDArray[np.bool_]:
    """Benchmarks the first look could not decide but more samples might: slower by at least half the
    minimum effect, suggestive (uncorrected p < ``NEAR_P``), with the upper 95% bound of the ratio
    (``upper``) at or above the minimum effect, not a candidate already, not noisy, gated.

    A benchmark far below the line gains nothing from more samples, nor does one shown to be slower
    by less than the minimum effect (its upper bound is under it); one already flagged is confirmed
    the usual way; a noisy one is not gated at all, however many samples it gets.
    """
    codes = np.asarray(codes)
    return np.asarray((codes != REGRESSION) & (codes != NO_BASELINE) & ~np.asarray(noisy, dtype=bool)
                      & np.asarray(gateable, dtype=bool) & (np.asarray(ratio) >= 1 + threshold / 2)
                      & (np.asarray(upper) >= 1 + threshold) & (np.asarray(p_slower) < NEAR_P))


def second_look(p_second: ArrayLike, ratio_second: ArrayLike, resampled: ArrayLike,
                in_family: ArrayLike, threshold: float) -> NDArray[np.bool_]:
    """Which resampled benchmarks are regressions at the second look, on the pooled samples.

    ``p_second`` is the first look's own test (:func:`history_test`) on the pooled median: the pooled
    median varies less than the earlier jobs' medians it is compared with, so that p-value is valid
    (conservative). Holm at ``ADAPTIVE_ALPHA`` runs over the *whole* gated family, the benchmarks not
    resampled entering with p = 1: which benchmarks were resampled depends on the data, and a family
    made only of them would be chosen after looking; p = 1 is a valid p-value, so Holm's guarantee
    holds. The first look at ``FAMILY_ALPHA`` and this one at ``ADAPTIVE_ALPHA`` together stay within
    their sum (union bound), whatever the correlation between the looks.
    """
    resampled = np.asarray(resampled, dtype=bool)
    in_family = np.asarray(in_family, dtype=bool)
    second = np.where(in_family, np.where(resampled, np.asarray(p_second, dtype=float), 1.0), np.nan)
    adjusted = holm(second)
    return np.asarray(resampled & in_family & (adjusted < ADAPTIVE_ALPHA)
                      & (np.asarray(ratio_second) >= 1 + threshold))


def confirmed(p_slower_again: ArrayLike, ratio_again: ArrayLike, threshold: float) -> NDArray[np.bool_]:
    """Whether the re-measurement of a regression candidate flags again (p < 0.01 and the same minimum effect)."""
    return np.asarray((np.asarray(p_slower_again) < CONFIRM_ALPHA) & (np.asarray(ratio_again) >= 1 + threshold))


def memory_regressed(base_bytes: float, head_bytes: float) -> bool:
    """Peak memory gate: at least 5% *and* at least 1 MiB more (page and arena granularity are not regressions)."""
    if base_bytes <= 0:
        return False
    return head_bytes >= base_bytes * MEMORY_MIN_RATIO and head_bytes - base_bytes >= MEMORY_MIN_BYTES


def reference_rule(head_mean: ArrayLike, stored_mean: ArrayLike, threshold: float = 0.15) -> NDArray[np.bool_]:
    """The design this replaces (mean of 5 over a stored mean, > 15%); kept for the side-by-side simulation."""
    return np.asarray(np.asarray(head_mean) / np.asarray(stored_mean) > 1 + threshold)


# --- instruction counts -------------------------------------------------------------------------


def instruction_test(base_processes: ArrayLike, head_processes: ArrayLike,
                     floor: float = INSTRUCTION_NOISE_FLOOR) -> tuple[float, float, float]:
    """(p slower, p faster, ratio) of instruction counts with the *process* as the unit.

    Each process gives one figure (the median of its per-call figures): the samples inside one
    process share its hash seed, address layout and allocator state, so they are not independent
    and pooling them would overstate the evidence. A two-sample t-test on the logs of the process
    figures, with the per-process spread never taken below ``floor`` (two processes that happen to
    agree to the instruction must not make a 0.01% difference "significant"); the minimum effect
    in :func:`classify` then keeps a significant but tiny change from gating.
    """
    base = np.log(np.asarray(base_processes, dtype=float))
    head = np.log(np.asarray(head_processes, dtype=float))
    ratio = float(np.exp(np.median(head) - np.median(base)))
    count_b, count_h = base.size, head.size
    if count_b + count_h > 2:
        pooled = (np.sum((base - base.mean()) ** 2) + np.sum((head - head.mean()) ** 2)) / (count_b + count_h - 2)
        spread = max(float(np.sqrt(pooled)), floor)
    else:
        spread = floor
    freedom = max(1, count_b + count_h - 2)
    t_value = (head.mean() - base.mean()) / (spread * np.sqrt(1 / count_b + 1 / count_h))
    return float(scipy_stats.t.sf(t_value, freedom)), float(scipy_stats.t.cdf(t_value, freedom)), ratio


def instruction_instability(within: ArrayLike, processes: ArrayLike, cpu_share: float | None = None,
                            best_cpu_share: float | None = None, limit: float = UNSTABLE_CV) -> str | None:
    """Why an instruction count must not be gated (None when it is stable).

    ``within``: the per-call figures of one process; ``processes``: one figure per process (either
    side of a pair divided by its own median). Counts that move between identical calls come from
    code that reads the clock, polls, or races threads; a benchmark that mostly waits (its CPU share
    of the wall time is under half that of the run's most CPU-bound one) spends its time where no
    instruction is counted: wall time is its metric.
    """
    within_values = np.asarray(within, dtype=float)
    if within_values.size > 2:
        cv = float(robust_cv(within_values))
        if cv > limit:
            return (f"instruction count not stable: varies {100 * cv:.2f}% between identical calls "
                    "(reads the clock, polls or races threads?); gate it on wall time")
    between = np.asarray(processes, dtype=float)
    if between.size > 1:
        spread = float(np.std(between / np.median(between), ddof=1))
        if spread > limit:
            return (f"instruction count not stable: varies {100 * spread:.2f}% between processes; "
                    "gate it on wall time")
    if cpu_share is not None and best_cpu_share and cpu_share < WAITING_SHARE * best_cpu_share:
        return (f"mostly waiting (CPU {100 * cpu_share:.0f}% of wall time, against {100 * best_cpu_share:.0f}% "
                "for the most CPU-bound benchmark): instructions do not see sleeps or I/O; gate it on wall time")
    return None
