"""Precision and recall of the flakiness classifier on simulated histories of 64 runs.

Re-run with one command (no Docker, no network, a few seconds):

    python benchmarks/flaky_classifier/simulate.py [--seeds 20] [--json results.json]

Each seed builds a history of 64 runs of 1,000 tests through the code a run uses
(``history_store.append_tests``, then ``flakiness.classify``). The tests, with known truth:

* 700 always pass; 40 always fail; 40 are fixed half-way (fail, then pass from a random run on);
  40 break half-way (pass, then fail); 20 break and are fixed twice (two failure episodes);
* 160 are flaky: each run fails independently with probability p, 20 tests for each p in
  0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8.

Runs: 20 % of them re-run the previous run's commit (a workflow re-run); the rest test a new
commit. Two settings: reruns on (a failed test is rerun alone up to twice, as the action's
default ``reruns: 2`` does; a flaky test passes each rerun with probability 1 - p, a broken one
never), and reruns off (only same-commit runs and flip rates can tell).

"flaky" is the evidence rule alone; "flaky or candidate" adds the flip-rate rule. Recall is
given over all flaky tests and over those that failed at least once in the 64 runs (a test
with p = 0.01 that never failed cannot be told from a good one by any classifier).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from doorbell_ci.analysis import flakiness, history_store  # noqa: E402
from doorbell_ci.results import Outcome, TestResult  # noqa: E402

RUNS = 64
FLAKY_PROBABILITIES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8)


def population(rng: random.Random) -> list[tuple[str, object]]:
    """(kind, parameter) per test; the parameter is p for flaky tests, switch runs for the others."""
    tests: list[tuple[str, object]] = [("pass", None)] * 700 + [("fail", None)] * 40
    tests += [("fixed", rng.randrange(8, RUNS - 8)) for _ in range(40)]
    tests += [("broken", rng.randrange(8, RUNS - 8)) for _ in range(40)]
    for _ in range(20):
        a, b, c, d = sorted(rng.sample(range(4, RUNS - 4), 4))
        tests.append(("episodes", (a, b, c, d)))
    tests += [("flaky", p) for p in FLAKY_PROBABILITIES for _ in range(20)]
    return tests


def broken_at(kind: str, parameter: object, run: int) -> bool:
    if kind == "fail":
        return True
    if kind == "fixed":
        return run < parameter  # type: ignore[operator]
    if kind == "broken":
        return run >= parameter  # type: ignore[operator]
    if kind == "episodes":
        a, b, c, d = parameter  # type: ignore[misc]
        return a <= run < b or c <= run < d
    return False


def simulate(seed: int, reruns: int) -> dict[str, object]:
    rng = random.Random(seed)
    tests = population(rng)
    history = history_store.History()
    commit = 0
    failed_once = [False] * len(tests)
    # a re-run of a commit runs the same code: the broken/fixed state follows the commit, not the run
    code_version = 0
    for run in range(RUNS):
        if run == 0 or rng.random() >= 0.2:
            commit += 1
            code_version += 1
        results = []
        for index, (kind, parameter) in enumerate(tests):
            if kind == "flaky":
                failed = rng.random() < parameter  # type: ignore[operator]
                flaky = failed and any(rng.random() >= parameter for _ in range(reruns))  # type: ignore[operator]
            else:
                failed, flaky = broken_at(kind, parameter, code_version - 1), False
            failed_once[index] |= failed
            outcome = Outcome.PASSED if flaky or not failed else Outcome.FAILED
            results.append(TestResult(suite="unit", name=f"test_{index}", classname="tests.test_sim",
                                      outcome=outcome, duration=0.01, flaky=flaky))
        facts = {"id": f"run-{run}", "commit": f"{commit:040x}", "branch": "main", "platform": "linux-x86_64",
                 "started_at": f"2026-01-01T00:{run:02d}:00+00:00", "duration": 1.0, "passed": 0, "failed": 0,
                 "skipped": 0, "errors": 0, "suites": {}, "benchmarks": {}}
        history_store.append_tests(history, facts, results, RUNS, 100_000)
    verdicts = flakiness.classify(history)
    truth = {f"unit::tests.test_sim::test_{i}" for i, (kind, _) in enumerate(tests) if kind == "flaky"}
    detectable = {f"unit::tests.test_sim::test_{i}" for i, (kind, _) in enumerate(tests)
                  if kind == "flaky" and failed_once[i]}
    by_p = {p: {f"unit::tests.test_sim::test_{i}" for i, (kind, q) in enumerate(tests) if kind == "flaky" and q == p}
            for p in FLAKY_PROBABILITIES}
    flaky = flakiness.flaky_keys(verdicts)
    either = set(verdicts)
    return {"truth": truth, "detectable": detectable, "by_p": by_p, "flaky": flaky, "either": either}


def scores(found: set[str], truth: set[str], detectable: set[str]) -> tuple[int, int, int, int]:
    return len(found & truth), len(found - truth), len(truth), len(found & detectable)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    began = time.perf_counter()
    figures: dict[str, dict[str, object]] = {}
    for reruns in (2, 0):
        outcomes = [simulate(seed, reruns) for seed in range(args.seeds)]
        for rule in ("flaky", "either"):
            tp = fp = total = tp_detectable = detectable = 0
            per_p = dict.fromkeys(FLAKY_PROBABILITIES, 0)
            for outcome in outcomes:
                found = outcome[rule]
                a, b, c, d = scores(found, outcome["truth"], outcome["detectable"])  # type: ignore[arg-type]
                tp, fp, total, tp_detectable = tp + a, fp + b, total + c, tp_detectable + d
                detectable += len(outcome["detectable"])  # type: ignore[arg-type]
                for p, keys in outcome["by_p"].items():  # type: ignore[attr-defined]
                    per_p[p] += len(found & keys)
            name = f"reruns={reruns}, rule={'flaky' if rule == 'flaky' else 'flaky or candidate'}"
            figures[name] = {
                "precision": round(tp / (tp + fp), 4) if tp + fp else None,
                "recall": round(tp / total, 4),
                "recall_of_tests_that_failed": round(tp_detectable / detectable, 4) if detectable else None,
                "false_positives": fp,
                "recall_by_p": {str(p): round(n / (20 * args.seeds), 3) for p, n in per_p.items()},
            }
    elapsed = time.perf_counter() - began
    print(f"{args.seeds} seeds x 1,000 tests x {RUNS} runs, {elapsed:.1f} s")
    for name, row in figures.items():
        print(f"{name}: precision {row['precision']}, recall {row['recall']} "
              f"({row['recall_of_tests_that_failed']} of those that failed), false positives {row['false_positives']}")
        print("  recall by p: " + ", ".join(f"{p}: {r}" for p, r in row["recall_by_p"].items()))  # type: ignore[union-attr]
    if args.json:
        args.json.write_text(json.dumps({"seeds": args.seeds, "runs": RUNS, "figures": figures}, indent=2) + "\n",
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
