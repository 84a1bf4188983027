"""Does an instruction count depend on the heap layout? Counts after ballasts of k live objects.

    nice -n 5 python benchmarks/instructions/layout.py            # 4 ballasts x 3 allocators, ~12 Valgrind runs

Each run is a fresh process under callgrind that allocates k live ints and strings (the "layout"),
then counts three benchmarks with the perf fixture's own code (``instructions.count``). Allocators:
``pymalloc`` as CPython ships it, ``aligned`` (doorbell_ci.perf.arenas, installed before the ballast,
as the counted pytest process does), ``malloc`` (``PYTHONMALLOC=malloc``). Prints one JSON line per run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BALLASTS = (0, 30_000, 70_000, 110_000)


def child(ballast_size: int, align: bool) -> dict[str, float]:
    if align:
        from doorbell_ci.perf import arenas

        assert arenas.align() is None
    from doorbell_ci.perf import instructions

    ballast = [i for i in range(10**6, 10**6 + ballast_size)] + [str(i) * 3 for i in range(ballast_size // 3)]

    class Point:
        def __init__(self, x: int, y: int) -> None:
            self.x, self.y = x, y

    chosen = {"sum_range_2000": (sum, (range(2000),)),
              "sort_300_strings": (lambda n: sorted(str(i) for i in range(n)), (300,)),
              "300_objects": (lambda n: [Point(i, i) for i in range(n)], (300,))}
    out = {}
    for name, (func, args) in chosen.items():
        _, figures = instructions.count(func, args, {})
        out[name] = sorted(figures)[len(figures) // 2]
    del ballast
    return out


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(int(sys.argv[2]), sys.argv[3] == "aligned")))
        return 0
    from doorbell_ci.perf import valgrind

    for allocator in ("pymalloc", "aligned", "malloc"):
        for ballast_size in BALLASTS:
            folder = tempfile.mkdtemp(prefix="instr-layout-")
            env = {**os.environ, "PYTHONPATH": str(ROOT), "DOORBELL_CI_PERF_INSTRUCTIONS_CHILD": folder,
                   "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
            if allocator == "malloc":
                env["PYTHONMALLOC"] = "malloc"
            argv = [*valgrind.callgrind_argv(f"{folder}/cg.%p"), sys.executable, __file__, "--child",
                    str(ballast_size), allocator]
            completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
            if completed.returncode != 0:
                raise SystemExit(f"{allocator} {ballast_size} failed: {completed.stderr[-2000:]}")
            counts = json.loads(completed.stdout.strip().splitlines()[-1])
            print(json.dumps({"allocator": allocator, "ballast": ballast_size, **counts}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
