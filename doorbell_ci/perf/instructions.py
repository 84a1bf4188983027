"""``--perf-metric instructions``: instructions per call of the benchmark body, counted by callgrind.

Design (measured in docs/PERFORMANCE.md, "Instruction counts"):

- The test runs normally first (wall and CPU time are measured as always, so both are reported side
  by side); then the same test is run once more in a *fresh* pytest process under
  ``valgrind --tool=callgrind --instr-atstart=no`` (:func:`from_child`). Start-up, imports,
  collection and the fixture's setup run uninstrumented and are not counted.
- In that process the fixture (:func:`count`) switches instrumentation on after a warm-up call
  and counts windows of ``n`` and ``2n`` calls through client requests; ``(I(2n) - I(n)) / n`` is
  one per-call figure. The difference cancels everything a window costs besides the calls (the
  request itself, the loop set-up), so the figure does not depend on the loop count.
- ``PYTHONHASHSEED`` is fixed in the counted process: a set or dict of strings iterates in another
  order under another seed, and the count of such code moves by up to several percent between
  processes, which is noise for a 1% gate. ``gc.collect()`` before each pair of windows starts each
  pair with the same collector state. The first pairs are dropped: the specialising interpreter
  (3.11+) and the allocator are still settling there.
- The counted process aligns pymalloc's arenas to 1 MiB before pytest starts (:mod:`arenas`): without
  that, the cost of every ``free`` depended on the heap layout, which a checkout's path or its ``.pyc``
  files decide (an unchanged benchmark counted 2.1% apart in paired mode's two checkouts).
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from doorbell_ci.perf import arenas, valgrind
from doorbell_ci.perf.measure import (
    INSTRUCTIONS_CHILD_ENV,
    METRIC_ENV,
    OUTPUT_ENV,
    PARENT_TIMINGS_ENV,
    SAMPLES_FORMAT,
    BenchmarkRecord,
    MeasureError,
    record_from_dict,
)

WARMUP_PAIRS = 3  # dropped: the interpreter's specialisation and the allocator settle over these
PAIRS = 10  # per-call figures kept per process
TARGET_WINDOW = 1_000_000  # instructions in the n-call window: the request's own ~20k is then noise-free
MAX_CALLS = 10_000
HASH_SEED = "0"
CHILD_TIMEOUT = 900.0

_cache: dict[str, dict[str, BenchmarkRecord]] = {}


def count(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, list[float]]:
    """In the Valgrind child: the warm-up call's result and ``PAIRS`` per-call instruction figures.

    Every window is one call of :func:`_window`, ended by a dump: the window of ``n`` calls and the
    one of ``2n`` then hold exactly the same code besides the calls (the return from the previous
    dump, the loop), so the difference is the calls alone. The dump files are read only after both
    windows: reading one inside the next window would count the reading.
    """
    if not valgrind.running_on_valgrind():
        raise MeasureError("instruction counting needs the test to run under valgrind --tool=callgrind")
    arenas.align()  # a no-op when the process started aligned (from_child); else from here on
    result = func(*args, **kwargs)  # warm-up, uninstrumented
    dumps = _Dumps(Path(os.environ.get(INSTRUCTIONS_CHILD_ENV, "")))
    valgrind.client_request(valgrind.START_INSTRUMENTATION)
    try:
        gc.collect()
        valgrind.client_request(valgrind.ZERO_STATS)
        _window(func, args, kwargs, 0)
        _window(func, args, kwargs, 1)
        _, one = dumps.read(2)
        calls = max(1, min(MAX_CALLS, TARGET_WINDOW // max(1, one)))
        totals: list[list[int]] = []
        for _ in range(WARMUP_PAIRS + PAIRS):
            gc.collect()
            _window(func, args, kwargs, 0)  # the same start for both measured windows
            _window(func, args, kwargs, calls)
            _window(func, args, kwargs, 2 * calls)
            totals.append(dumps.read(3))
    finally:
        valgrind.client_request(valgrind.STOP_INSTRUMENTATION)
    return result, [max(0.0, (long - short) / calls) for _, short, long in totals[WARMUP_PAIRS:]]


def _window(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], calls: int) -> None:
    for _ in range(calls):
        func(*args, **kwargs)
    valgrind.client_request(valgrind.DUMP_STATS)  # writes the counts since the last dump, and zeroes them


class _Dumps:
    """Callgrind's numbered dump files of this process (``cg.<pid>.<n>``): read the last ones, delete them.

    Callgrind numbers dumps per process, so the count lives in the class (several benchmarks, one process).
    """

    number = 0

    def __init__(self, folder: Path) -> None:
        self.base = folder / f"cg.{os.getpid()}"

    def read(self, dumps: int) -> list[int]:
        totals = []
        for _ in range(dumps):
            _Dumps.number += 1
            path = self.base.with_name(f"{self.base.name}.{_Dumps.number}")
            try:
                totals.append(valgrind.read_total(path))
            except (OSError, valgrind.ValgrindError) as error:
                raise MeasureError(f"callgrind wrote no usable dump ({error})") from None
            path.unlink(missing_ok=True)
        return totals


def child_environment(environ: dict[str, str], output: Path, folder: Path, timings: Path) -> dict[str, str]:
    """The counted process's environment: ours, minus an enclosing xdist or coverage run, plus the fixed seed."""
    env = {k: v for k, v in environ.items()
           if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT_TEST", "COV_CORE", "COVERAGE_"))}
    env.update({OUTPUT_ENV: str(output), METRIC_ENV: "instructions", INSTRUCTIONS_CHILD_ENV: str(folder),
                PARENT_TIMINGS_ENV: str(timings),
                "PYTHONHASHSEED": HASH_SEED, "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def from_child(nodeid: str, rootdir: Path, medians: dict[str, float] | None = None) -> dict[str, BenchmarkRecord]:
    """Run test ``nodeid`` again under callgrind in a fresh process; its benchmarks' records by name.

    ``medians`` (seconds per call measured here) are what ``perf.median`` answers in the child.
    """
    if nodeid in _cache:
        return _cache[nodeid]
    folder = Path(tempfile.mkdtemp(prefix="doorbell-ci-instructions-"))
    try:
        output = folder / "samples.json"
        timings = folder / "timings.json"
        timings.write_text(json.dumps(medians or {}), encoding="utf-8")
        try:
            prefix = valgrind.callgrind_argv(str(folder / "cg.%p"))
        except valgrind.ValgrindError as error:
            raise MeasureError(f"--perf-metric instructions: {error}") from None
        # pytest started through the arena aligner: counts then do not depend on the heap layout (arenas.py)
        argv = [*prefix, sys.executable, "-m", "doorbell_ci.perf.arenas", "pytest", nodeid, "-q",
                "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:xdist", "--rootdir", str(rootdir)]
        try:
            completed = subprocess.run(  # noqa: S603 - argv list, no shell
                argv, cwd=rootdir, env=child_environment(dict(os.environ), output, folder, timings),
                capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise MeasureError(f"{nodeid}: counting instructions took over {CHILD_TIMEOUT:.0f} s") from None
        if completed.returncode != 0:
            tail = [line for line in (completed.stdout + completed.stderr).splitlines() if line.strip()]
            raise MeasureError(f"{nodeid}: the Valgrind run of this test failed (exit {completed.returncode}): "
                               f"{tail[-1] if tail else 'no output'}")
        try:
            document = json.loads(output.read_text(encoding="utf-8"))
            if document.get("format") != SAMPLES_FORMAT:
                raise ValueError("not a samples file")
            records = {r.name: r for r in map(record_from_dict, document["benchmarks"])}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise MeasureError(f"{nodeid}: the Valgrind run wrote no usable counts ({error})") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    _cache[nodeid] = records
    return records
