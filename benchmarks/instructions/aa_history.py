"""A/A of ``--perf-metric instructions`` in history mode: independent comparisons, each from a fresh process.

    nice -n 19 python benchmarks/instructions/aa_history.py --comparisons 100
    python benchmarks/instructions/aa_history.py --analyse-only --also benchmarks/instructions/aa_history_1.json

Runs ``comparisons + K`` fresh processes one after another, each counting two small benchmarks
(``sum(range(2000))``, the one whose count the heap layout moved by 2.1%, and sorting 300 strings)
under callgrind with the perf fixture's own code (``instructions.count``, arenas aligned first as in
the counted pytest process), with a CPU hog (a busy Python loop) beside every process. Each process
also allocates a ballast of a different size before counting (0-120,000 live ints and strings, by
its index): a different heap layout per process, as a different checkout or an edit of unrelated
code gives, which before the arenas were aligned moved ``sum(range(2000))`` by 2.1%.

Comparison i is history mode's rule on the code the compare stage runs (``compare._history_test``
with counts, ``stats.classify`` with Holm over the suite, 1% gate, K = 5): process i + K against the
K processes before it, the sliding window a default branch's history is. Every current process is
fresh and used once; the histories overlap as they do in CI. A flagged benchmark is counted as a
false alarm before the confirmation re-measurement (which would only remove alarms).

``--also`` counts another series (an earlier run of this script: ``aa_history_1.json``, 36 processes
stopped early) with this one: comparisons stay inside each series, so no process is the head of two.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).with_name("aa_history.json")
K = 5


def child(index: int) -> dict[str, Any]:
    from doorbell_ci.perf import arenas

    assert arenas.align() is None  # first, as python -m doorbell_ci.perf.arenas does in the counted pytest
    from doorbell_ci.perf import instructions

    ballast_size = (index * 37_813) % 120_000  # a different heap layout in every process
    ballast = [i for i in range(10**6, 10**6 + ballast_size)] + [str(i) * 3 for i in range(ballast_size // 3)]

    chosen = {
        "sum_range": (sum, (range(2000),)),
        "sorted_strings": (lambda n: sorted(str(i) for i in range(n)), (300,)),
    }
    out = {}
    for name, (func, args) in chosen.items():
        _, figures = instructions.count(func, args, {})
        out[name] = {"median": statistics.median(figures), "figures": figures}
    del ballast
    return out


def run_process(index: int) -> tuple[dict[str, Any], float]:
    from doorbell_ci.perf import valgrind

    folder = tempfile.mkdtemp(prefix="instr-aa-")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "DOORBELL_CI_PERF_INSTRUCTIONS_CHILD": folder, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
    argv = [*valgrind.callgrind_argv(f"{folder}/cg.%p"), sys.executable, __file__, "--child", str(index)]
    before = os.times()
    completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    after = os.times()
    os.rmdir(folder) if not os.listdir(folder) else None
    if completed.returncode != 0:
        raise SystemExit(f"process {index} failed: {completed.stderr[-2000:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return json.loads(completed.stdout.strip().splitlines()[-1]), cpu


def collect(processes: int, results: Path) -> dict[str, Any]:
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # noqa: S603 - the CPU hog beside
    data: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                            "load_before": os.getloadavg(), "runs": []}
    try:
        for index in range(processes):
            figures, cpu = run_process(index)
            data["runs"].append({"index": index, "figures": figures, "cpu_seconds": cpu, "load": os.getloadavg()[0]})
            results.write_text(json.dumps({"data": data}, indent=1))  # a cut-short run keeps what it measured
            print(f"process {index + 1}/{processes}, load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        hog.kill()  # the hog this script started, by its own handle
        hog.wait()
    data["load_after"] = os.getloadavg()
    return data  # load_after is missing from a run that was cut short


def analyse_series(series: list[dict[str, Any]]) -> dict[str, Any]:
    """Several independent series (separate runs of this script): comparisons are made inside each one
    (its own sliding history), so no process is the head of two comparisons; the counts add up."""
    parts = [analyse(data) for data in series]
    total = {"comparisons": sum(p["comparisons"] for p in parts), "false_alarms": sum(p["false_alarms"] for p in parts),
             "largest_ratio": max(p["largest_ratio"] for p in parts),
             "smallest_p_slower": min(p["smallest_p_slower"] for p in parts),
             "processes": sum(p["processes"] for p in parts),
             "comparisons_with_a_noisy_benchmark": sum(p["comparisons_with_a_noisy_benchmark"] for p in parts),
             "gate": parts[0]["gate"], "history_k": K,
             "load_range": [min(min(p["load_per_process"]) for p in parts),
                            max(max(p["load_per_process"]) for p in parts)]}
    return {**total, "series": parts}


def analyse(data: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from doorbell_ci.perf import compare, stats

    runs = data["runs"]
    names = sorted(runs[0]["figures"])
    medians = np.array([[run["figures"][n]["median"] for n in names] for run in runs], dtype=float)
    comparisons, alarms, flagged_benchmarks, noisy_seen = 0, 0, {n: 0 for n in names}, 0
    largest_ratio, smallest_p = 0.0, 1.0  # how close the closest comparison came to an alarm
    for current in range(K, len(runs)):
        matrix = medians[current - K:current]
        p_slower, p_faster, ratio, _, _ = compare._history_test(matrix, medians[current], counted=True)
        noisy = np.array([bool(stats.instruction_instability(runs[current]["figures"][n]["figures"],
                                                              [runs[current]["figures"][n]["median"]]))
                          for n in names])
        codes = stats.classify(p_slower, p_faster, ratio, noisy, np.ones(len(names), bool),
                               stats.INSTRUCTION_THRESHOLD)
        comparisons += 1
        largest_ratio, smallest_p = max(largest_ratio, float(ratio.max())), min(smallest_p, float(p_slower.min()))
        noisy_seen += int(noisy.any())
        if any(c == stats.REGRESSION for c in codes):
            alarms += 1
        for n, c in zip(names, codes, strict=True):
            flagged_benchmarks[n] += int(c == stats.REGRESSION)
    spread = {n: {"min": float(medians[:, i].min()), "max": float(medians[:, i].max()),
                  "max_over_min": float(medians[:, i].max() / medians[:, i].min()),
                  "cv": float(medians[:, i].std(ddof=1) / medians[:, i].mean())} for i, n in enumerate(names)}
    return {"comparisons": comparisons, "false_alarms": alarms, "false_alarms_per_benchmark": flagged_benchmarks,
            "comparisons_with_a_noisy_benchmark": noisy_seen, "gate": stats.INSTRUCTION_THRESHOLD, "history_k": K,
            "largest_ratio": largest_ratio, "smallest_p_slower": smallest_p,
            "processes": len(runs), "spread_between_processes": spread,
            "cpu_seconds_per_process": statistics.mean(r["cpu_seconds"] for r in runs),
            "load_per_process": [r["load"] for r in runs], "started": data.get("started"),
            "load_before": data["load_before"], "load_after": data.get("load_after")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comparisons", type=int, default=100)
    parser.add_argument("--child", type=int, default=None)
    parser.add_argument("--analyse-only", action="store_true")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--also", type=Path, action="append", default=[],
                        help="results of another, independent series to count with this one (analysis only)")
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child)))
        return 0
    if args.analyse_only:
        data = json.loads(args.results.read_text())["data"]
    else:
        data = collect(args.comparisons + K, args.results)
        args.results.write_text(json.dumps({"data": data}, indent=1))  # kept even if the analysis fails
    if args.also:
        others = [json.loads(path.read_text())["data"] for path in args.also]
        analysis = analyse_series([*others, data])
        args.results.write_text(json.dumps({"analysis": analysis, "data": data,
                                            "other_series": [str(path) for path in args.also]}, indent=1))
        print(json.dumps({k: v for k, v in analysis.items() if k != "series"}, indent=1))
        return 0
    analysis = analyse(data)
    args.results.write_text(json.dumps({"analysis": analysis, "data": data}, indent=1))
    print(json.dumps({k: v for k, v in analysis.items() if k != "load_per_process"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
