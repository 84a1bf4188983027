"""Generated history.json files (format version 1, docs: /work/wt/prompts/history-format.md) for the dashboard.

Why a generator of our own: the dashboard's reader must be tested against the written contract,
not against whatever the history writer happens to produce today, and the benchmark needs a
100,000-test x 64-run history that looks like a real project's: most tests always pass, some are
flaky with a known flip probability, some always fail, some are fixed mid-way, a few are slow and
get slower, matrix legs (platforms) alternate, suites and benchmarks drift.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLATFORMS = ("linux-x86_64-py3.11", "linux-aarch64-py3.11", "windows-amd64-py3.12")
SUITES = ("unit", "integration", "e2e", "security")
BENCHMARKS = ("frame_decode", "motion_detect", "face_match", "storage_roundtrip", "event_fanout")


@dataclass
class Known:
    """What the generator put in, so tests can check what the dashboard shows."""

    flaky: list[str] = field(default_factory=list)  # flip probability > 0
    always_failing: list[str] = field(default_factory=list)
    fixed_midway: list[str] = field(default_factory=list)
    slow: list[str] = field(default_factory=list)  # the slowest on purpose, slowest first


def generate(tests: int = 200, runs: int = 64, platforms: tuple[str, ...] = PLATFORMS[:2], seed: int = 15,
             flaky_share: float = 0.01, names: list[str] | None = None) -> tuple[dict[str, Any], Known]:
    """A history document in the fixed format, and what is known about its tests.

    ``names`` replaces the generated test names (hostile-content tests put payloads there).
    """
    rng = random.Random(seed)
    known = Known()
    run_list = []
    for index in range(runs):
        platform = platforms[index % len(platforms)]
        commit = f"{rng.getrandbits(160):040x}"
        run_list.append({
            "id": f"202612{1 + index // 24:02d}T{index % 24:02d}1500Z-{commit[:6]}",
            "commit": commit, "branch": "main", "platform": platform,
            "started_at": f"2026-12-{1 + index // 24:02d}T{index % 24:02d}:15:00+00:00",
            "duration": 0.0, "passed": 0, "failed": 0, "skipped": 0, "errors": 0,
            "suites": {}, "benchmarks": {},
        })
    keys = names or [f"{SUITES[n % len(SUITES)]}::tests.{SUITES[n % len(SUITES)]}.test_mod{n // 50}::"
                     f"test_case_{n}[param-{n % 7}]" for n in range(tests)]
    tests_out: dict[str, dict[str, Any]] = {}
    suite_time = [[0.0] * len(SUITES) for _ in range(runs)]
    flaky_every = max(1, round(1 / flaky_share)) if flaky_share else 0
    for number, key in enumerate(keys):
        base = rng.lognormvariate(-4.5, 1.0)
        kind = "stable"
        if number < 10:
            kind, base = "slow", 30.0 - number * 2.0
            known.slow.append(key)
        elif flaky_every and number % flaky_every == 3:
            kind = "flaky"
            known.flaky.append(key)
        elif flaky_every and number % (flaky_every * 3) == 7:
            kind = "always failing"
            known.always_failing.append(key)
        elif flaky_every and number % (flaky_every * 3) == 11:
            kind = "fixed"
            known.fixed_midway.append(key)
        flip = 0.1 + (number % 5) * 0.08 if kind == "flaky" else 0.0
        outcomes, durations = [], []
        for index in range(runs):
            if number % 97 == 5 and index < runs // 4:  # added later: absent in the first runs
                outcomes.append(".")
                durations.append(None)
                continue
            if kind == "always failing":
                outcome = "F"
            elif kind == "fixed":
                outcome = "F" if index < runs // 2 else "P"
            elif kind == "flaky" and rng.random() < flip:
                outcome = "R" if rng.random() < 0.5 else rng.choice("FE")
            elif kind == "stable" and number % 61 == 9:
                outcome = "S"
            else:
                outcome = "P"
            drift = 1.0 + (index / runs) * (0.5 if kind == "slow" else 0.02)
            duration = 0.0 if outcome == "S" else round(base * drift * rng.uniform(0.9, 1.1), 6)
            outcomes.append(outcome)
            durations.append(duration)
            run = run_list[index]
            run[{"P": "passed", "R": "passed", "F": "failed", "E": "errors", "S": "skipped"}[outcome]] += 1
            suite_time[index][number % len(SUITES)] += duration
        tests_out[key] = {"o": "".join(outcomes), "d": durations}
    for index, run in enumerate(run_list):
        slower = 1.0 + 0.15 * (run["platform"] != platforms[0])
        run["suites"] = {suite: round(seconds * slower + 0.8, 3)
                         for suite, seconds in zip(SUITES, suite_time[index], strict=True)}
        run["duration"] = round(sum(run["suites"].values()) + 2.0, 3)
        regressed = 1.3 if index > runs // 2 else 1.0  # motion_detect got 30 % slower half-way
        run["benchmarks"] = {name: {"value": round(0.001 * (n + 1) * slower * (regressed if n == 1 else 1.0)
                                                   * rng.uniform(0.97, 1.03), 9), "unit": "s"}
                             for n, name in enumerate(BENCHMARKS)}
        run["benchmarks"]["decoder_instructions"] = {"value": 1_200_000 + index * 100, "unit": "instructions"}
    return {"schema": "doorbell-ci.history", "version": 1, "runs": run_list, "tests": tests_out}, known


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
    return path
