"""A/A and A/B validation of paired mode on this machine, with the sample project's performance suite.

    python benchmarks/perf_aa/run.py                      # 10 A/A + 10 A/B runs, CPU-time metric
    python benchmarks/perf_aa/run.py --runs 3 --metric wall

A/A: ``doorbell-ci run --perf-aa`` (the head measured against itself, interleaved ABBA): every
regression reported is a false alarm. A/B: the same with ``DOORBELL_CI_PERF_SLOWDOWN`` slowing one
benchmark by 30% in the head's processes only: it should be reported as a confirmed regression every
time. Results go to benchmarks/perf_aa/results.json (a copy of the sample project is used, so the
repository is never written to).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SLOWED = "test_full_frame_pipeline_with_motion"


def one_run(project: Path, output: Path, metric: str, slowdown: float | None) -> dict[str, object]:
    env = dict(os.environ)
    env.pop("DOORBELL_CI_PERF_SLOWDOWN", None)
    if slowdown:
        env["DOORBELL_CI_PERF_SLOWDOWN"] = f"{SLOWED}={slowdown}"
    argv = [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", "performance",
            "--perf-aa", "--perf-metric", metric, "--no-coverage", "--quiet", "--output-dir", str(output)]
    begin = time.monotonic()
    completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    performance = json.loads((output / "report.json").read_text(encoding="utf-8")).get("performance") or {}
    rows = performance.get("benchmarks", [])
    return {
        "exit_code": completed.returncode,
        "seconds": round(time.monotonic() - begin, 1),
        "regressions": performance.get("regressions", []),
        "verdicts": {row["name"].rsplit("::", 1)[-1]: row["verdict"] for row in rows},
        "ratios": {row["name"].rsplit("::", 1)[-1]: row["ratio"] for row in rows if row.get("ratio")},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--metric", choices=("wall", "cpu"), default="cpu")
    parser.add_argument("--factor", type=float, default=1.3)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args()
    results: dict[str, list[dict[str, object]]] = {"aa": [], "ab": []}
    load_at_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    begin = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="doorbell-ci-aa-") as scratch:
        project = Path(scratch) / "sample_project"
        shutil.copytree(ROOT / "tests" / "sample_project", project,
                        ignore=shutil.ignore_patterns("test-results", "__pycache__"))
        for index in range(args.runs):
            for kind, factor in (("aa", None), ("ab", args.factor)):
                outcome = one_run(project, Path(scratch) / f"{kind}-{index}", args.metric, factor)
                results[kind].append(outcome)
                print(kind, index, json.dumps(outcome), flush=True)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    summary = {
        "metric": args.metric, "runs": args.runs, "factor": args.factor, "slowed": SLOWED,
        "aa_runs_with_any_regression": sum(bool(r["regressions"]) for r in results["aa"]),
        "ab_runs_reporting_the_slowdown": sum(any(SLOWED in name for name in r["regressions"]) for r in results["ab"]),
        "ab_runs_with_other_regressions": sum(any(SLOWED not in n for n in r["regressions"]) for r in results["ab"]),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version(), "load_average_at_start": load_at_start,
                    "load_average_at_end": load},
        "seconds": round(time.monotonic() - begin),
        "results": results,
    }
    args.output.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "results"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
