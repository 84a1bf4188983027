"""What platform detection and `doorbell-ci doctor` cost.

Why: every run samples the Pi's throttled flags at its start and describes the machine at its
end (platforms.sample_throttle / platforms.describe), so that work is pure overhead on every
run; the target is under 50 ms per run, on a Pi as on a laptop. `doctor` is run by hand or
once per CI job; the target is under 5 s with a reachable Docker engine.

Measured here: sample_throttle() + describe() on this machine, the same against the fake Pi 4
and Pi 5 roots in tests/fixtures/platforms (their files are read exactly as on a Pi; the
firmware file is put in place as tests/fake_machines.py does), and `python -m doorbell_ci doctor`
as a whole process (interpreter start included).

One command re-runs it:  python benchmarks/platforms/run_platform_detection.py [--runs 50] [--doctor-runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from doorbell_ci import platforms  # noqa: E402
from tests.fake_machines import fake_root  # noqa: E402


def timed(function: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        begin = time.perf_counter()
        function()
        samples.append(time.perf_counter() - begin)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered) * 1000, 2), "min_ms": round(ordered[0] * 1000, 2),
            "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 2), "max_ms": round(ordered[-1] * 1000, 2),
            "runs": len(ordered)}


def per_run(root: Path) -> Callable[[], object]:
    def detect() -> object:
        start = platforms.sample_throttle(root)
        return platforms.describe(root, throttle_start=start)

    return detect


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--doctor-runs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args()
    results: dict[str, object] = {"machine": platforms.describe(), "load_average": _load()}
    with tempfile.TemporaryDirectory() as scratch:
        figures = {"this machine": summary(timed(per_run(Path("/")), args.runs))}
        for machine in ("pi4", "pi5"):
            root = fake_root(machine, Path(scratch))
            figures[f"fake {machine} root"] = summary(timed(per_run(root), args.runs))
    doctor = [sys.executable, "-m", "doorbell_ci", "doctor", "--project", str(REPO / "tests" / "sample_project")]
    figures["doorbell-ci doctor (whole process)"] = summary(
        timed(lambda: subprocess.run(doctor, capture_output=True, check=False, cwd=REPO), args.doctor_runs))
    results["figures"] = figures
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"{'what':<40} {'median':>9} {'min':>9} {'p90':>9} {'max':>9}")
    for name, row in figures.items():
        print(f"{name:<40} {row['median_ms']:>7.1f}ms {row['min_ms']:>7.1f}ms {row['p90_ms']:>7.1f}ms "
              f"{row['max_ms']:>7.1f}ms")
    print(f"python {platform.python_version()}, load average {results['load_average']}; raw figures: {args.output}")
    return 0


def _load() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


if __name__ == "__main__":
    raise SystemExit(main())
