"""The timing loop of the perf fixture (in process) and the samples file format."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from doorbell_ci.perf import measure


def busy(seconds: float) -> str:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return "done"


class FakeWallClock:
    """perf_counter() of a machine nobody else uses: only the work advances it."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def work(self, seconds: float) -> str:
        self.now += seconds
        return "done"


def test_calibration_makes_each_sample_last_the_minimum_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mechanism on a fake clock: 0.5 ms calls, 5 ms samples -> at least 10 calls a sample.

    On the real clock this was a timed test: under qemu at load 12 the one calibration call was
    preempted for over 5 ms and the loop count came out 1 (the samples were still long enough).
    """
    clock = FakeWallClock()
    monkeypatch.setattr(measure.time, "perf_counter", clock.perf_counter)
    records: dict[str, measure.BenchmarkRecord] = {}
    bench = measure.Benchmark("t.py::test_x", records, samples=10, min_sample_time=0.005, slowdowns={})
    assert bench(clock.work, 0.0005) == "done"  # the warm-up call's result
    record = records["t.py::test_x"]
    assert 10 <= record.loops <= 12  # enough for 5 ms, with the calibration's 20% margin at most
    assert len(record.wall) == len(record.cpu) == 10
    assert all(wall == pytest.approx(0.0005) for wall in record.wall)  # per call, not per sample
    assert bench.median == pytest.approx(0.0005)


def test_samples_on_the_real_clock_last_at_least_the_minimum_time() -> None:
    """With the real clock, a lower bound only: load can make a sample longer, never shorter."""
    records: dict[str, measure.BenchmarkRecord] = {}
    bench = measure.Benchmark("t.py::test_x", records, samples=10, min_sample_time=0.005, slowdowns={})
    assert bench(busy, 0.0005) == "done"
    record = records["t.py::test_x"]
    assert len(record.wall) == len(record.cpu) == 10
    assert min(record.sample_seconds) >= 0.005 * 0.9
    assert bench.median >= 0.0005


def work(count: int) -> int:
    return sum(i * i for i in range(count))


class FakeCpuClock:
    """process_time() of a machine nobody else uses: only the work and the spin advance it."""

    def __init__(self) -> None:
        self.now = 0.0

    def process_time(self) -> float:
        self.now += 0.000_001  # reading the clock costs a microsecond, like the spin's own loop
        return self.now

    def work(self, seconds: float) -> None:
        self.now += seconds


def test_injected_slowdown_multiplies_the_cpu_time_of_the_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mechanism, not the machine: the slowed sample spins until its CPU time is ``factor`` times the work's.

    A real CPU clock made this a timed test: under load a VM's stolen time shows up as this process's
    CPU time, and the plain benchmark's samples came out slower than the slowed one's.
    """
    clock = FakeCpuClock()
    monkeypatch.setattr(measure.time, "process_time", clock.process_time)
    records: dict[str, measure.BenchmarkRecord] = {}
    plain = measure.Benchmark("t.py::test_plain", records, samples=7, min_sample_time=1e-9, slowdowns={})
    slowed = measure.Benchmark("t.py::test_slow", records, samples=7, min_sample_time=1e-9,
                               slowdowns=measure.parse_slowdowns("test_slow=1.5"))
    plain(clock.work, 0.004)
    slowed(clock.work, 0.004)
    assert records["t.py::test_slow"].slowdown == 1.5
    assert records["t.py::test_plain"].slowdown == 1.0
    for cpu in records["t.py::test_plain"].cpu:
        assert cpu == pytest.approx(0.004, rel=0.01)
    for cpu in records["t.py::test_slow"].cpu:
        assert cpu == pytest.approx(0.006, rel=0.01)  # 1.5 x the work, each sample


