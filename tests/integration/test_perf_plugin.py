"""The perf fixture inside a real pytest process, and peak memory from a fresh process."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from doorbell_ci.perf import measure
from doorbell_ci.perf.compare import read_measurements

BENCHMARKS = '''
def spin(n):
    return sum(i * i for i in range(n))

def test_spin(perf):
    assert perf(spin, 2000) > 0
    perf.metric("calls_per_second", 1 / perf.median, unit="1/s")

def test_spin_named(perf):
    perf(spin, 500, name="small")
    perf(spin, 1000, name="large")

def test_not_a_benchmark():
    assert True
'''


def _pytest(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # never inherit an outer doorbell-ci run's variables (its perf output path, an injected slowdown),
    # nor the xdist worker id of the test process itself (the plugin would suffix the file name with it)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_CI_", "PYTEST_XDIST"))}
    full_env = {**inherited, **env}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],  # noqa: S603
                          cwd=project, env=full_env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_bench.py").write_text(BENCHMARKS)
    return tmp_path


@pytest.mark.parametrize("autoload", [True, False], ids=["installed", "only-importable"])
def test_every_suite_gets_the_fixture_once_whether_or_not_the_entry_point_loads(
        project: Path, tmp_path: Path, autoload: bool) -> None:
    """Suites load the progress plugin with -p, which brings the perf plugin along.

    With plugin autoloading off, pytest sees no pytest11 entry point: that is a container with
    doorbell-ci only on PYTHONPATH. With it on, the entry point and -p must not clash.
    """
    output = tmp_path / "out" / "perf" / "performance.json"
    env = {measure.OUTPUT_ENV: str(output), measure.SAMPLES_ENV: "3", measure.MIN_TIME_ENV: "0.001",
           "DOORBELL_CI_PROGRESS": str(tmp_path / "progress.jsonl")}
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    completed = _pytest(project, env, "-p", "doorbell_ci.progress_plugin")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    names = {record["name"] for record in json.loads(output.read_text())["benchmarks"]}
    assert "tests/test_bench.py::test_spin" in names
    assert (tmp_path / "progress.jsonl").stat().st_size > 0


def test_fixture_writes_raw_samples_where_the_environment_says(project: Path, tmp_path: Path) -> None:
    output = tmp_path / "out" / "perf" / "performance.json"
    env = {measure.OUTPUT_ENV: str(output), measure.SAMPLES_ENV: "12", measure.MIN_TIME_ENV: "0.005"}
    completed = _pytest(project, env)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    document = json.loads(output.read_text())
    assert document["format"] == measure.SAMPLES_FORMAT
    records = {record["name"]: record for record in document["benchmarks"]}
    assert set(records) == {"tests/test_bench.py::test_spin", "tests/test_bench.py::test_spin_named::small",
                            "tests/test_bench.py::test_spin_named::large"}
    spin = records["tests/test_bench.py::test_spin"]
    assert len(spin["wall"]) == len(spin["cpu"]) == 12
    # calibrated to the 5 ms sample time: loops were raised to reach it (one call is ~50 us). Checked on the
    # slowest sample, since load that eases after calibration makes later samples legitimately shorter
    assert spin["loops"] > 1 and spin["loops"] * max(spin["wall"]) >= 0.005 * 0.9
    assert spin["metrics"]["calls_per_second"]["unit"] == "1/s"
    assert set(read_measurements(tmp_path / "out").records) == set(records)


def test_nothing_is_written_without_an_output_path_or_without_benchmarks(project: Path, tmp_path: Path) -> None:
    completed = _pytest(project, {measure.MIN_TIME_ENV: "0.002", measure.SAMPLES_ENV: "3"})
    assert completed.returncode == 0
    output = tmp_path / "out" / "perf" / "unit.json"
    completed = _pytest(project, {measure.OUTPUT_ENV: str(output)}, "-k", "not_a_benchmark")
    assert completed.returncode == 0 and not output.exists()


def test_injected_slowdown_reaches_only_the_named_benchmark(project: Path, tmp_path: Path) -> None:
    output = tmp_path / "perf.json"
    env = {measure.OUTPUT_ENV: str(output), measure.SAMPLES_ENV: "5", measure.MIN_TIME_ENV: "0.005",
           measure.SLOWDOWN_ENV: "test_spin=1.5"}
    assert _pytest(project, env).returncode == 0
    records = {r["name"]: r for r in json.loads(output.read_text())["benchmarks"]}
    assert records["tests/test_bench.py::test_spin"]["slowdown"] == 1.5
    assert records["tests/test_bench.py::test_spin_named::small"]["slowdown"] == 1.0


def test_a_bad_slowdown_variable_fails_the_benchmark_with_one_clear_line(project: Path, tmp_path: Path) -> None:
    completed = _pytest(project, {measure.SLOWDOWN_ENV: "test_spin=slow"}, "-k", "test_spin and not named")
    assert completed.returncode == 1
    assert "PATTERN=FACTOR" in completed.stdout


ALLOCATORS = '''
import time

def allocate_briefly(megabytes, seconds):
    block = bytearray(megabytes * 1024 * 1024)
    for index in range(0, len(block), 4096):  # touch every page so it is really resident
        block[index] = 1
    time.sleep(seconds)
    del block

def allocate_nothing(megabytes, seconds):
    time.sleep(seconds)
'''


def test_peak_memory_catches_a_50_mb_block_that_lives_10_ms(tmp_path: Path) -> None:
    module_path = tmp_path / "doorbell_peak_allocators.py"
    module_path.write_text(textwrap.dedent(ALLOCATORS))
    spec = importlib.util.spec_from_file_location("doorbell_peak_allocators", module_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["doorbell_peak_allocators"] = module
    try:
        spec.loader.exec_module(module)
        with_block = measure.measure_peak_memory(module.allocate_briefly, (50, 0.010))
        without = measure.measure_peak_memory(module.allocate_nothing, (50, 0.010))
    finally:
        sys.modules.pop("doorbell_peak_allocators", None)
    assert with_block - without >= 45 * 1024 * 1024


def test_peak_memory_of_a_failing_function_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(measure.MeasureError, match="fresh process failed"):
        measure.measure_peak_memory(int, ("not a number",))


def test_pytest_benchmark_results_are_written_next_to_ours(tmp_path: Path) -> None:
    pytest.importorskip("pytest_benchmark", reason="pytest-benchmark is optional; the ingest is for its users")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_pb.py").write_text(
        "def test_sum(benchmark):\n    benchmark.pedantic(sum, args=(range(2000),), rounds=15, iterations=3)\n")
    output = tmp_path / "out" / "perf" / "performance.json"
    completed = _pytest(tmp_path, {measure.OUTPUT_ENV: str(output)})
    assert completed.returncode == 0, completed.stdout
    measured = read_measurements(tmp_path / "out")
    record = measured.records["tests/test_pb.py::test_sum"]
    assert len(record.wall) == 15 and record.loops == 3
