"""Sharding balance: slowest shard / mean shard time, duration-based against count-based splitting.

Re-run with one command (no Docker, no network, ~1 s):

    python benchmarks/sharding/run_sharding.py

Suites: 500 tests with log-normal durations (median 0.2 s, sigma 1.2: most tests are quick, a
few take many seconds), drawn with 20 seeds. Each split is done by ``doorbell_ci.sharding.split``,
the code ``doorbell-ci run --shard K/N`` uses. Two cases:

* exact: the recorded durations are the durations of the run being split;
* noisy: the run's durations differ from the recorded ones by a log-normal factor (sigma 0.3),
  as they do from one CI run to the next.

The figure is max(shard time) / mean(shard time); 1.00 is a perfect split. Target: <= 1.10 for
duration-based splitting at N = 4. The ratios do not depend on the machine; the time per split
is printed too, for 500 and 50,000 tests.
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from doorbell_ci.sharding import split  # noqa: E402

TESTS = 500
SEEDS = 20
SHARD_COUNTS = (2, 4, 8)
MEDIAN_SECONDS, SIGMA, NOISE_SIGMA = 0.2, 1.2, 0.3
TARGET_AT_4 = 1.10


def suite(seed: int, tests: int = TESTS) -> dict[str, float]:
    rng = random.Random(seed)
    median = math.log(MEDIAN_SECONDS)
    return {f"unit::tests/unit/test_m{i // 25:02d}.py::test_{i:04d}": rng.lognormvariate(median, SIGMA)
            for i in range(tests)}


def ratio(buckets: list[list[str]], actual: dict[str, float]) -> float:
    totals = [sum(actual[key] for key in bucket) for bucket in buckets]
    return max(totals) / statistics.mean(totals)


def main() -> int:
    rows = []
    for shards in SHARD_COUNTS:
        figures: dict[str, list[float]] = {"count": [], "exact": [], "noisy": []}
        for seed in range(SEEDS):
            recorded = suite(seed)
            keys = sorted(recorded)
            noise = random.Random(1000 + seed)
            actual = {key: value * noise.lognormvariate(0.0, NOISE_SIGMA) for key, value in recorded.items()}
            _, by_count = split(keys, shards, {})
            policy, by_duration = split(keys, shards, recorded)
            assert policy == "durations"
            for buckets in (by_count, by_duration):  # every test in exactly one shard
                assert sorted(key for bucket in buckets for key in bucket) == keys
            figures["count"].append(ratio(by_count, actual))
            figures["exact"].append(ratio(by_duration, recorded))
            figures["noisy"].append(ratio(by_duration, actual))
        rows.append((shards, figures))
    print(f"{TESTS} tests, log-normal durations (median {MEDIAN_SECONDS} s, sigma {SIGMA}), {SEEDS} seeds; "
          "slowest shard / mean shard (mean and worst over seeds)\n")
    print("| N | by count | by durations (exact) | by durations (noisy, sigma 0.3) |")
    print("|---:|---:|---:|---:|")
    for shards, figures in rows:
        cells = [f"{statistics.mean(v):.3f} (worst {max(v):.3f})" for v in figures.values()]
        print(f"| {shards} | " + " | ".join(cells) + " |")
    for tests in (500, 50_000):
        recorded = suite(0, tests)
        keys = sorted(recorded)
        begin = time.perf_counter()
        split(keys, 8, recorded)
        print(f"\nsplit of {tests} tests into 8 shards: {(time.perf_counter() - begin) * 1000:.1f} ms", end="")
    print()
    worst_at_4 = max(dict(rows)[4]["exact"])
    verdict = "met" if worst_at_4 <= TARGET_AT_4 else "MISSED"
    print(f"\ntarget at N=4 (duration-based, exact): <= {TARGET_AT_4}; worst over seeds {worst_at_4:.3f}: {verdict}")
    return 0 if worst_at_4 <= TARGET_AT_4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