def test_injected_slowdown_spins_on_the_real_cpu_clock() -> None:
    """With the real clock a slowed sample is never cheaper than its work (a lower bound only: see above)."""
    records: dict[str, measure.BenchmarkRecord] = {}
    slowed = measure.Benchmark("t.py::test_slow", records, samples=3, min_sample_time=0.002,
                               slowdowns=measure.parse_slowdowns("test_slow=2"))
    slowed(work, 2000)
    record = records["t.py::test_slow"]
    assert record.slowdown == 2.0 and len(record.cpu) == 3 and all(cpu > 0 for cpu in record.cpu)


def test_each_name_is_measured_once() -> None:
    bench = measure.Benchmark("t.py::test_x", {}, samples=2, min_sample_time=0.001, slowdowns={})
    bench(busy, 0.0001, name="a")
    bench(busy, 0.0001, name="b")
    with pytest.raises(measure.MeasureError, match="measured twice"):
        bench(busy, 0.0001, name="a")


def test_metrics_must_be_finite_numbers() -> None:
    records: dict[str, measure.BenchmarkRecord] = {}
    bench = measure.Benchmark("t.py::test_x", records, samples=2, min_sample_time=0.001, slowdowns={})
    bench.metric("frames_per_second", 30.0, unit="fps")
    assert records["t.py::test_x"].metrics["frames_per_second"].value == 30.0
    with pytest.raises(measure.MeasureError, match="finite"):
        bench.metric("fps", float("nan"))
    with pytest.raises(measure.MeasureError, match="only known after"):
        _ = bench.median


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", {}), ("test_x=1.3", {"test_x": 1.3}), ("a=1.1, *stream*=2", {"a": 1.1, "*stream*": 2.0})],
)
def test_parse_slowdowns(raw: str, expected: dict[str, float]) -> None:
    assert measure.parse_slowdowns(raw) == expected


@pytest.mark.parametrize("raw", ["test_x", "test_x=0.5", "=1.2", "test_x=fast", "test_x=inf"])
def test_bad_slowdowns_are_one_clear_error(raw: str) -> None:
    with pytest.raises(measure.MeasureError, match="PATTERN=FACTOR"):
        measure.parse_slowdowns(raw)


def test_slowdown_patterns_match_the_full_id_or_the_test_name() -> None:
    factors = {"test_resize": 1.3}
    assert measure.slowdown_for("tests/performance/test_a.py::test_resize", factors) == 1.3
    assert measure.slowdown_for("tests/performance/test_a.py::test_other", factors) == 1.0
    assert measure.slowdown_for("x.py::test_stream[big]", {"*stream*": 2.0}) == 2.0


def test_bad_sample_count_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(measure.SAMPLES_ENV, "lots")
    with pytest.raises(measure.MeasureError, match="not a whole number"):
        measure.Benchmark("t.py::test_x", {})


def test_samples_file_round_trips(tmp_path: Path) -> None:
    record = measure.BenchmarkRecord(name="t.py::test_x", nodeid="t.py::test_x", loops=3, wall=[0.1, 0.2],
                                     cpu=[0.1, 0.1], peak_memory=[1000], metrics={"fps": measure.Metric(5.0, "fps")})
    path = tmp_path / "perf" / "performance.json"
    measure.write_samples(path, "performance", [record])
    document = json.loads(path.read_text())
    assert document["format"] == measure.SAMPLES_FORMAT and document["version"] == measure.SAMPLES_VERSION
    assert measure.record_from_dict(document["benchmarks"][0]) == record


@pytest.mark.parametrize(
    ("raw", "message"),
    [({}, "no 'name'"), ({"name": "x", "wall": "fast"}, "'wall' must be a list"),
     ({"name": "x", "wall": [float("inf")]}, "finite"), ({"name": "x", "metrics": {"fps": {}}}, "numeric")],
)
def test_record_from_dict_names_the_bad_field(raw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        measure.record_from_dict(raw)


def test_peak_memory_refuses_functions_a_fresh_process_cannot_import() -> None:
    with pytest.raises(measure.MeasureError, match="module-level function"):
        measure.measure_peak_memory(lambda: None)
