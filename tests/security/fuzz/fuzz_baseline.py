"""libFuzzer harness for ``perf.baselines.read``: only PerfError may escape, and what reads is usable."""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).parent))
from _harness import run, scratch  # noqa: E402

with atheris.instrument_imports():
    from doorbell_ci.errors import PerfError
    from doorbell_ci.perf import baselines

FOLDER = scratch("baseline")
PATH = FOLDER / "linux.json"


def test_one_input(data: bytes) -> None:
    PATH.write_bytes(data)
    try:
        baseline = baselines.read(PATH)
    except PerfError:
        return
    for name in baseline.latest.get("benchmarks", {}):
        for metric in ("wall", "cpu", "peak_memory"):
            samples = baseline.latest_samples(name, metric)
            assert not samples or math.isfinite(statistics.median(samples))
    baselines.show(FOLDER)  # never raises for a readable file
    baselines.write_atomic(FOLDER / "again" / "copy.json", baselines.to_document(baseline))


if __name__ == "__main__":
    run(test_one_input)
