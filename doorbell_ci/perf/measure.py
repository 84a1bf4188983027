"""Measurement: time a callable honestly, and keep every raw sample.

One benchmark = a warm-up call, inner loops calibrated so one sample lasts at least ~20 ms
(timer resolution and call overhead then stop mattering), and ``samples`` samples of wall time
(``perf_counter``) and CPU time (``process_time``: user + system of this process), each divided
by the loop count. Peak memory is measured in a *fresh* subprocess from the operating system's own
high-water mark (see ``peakmem.py``): polling misses short spikes, and a long-lived test process
has a high-water mark from whatever ran before.

The samples file (``output_dir/perf/<suite>.json``, path in ``DOORBELL_CI_PERF_OUTPUT``) is the raw
record every later stage works from; its format is versioned like the baseline files.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from doorbell_ci import atomic, jsonsafe

OUTPUT_ENV = "DOORBELL_CI_PERF_OUTPUT"
SAMPLES_ENV = "DOORBELL_CI_PERF_SAMPLES"
MIN_TIME_ENV = "DOORBELL_CI_PERF_MIN_SAMPLE_TIME"
METRIC_ENV = "DOORBELL_CI_PERF_METRIC"  # "instructions": count them under Valgrind as well as timing
INSTRUCTIONS_CHILD_ENV = "DOORBELL_CI_PERF_INSTRUCTIONS_CHILD"  # set in the Valgrind child only
PARENT_TIMINGS_ENV = "DOORBELL_CI_PERF_PARENT_TIMINGS"  # the timed process's medians, for perf.median there
SLOWDOWN_ENV = "DOORBELL_CI_PERF_SLOWDOWN"  # "pattern=factor[,pattern=factor]": validation of power
SAMPLES_FORMAT = "doorbell-ci-perf-samples"
PYTEST_BENCHMARK_SUFFIX = ".pytest-benchmark.json"  # pytest-benchmark's JSON, written next to ours
SAMPLES_VERSION = 1
DEFAULT_SAMPLES = 20
DEFAULT_MIN_SAMPLE_TIME = 0.020
MAX_SAMPLES = 10_000  # per benchmark (DOORBELL_CI_PERF_SAMPLES, --perf-samples)
MAX_MIN_SAMPLE_TIME = 60.0  # seconds (DOORBELL_CI_PERF_MIN_SAMPLE_TIME): 20 samples of a minute are 20 minutes
MAX_LOOPS = 10_000_000


class MeasureError(Exception):
    """A benchmark that cannot be measured as written (raised inside the test, so the test fails with it)."""


@dataclass
class Metric:
    value: float
    unit: str = ""
    higher_is_better: bool = True


@dataclass
class BenchmarkRecord:
    """Everything measured for one benchmark in one process."""

    name: str
    nodeid: str
    loops: int = 0
    wall: list[float] = field(default_factory=list)  # seconds per call, one entry per sample
    cpu: list[float] = field(default_factory=list)
    peak_memory: list[int] = field(default_factory=list)  # bytes, one entry per fresh subprocess
    metrics: dict[str, Metric] = field(default_factory=dict)
    slowdown: float = 1.0  # injected by DOORBELL_CI_PERF_SLOWDOWN; 1.0 = none
    # instructions per call (callgrind Ir), one figure per sample pair, pooled over processes
    instructions: list[float] = field(default_factory=list)
    # one figure per measured process (its median): the process is the unit of the instruction test
    instruction_processes: list[float] = field(default_factory=list)

    @property
    def sample_seconds(self) -> list[float]:
        """Duration of each whole sample (all inner loops): what the "< 1 ms is noise" rule looks at."""
        return [value * self.loops for value in self.wall]


def env_int(name: str, default: int, minimum: int = 1, maximum: int = MAX_SAMPLES) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 15:
        raise MeasureError(f"{name}={raw[:40]!r} is not a whole number")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise MeasureError(f"{name}={raw!r} must be between {minimum} and {maximum}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise MeasureError(f"{name}={raw!r} is not a number") from None
    if not 0 < value <= MAX_MIN_SAMPLE_TIME:  # also NaN and inf
        raise MeasureError(f"{name}={raw[:40]!r} must be a number of seconds above 0, at most {MAX_MIN_SAMPLE_TIME:g}")
    return value


MAX_SLOWDOWN = 100.0  # an injected slowdown factor (DOORBELL_CI_PERF_SLOWDOWN) for gate tests


def parse_slowdowns(raw: str) -> dict[str, float]:
    """``"test_resize=1.3,*stream*=1.1"`` -> {pattern: factor}; factors are at least 1."""
    result: dict[str, float] = {}
    for item in raw.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        pattern, _, factor_text = item.rpartition("=")
        try:
            factor = float(factor_text)
        except ValueError:
            factor = float("nan")
        if not pattern or not 1 <= factor <= MAX_SLOWDOWN:  # also NaN and inf
            raise MeasureError(f"{SLOWDOWN_ENV}: {item!r} is not PATTERN=FACTOR with FACTOR >= 1 (e.g. test_x=1.3)")
        result[pattern] = factor
    return result


def slowdown_for(name: str, slowdowns: dict[str, float]) -> float:
    """The factor for benchmark ``name``: a pattern matches the full id or one of its ``::`` parts (test, label)."""
    parts = name.split("::")[1:]
    for pattern, factor in slowdowns.items():
        if fnmatch.fnmatchcase(name, pattern) or any(fnmatch.fnmatchcase(part, pattern) for part in parts):
            return factor
    return 1.0


class Benchmark:
    """The ``perf`` fixture: ``perf(func, *args)`` times ``func``; ``metric`` and ``peak_memory`` add to it."""

    def __init__(self, nodeid: str, records: dict[str, BenchmarkRecord], samples: int | None = None,
                 min_sample_time: float | None = None, slowdowns: dict[str, float] | None = None,
                 metric: str | None = None, rootdir: Path | None = None) -> None:
        self.nodeid = nodeid
        self.perf_metric = metric if metric is not None else os.environ.get(METRIC_ENV, "").strip() or "wall"
        self.rootdir = rootdir or Path.cwd()
        self.parent_medians: dict[str, float] = {}
        if self.counting and os.environ.get(PARENT_TIMINGS_ENV):
            try:
                loaded = json.loads(Path(os.environ[PARENT_TIMINGS_ENV]).read_text(encoding="utf-8"))
                self.parent_medians = {str(k): float(v) for k, v in loaded.items()}
            except (OSError, ValueError, TypeError, AttributeError) as error:
                raise MeasureError(f"{PARENT_TIMINGS_ENV}: unreadable ({error})") from None
        self._records = records
        self.samples = samples if samples is not None else env_int(SAMPLES_ENV, DEFAULT_SAMPLES)
        self.min_sample_time = min_sample_time or env_float(MIN_TIME_ENV, DEFAULT_MIN_SAMPLE_TIME)
        if not 1 <= self.samples <= MAX_SAMPLES:  # --perf-samples reaches here unchecked
            raise MeasureError(f"samples must be between 1 and {MAX_SAMPLES}, got {self.samples}")
        if not 0 < self.min_sample_time <= MAX_MIN_SAMPLE_TIME:
            raise MeasureError(f"the minimum sample time must be above 0 and at most {MAX_MIN_SAMPLE_TIME:g} s, "
                               f"got {self.min_sample_time}")
        self.slowdowns = slowdowns if slowdowns is not None else parse_slowdowns(os.environ.get(SLOWDOWN_ENV, ""))
        self.last: BenchmarkRecord | None = None

    def _record(self, name: str | None) -> BenchmarkRecord:
        full = self.nodeid if not name else f"{self.nodeid}::{name}"
        if full not in self._records:
            self._records[full] = BenchmarkRecord(name=full, nodeid=self.nodeid)
        return self._records[full]

    def __call__(self, func: Callable[..., Any], *args: Any, name: str | None = None, **kwargs: Any) -> Any:
        """Time ``func(*args, **kwargs)``; returns the warm-up call's result so the test can check it."""
        record = self._record(name)
        if record.wall or record.instructions:
            raise MeasureError(f"benchmark {record.name!r} measured twice; give each call its own name=")
        factor = slowdown_for(record.name, self.slowdowns)
        if self.counting:
            from doorbell_ci.perf import instructions

            result, record.instructions = instructions.count(func, args, kwargs)
            record.instruction_processes = [_median(record.instructions)]
            self.last = record  # an injected slowdown is CPU time: it has no instruction count
            return result
        result = func(*args, **kwargs)  # warm-up: caches, lazy imports, first-call allocations
        loops = self._calibrate(func, args, kwargs)
        record.loops, record.slowdown = loops, factor
        for _ in range(self.samples):
            cpu_start = time.process_time()
            start = time.perf_counter()
            for _ in range(loops):
                func(*args, **kwargs)
            if factor > 1.0:
                _spin_until(cpu_start + (time.process_time() - cpu_start) * factor)
            wall = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
            record.wall.append(wall / loops)
            record.cpu.append(cpu / loops)
        self.last = record
        return result

    @property
    def counting(self) -> bool:
        """True in the Valgrind child of ``--perf-metric instructions``: count, do not time."""
        return self.perf_metric == "instructions" and bool(os.environ.get(INSTRUCTIONS_CHILD_ENV))

    def count_instructions(self) -> None:
        """After the test (fixture teardown): run it again under Valgrind and attach the counts.

        After, not during, so the child can be handed this process's timings of *every* benchmark
        of the test (``perf.median`` in the child then answers as it did here, not Valgrind-slow).
        """
        mine = {name: record for name, record in self._records.items()
                if record.nodeid == self.nodeid and record.wall and not record.instructions}
        if self.perf_metric != "instructions" or self.counting or not mine:
            return
        from doorbell_ci.perf import instructions

        counted = instructions.from_child(self.nodeid, self.rootdir,
                                          {name: _median(record.wall) for name, record in mine.items()})
        for name, record in mine.items():
            if name not in counted or not counted[name].instructions:
                raise MeasureError(f"{name}: the Valgrind run of this test counted no instructions for it")
            record.instructions = counted[name].instructions
            record.instruction_processes = counted[name].instruction_processes

    def _calibrate(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
        loops = 1
        while True:
            start = time.perf_counter()
            for _ in range(loops):
                func(*args, **kwargs)
            elapsed = time.perf_counter() - start
            if elapsed >= self.min_sample_time or loops >= MAX_LOOPS:
                return loops
            estimate = math.ceil(loops * self.min_sample_time * 1.2 / max(elapsed, 1e-9))
            loops = min(MAX_LOOPS, max(loops * 2, estimate))

    @property
    def median(self) -> float:
        """Median seconds per call of the last timed benchmark (for custom metrics such as frames per second)."""
        if self.last is not None and self.counting and self.last.name in self.parent_medians:
            return self.parent_medians[self.last.name]  # the timing of the same call outside Valgrind
        if self.last is None or not self.last.wall:
            raise MeasureError("perf.median is only known after perf(func) has run")
        ordered = sorted(self.last.wall)
        middle = len(ordered) // 2
        return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2

    def metric(self, metric_name: str, value: float, unit: str = "", higher_is_better: bool = True,
               name: str | None = None) -> None:
        """Attach a custom figure (frames or faces per second, ...); reported next to the timings, never gated."""
        if not isinstance(value, int | float) or math.isnan(value) or math.isinf(value):
            raise MeasureError(f"metric {metric_name!r}: {value!r} is not a finite number")
        self._record(name).metrics[metric_name] = Metric(float(value), unit, higher_is_better)

    def peak_memory(self, func: Callable[..., Any], *args: Any, runs: int = 3, name: str | None = None) -> int:
        """Peak resident memory (bytes) of a fresh Python process calling ``func(*args)``; the median of ``runs``.

        ``func`` must be importable by the child (a module-level function) and ``args`` picklable.
        """
        record = self._record(name)
        values = [measure_peak_memory(func, args) for _ in range(runs)]
        record.peak_memory.extend(values)
        return sorted(values)[len(values) // 2]


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _spin_until(cpu_deadline: float) -> None:
    """Burn CPU until the process has used ``cpu_deadline`` of CPU time: the work itself, ``factor`` times over.

    Scaling the CPU time (not the elapsed time) makes the injection behave like real extra work: on a
    busy machine, time spent waiting for a core is not multiplied.
    """
    while time.process_time() < cpu_deadline:
        pass


def measure_peak_memory(func: Callable[..., Any], args: tuple[Any, ...] = (), timeout: float = 300.0) -> int:
    """Run ``func(*args)`` in a fresh interpreter; return its peak RSS in bytes from the OS high-water mark."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", "")
    if not module or "<" in qualname or module == "__main__":
        raise MeasureError(f"peak_memory needs a module-level function, got {func!r}")
    module_file = getattr(sys.modules.get(module), "__file__", None)
    try:
        payload = pickle.dumps((module, qualname, module_file, list(sys.path), pickle.dumps(args)))
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        raise MeasureError(f"peak_memory: the arguments cannot be sent to a fresh process: {error}") from None
    with tempfile.TemporaryDirectory(prefix="doorbell-ci-peakmem-") as folder:
        spec = Path(folder) / "call.pickle"
        spec.write_bytes(payload)
        completed = subprocess.run(  # noqa: S603 - argv list, no shell
            [sys.executable, "-m", "doorbell_ci.perf.peakmem", str(spec)],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise MeasureError(f"peak_memory: the fresh process failed: {last}")
    return int(json.loads(completed.stdout.strip().splitlines()[-1])["peak_bytes"])


def write_samples(path: Path, suite: str, records: list[BenchmarkRecord], extra: dict[str, Any] | None = None) -> None:
    """Write the raw samples atomically (a crash leaves the old file or none, never half a file)."""
    document = {
        "format": SAMPLES_FORMAT,
        "version": SAMPLES_VERSION,
        "suite": suite,
        "pid": os.getpid(),
        **(extra or {}),
        "benchmarks": [asdict(record) for record in records],
    }
    with atomic.replacing(path) as stream:
        jsonsafe.dump(document, stream, indent=1)


def record_from_dict(raw: dict[str, Any]) -> BenchmarkRecord:
    """Rebuild a record from its JSON form; a missing or mistyped field is a ValueError naming it."""
    def numbers(key: str) -> list[float]:
        values = raw.get(key, [])
        if not isinstance(values, list) or not all(jsonsafe.is_finite_number(v) and v >= 0 for v in values):
            raise ValueError(f"{key!r} must be a list of finite, non-negative numbers")
        return [float(v) for v in values]

    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("a benchmark has no 'name'")
    metrics_raw = raw.get("metrics", {}) or {}
    if not isinstance(metrics_raw, dict):
        raise ValueError(f"{name}: 'metrics' must be a table")
    metrics: dict[str, Metric] = {}
    for key, value in metrics_raw.items():
        if not isinstance(value, dict) or not jsonsafe.is_finite_number(value.get("value")):
            raise ValueError(f"{name}: metric {key!r} has no finite numeric 'value'")
        metrics[str(key)] = Metric(float(value["value"]), str(value.get("unit", "")),
                                   bool(value.get("higher_is_better", True)))
    loops = raw.get("loops", 0)
    slowdown = raw.get("slowdown", 1.0) or 1.0
    if not jsonsafe.is_finite_number(slowdown) or slowdown <= 0:
        raise ValueError(f"{name}: 'slowdown' must be a finite number above 0, got {slowdown!r}")
    return BenchmarkRecord(
        name=name, nodeid=str(raw.get("nodeid", name)), loops=int(loops) if isinstance(loops, int) else 0,
        wall=numbers("wall"), cpu=numbers("cpu"), peak_memory=[int(v) for v in numbers("peak_memory")],
        metrics=metrics, slowdown=float(slowdown),
        instructions=numbers("instructions"), instruction_processes=numbers("instruction_processes"),
    )
