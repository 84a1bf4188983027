"""The history dashboard at 100,000 tests x 64 runs: build time, page size and peak memory.

Why: history.json grows to ``history_tests`` (100,000) tests x ``history_runs`` (64) runs, and the
dashboard is built from it in CI after every default-branch run; the issue asks that both the time
to build it and the page's size stay bounded. The history comes from tests/history_factory.py (the
fixed format): three platforms alternating, 1 % flaky tests, some always failing, some fixed
half-way, ten slow tests getting slower, one benchmark regressing. Each measurement runs in a fresh
interpreter, so ru_maxrss is the dashboard's own peak, not the generator's.

One command re-runs it:  python benchmarks/dashboard/run_dashboard.py [--tests 100000] [--runs 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests import history_factory  # noqa: E402

MEASURE = """
import json, resource, sys, time
from pathlib import Path
clocks = [(time.perf_counter(), time.process_time())]
from doorbell_ci import atomic
from doorbell_ci.reports import dashboard
clocks.append((time.perf_counter(), time.process_time()))
history = dashboard.read(Path(sys.argv[1]))
clocks.append((time.perf_counter(), time.process_time()))
view = dashboard.view(history)
clocks.append((time.perf_counter(), time.process_time()))
page = dashboard.load_template().render(csp=dashboard.CSP, version="bench", **view)
clocks.append((time.perf_counter(), time.process_time()))
atomic.write_text(Path(sys.argv[2]), page)
clocks.append((time.perf_counter(), time.process_time()))
steps = ("import", "read", "analyse", "render", "write")
result = {step: clocks[i + 1][0] - clocks[i][0] for i, step in enumerate(steps)}
result["total"] = clocks[-1][0] - clocks[1][0]
result["total_cpu"] = clocks[-1][1] - clocks[1][1]
result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dashboard-bench-") as folder:
        history_path, page = Path(folder) / "history.json", Path(folder) / "dashboard.html"
        started = time.perf_counter()
        document, known = history_factory.generate(tests=args.tests, runs=args.runs,
                                                   platforms=history_factory.PLATFORMS)
        history_factory.write(history_path, document)
        del document
        print(f"history: {args.tests} tests x {args.runs} runs, {history_path.stat().st_size / 2**20:.1f} MiB, "
              f"{len(known.flaky)} flaky, generated in {time.perf_counter() - started:.1f} s")
        results = []
        for attempt in range(args.repeat):
            completed = subprocess.run(  # noqa: S603 - argv list
                [sys.executable, "-c", MEASURE, str(history_path), str(page)], capture_output=True, text=True,
                check=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
            )
            result = json.loads(completed.stdout)
            results.append(result)
            print(f"run {attempt + 1}: " + ", ".join(f"{k} {v:.2f}" + ("" if k == "peak_mb" else " s")
                                                    for k, v in result.items()))
        size = page.stat().st_size
        text = page.read_text(encoding="utf-8")
        assert "flaky candidates" in text and text.count("<svg") > 40, "the page lacks its charts"
        print(f"median of {args.repeat}: " + ", ".join(
            f"{key} {statistics.median(r[key] for r in results):.2f}" + (" MB" if key == "peak_mb" else " s")
            for key in results[0]))
        print(f"dashboard.html: {size / 1024:.0f} KiB, {text.count('<svg')} SVG charts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
