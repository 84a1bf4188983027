"""Running suites side by side: wall time of the sample project under each scheduling setting.

Why: the defaults of ``--parallel-suites`` and ``--workers`` should come from measurement, not
from taste. Small suites pay pytest-xdist's start-up (one interpreter and one collection per
worker) and may gain nothing from it; running independent suites at the same time fills the
cores instead. This runs the bundled sample project (every suite, coverage on as by default)
with --parallel-suites 1 / auto crossed with --workers 1 / 2, interleaved, and reports the
median wall time of the whole run and the CPU time its process trees used.

One command re-runs it:  python benchmarks/suite_concurrency/run_suite_concurrency.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE_PROJECT = Path(__file__).resolve().parents[2] / "tests" / "sample_project"
SETTINGS = (("1", "1"), ("1", "2"), ("auto", "1"), ("auto", "2"))  # (parallel suites, workers)


def run_once(project: Path, output: Path, parallel_suites: str, workers: str) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_CI_", "DOORBELL_SAMPLE_"))}
    argv = [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--output-dir", str(output),
            "--parallel-suites", parallel_suites, "--workers", workers, "--quiet"]
    begin = time.perf_counter()
    completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    wall = time.perf_counter() - begin
    if completed.returncode != 0:
        sys.exit(f"run failed ({completed.returncode}): {' '.join(argv)}\n{completed.stdout[-3000:]}{completed.stderr}")
    report = json.loads((output / "report.json").read_text(encoding="utf-8"))
    suites = {s["name"]: s for s in report["suites"] if s["status"] not in ("absent", "not run")}
    return {
        "wall": wall,
        "cpu": sum(s["resources"]["cpu_seconds"] for s in suites.values()),
        "tests": report["totals"]["tests"],
        **{f"suite:{name}": s["duration_seconds"] for name, s in suites.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="doorbell-concurrency-"))
    try:
        project = root / "sample_project"
        shutil.copytree(SAMPLE_PROJECT, project, ignore=shutil.ignore_patterns(
            "test-results", "__pycache__", ".pytest_cache", "*.egg-info", ".coverage*"))
        run_once(project, root / "warm-up", "auto", "2")
        samples: dict[str, list[dict[str, float]]] = {f"{p}/{w}": [] for p, w in SETTINGS}
        for index in range(args.runs):
            for parallel_suites, workers in SETTINGS:
                sample = run_once(project, root / f"out-{index}", parallel_suites, workers)
                samples[f"{parallel_suites}/{workers}"].append(sample)
                print(f"--parallel-suites {parallel_suites} --workers {workers}: {sample['wall']:.1f}s wall, "
                      f"{sample['cpu']:.1f}s CPU", flush=True)
        summary = {}
        for key, runs in samples.items():
            summary[key] = {
                "median_wall": round(statistics.median(r["wall"] for r in runs), 2),
                "median_cpu": round(statistics.median(r["cpu"] for r in runs), 2),
                "walls": [round(r["wall"], 2) for r in runs],
                "median_suite_seconds": {name.removeprefix("suite:"): round(statistics.median(r[name] for r in runs), 2)
                                         for name in runs[0] if name.startswith("suite:")},
                "tests": runs[0]["tests"],
            }
        report = {"runs": args.runs, "nproc": os.cpu_count(), "load_average_at_end": os.getloadavg(),
                  "settings": summary}
        print(json.dumps(report, indent=2))
        if args.json:
            args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
