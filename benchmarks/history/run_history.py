"""What history.json costs a run at 100,000 tests with a full window of 64 runs.

Re-run with one command (no Docker, no network, well under a minute):

    python benchmarks/history/run_history.py [--tests 100000] [--runs 64]

It builds a previous history of RUNS - 1 runs (tests passing, a few failing, ~1 % flaky, durations
of a few milliseconds), writes it, then times each step a run takes (``analysis.track``):
reading the previous file, appending this run (then dropping the oldest column), classifying
flakiness before and after, matching a 10-entry quarantine list, and writing history.json.
Figures go to stdout; quote them with the machine's load (``uptime``).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from doorbell_ci.analysis import flakiness, history_store, quarantine  # noqa: E402
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult  # noqa: E402


def make_run(tests: int, index: int, rng: random.Random) -> RunResult:
    results = []
    for number in range(tests):
        failing = number % 1000 == 0 or (number % 100 == 1 and rng.random() < 0.2)
        results.append(TestResult(suite="unit", name=f"test_{number}", classname=f"tests.unit.test_m{number // 50}",
                                  file=f"tests/unit/test_m{number // 50}.py",
                                  outcome=Outcome.FAILED if failing else Outcome.PASSED,
                                  duration=round(rng.lognormvariate(-5, 1), 6)))
    suite = SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=results, duration=60.0)
    stamp = f"2026-12-{1 + index // 24:02d}T{index % 24:02d}:00:00+00:00"
    return RunResult(run_id=f"run-{index}", project="/p", started_at=stamp, finished_at=stamp, duration=61.0,
                     suites=[suite])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=64)
    args = parser.parse_args()
    rng = random.Random(1)
    environ = {"GITHUB_SHA": "c" * 40, "GITHUB_REF_NAME": "main"}
    template = make_run(args.tests, 0, rng)
    history = history_store.History()
    for index in range(args.runs - 1):  # the same tests each run, outcomes redrawn for the flaky ones
        for test in template.suites[0].tests:
            if test.name.endswith("1") and int(test.name[5:]) % 100 == 1:
                test.outcome = Outcome.FAILED if rng.random() < 0.2 else Outcome.PASSED
        template.run_id, template.started_at = f"run-{index}", f"2026-11-01T00:{index % 60:02d}:00+00:00"
        history_store.append(history, template, "linux-x86-64", args.runs, 1_000_000, environ)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        history_store.write(history, folder)
        size = os.path.getsize(folder / history_store.FILENAME)
        current = make_run(args.tests, args.runs, rng)
        entries = [quarantine.Entry(f"unit::tests/unit/test_m{n}.py::test_*", "@o", "r", date(2099, 1, 1))
                   for n in range(10)]
        timings = {}
        began = time.perf_counter()
        previous = history_store.read(folder)
        timings["read previous"] = time.perf_counter() - began
        began = time.perf_counter()
        before = flakiness.classify(previous)
        timings["classify previous"] = time.perf_counter() - began
        began = time.perf_counter()
        updated = history_store.append(previous, current, "linux-x86-64", args.runs, 1_000_000, environ)
        timings["append this run"] = time.perf_counter() - began
        began = time.perf_counter()
        verdicts = flakiness.classify(updated)
        timings["classify"] = time.perf_counter() - began
        began = time.perf_counter()
        quarantine.apply(current, entries, updated, "linux-x86-64", clean_needed=10, today=date(2026, 12, 2))
        timings["quarantine (10 entries)"] = time.perf_counter() - began
        began = time.perf_counter()
        history_store.write(updated, folder)
        timings["write history.json"] = time.perf_counter() - began
    print(f"{args.tests:,} tests x {args.runs} runs: history.json {size / 1e6:.1f} MB; "
          f"{len(before)} flaky/candidates before, {len(verdicts)} after")
    for name, seconds in timings.items():
        print(f"  {name:<24} {seconds:6.2f} s")
    print(f"  {'total':<24} {sum(timings.values()):6.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
