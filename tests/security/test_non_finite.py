"""Non-finite numbers (NaN, Infinity, 1e999) are refused by every reader and never written.

Python's json module reads and writes them although JSON has none; the mechanism under test is
``doorbell_ci.jsonsafe``, which every reader and writer of run data goes through.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from doorbell_ci import jsonsafe
from doorbell_ci.errors import ConfigError, PerfError, ReportError
from doorbell_ci.perf import baselines, compare, measure
from doorbell_ci.reports import json_report
from tests.unit._report_samples import sample_run

# Each spelling Python's json accepts for a number that is not finite, and integers no float can hold.
NON_FINITE = ["Infinity", "-Infinity", "NaN", "1e999", "-1e400", "1" + "0" * 400]
PLATFORM = {"os": "linux", "arch": "x86_64", "python": "3.11.7", "cpu_model": "CPU", "runner_label": ""}


def _strict(text: str) -> Any:
    """What jq, JavaScript or GitHub would accept: no NaN / Infinity constants, no float overflow."""
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in JSON")
    return json.loads(text, parse_constant=refuse)


def _pytest_benchmark_json(value: str) -> str:
    """pytest-benchmark's --benchmark-json layout (it writes with Python's json, so Infinity goes out as is)."""
    return ('{"machine_info": {}, "benchmarks": [{"name": "test_ring", "fullname": "tests/p.py::test_ring", '
            '"stats": {"min": 0.001, "median": 0.001, "iterations": 1, "data": [0.001, ' + value + ', 0.001]}}]}')


@pytest.mark.parametrize("value", NON_FINITE, ids=lambda value: value[:12])
def test_a_non_finite_timing_in_pytest_benchmark_json_is_left_out_with_the_reason(tmp_path: Path, value: str) -> None:
    (tmp_path / "perf").mkdir()
    (tmp_path / "perf" / f"performance{measure.PYTEST_BENCHMARK_SUFFIX}").write_text(_pytest_benchmark_json(value))
    measured = compare.read_measurements(tmp_path)
    assert measured.records == {}
    assert len(measured.problems) == 1 and "\n" not in measured.problems[0]
    assert any(word in measured.problems[0] for word in ("not a JSON number", "overflows", "not finite"))


@pytest.mark.parametrize("field", ["wall", "cpu", "peak_memory", "metric", "slowdown"])
@pytest.mark.parametrize("value", ["Infinity", "1e999", "1" + "0" * 400], ids=lambda value: value[:12])
def test_a_non_finite_number_in_our_own_samples_file_is_refused(tmp_path: Path, field: str, value: str) -> None:
    entry = {"wall": "[0.01]", "cpu": "[0.01]", "peak_memory": "[1]", "metric": "1.0", "slowdown": "1.0"}
    entry[field] = f"[{value}]" if field in ("wall", "cpu", "peak_memory") else value
    (tmp_path / "perf").mkdir()
    (tmp_path / "perf" / "performance.json").write_text(
        '{"format": "doorbell-ci-perf-samples", "version": 1, "benchmarks": [{"name": "b", "loops": 1, '
        f'"wall": {entry["wall"]}, "cpu": {entry["cpu"]}, "peak_memory": {entry["peak_memory"]}, '
        f'"metrics": {{"fps": {{"value": {entry["metric"]}}}}}, "slowdown": {entry["slowdown"]}}}]}}')
    measured = compare.read_measurements(tmp_path)
    assert measured.records == {} and len(measured.problems) == 1


@pytest.mark.parametrize("value", ["Infinity", "NaN", "1e999"])
def test_baseline_update_never_writes_a_file_its_own_reader_refuses(tmp_path: Path, value: str) -> None:
    """The reported attack: Infinity in pytest-benchmark JSON became a baseline that switched the gate off."""
    results = tmp_path / "results"
    json_report.write(replace(sample_run(), platform=PLATFORM), results)
    (results / "perf").mkdir()
    (results / "perf" / f"performance{measure.PYTEST_BENCHMARK_SUFFIX}").write_text(_pytest_benchmark_json(value))
    good = measure.BenchmarkRecord(name="tests/p.py::test_ok", nodeid="tests/p.py::test_ok", loops=1,
                                   wall=[0.01] * 5, cpu=[0.01] * 5)
    measure.write_samples(results / "perf" / "other.json", "other", [good])
    folder = tmp_path / "baselines"
    done = subprocess.run([sys.executable, "-m", "doorbell_ci", "baseline", "update", str(results),
                           "--baseline-dir", str(folder), "--commit", "abc"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "left out" in done.stdout and "test_ring" not in "".join(p.read_text() for p in folder.glob("*.json"))
    (written,) = folder.glob("*.json")
    _strict(written.read_text())
    assert set(baselines.read(written).latest["benchmarks"]) == {"tests/p.py::test_ok"}


def test_baselines_update_refuses_to_write_a_non_finite_number(tmp_path: Path) -> None:
    key = baselines.platform_key(PLATFORM)
    for bad in ({"wall": [0.01], "metrics": {"fps": {"value": float("inf")}}}, {"wall": [float("nan")]}):
        with pytest.raises(PerfError, match="non-finite"):
            baselines.update(tmp_path, key, {"b": bad}, "abc", "run")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN", "1e999"])
def test_report_json_with_a_non_finite_number_is_refused_by_every_reader(tmp_path: Path, value: str) -> None:
    json_report.write(sample_run(), tmp_path)
    path = tmp_path / "report.json"
    path.write_text(path.read_text().replace('"duration_seconds":9.5', f'"duration_seconds":{value}', 1))
    assert value in path.read_text()
    with pytest.raises(ReportError, match="not readable JSON") as caught:
        json_report.read(path)
    assert "\n" not in str(caught.value)
    from doorbell_ci.sharding import load_durations

    with pytest.raises(ConfigError):
        load_durations(path)
    environ = {k: v for k, v in os.environ.items() if "TOKEN" not in k and not k.startswith("GITHUB_")}
    for argv in (["report", str(tmp_path)], ["merge", str(tmp_path), "--output-dir", str(tmp_path / "m")],
                 ["publish", str(tmp_path)], ["analyze", str(tmp_path)]):
        done = subprocess.run([sys.executable, "-m", "doorbell_ci", *argv], capture_output=True, text=True,
                              timeout=120, check=False, env=environ)
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        assert "readable" in done.stdout + done.stderr  # report: "not readable JSON: holds Infinity"


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_report_json_is_always_strict_json_and_says_where_a_non_finite_number_was(tmp_path: Path, bad: float) -> None:
    """A non-finite number reaching the writer from any stage becomes null with a notice; the report is kept."""
    run = sample_run()
    run.suites[0].tests[0].duration = bad
    run.performance = {"rows": [{"ratio": bad}]}
    json_report.write(run, tmp_path, exit_code=1)
    document = _strict((tmp_path / "report.json").read_text())
    assert document["suites"][0]["tests"][0]["duration"] is None
    assert any("non-finite" in notice and "performance" in notice for notice in document["notices"])
    assert document["totals"]["failed"] == 1


def test_the_strict_writer_and_reader_refuse_every_form() -> None:
    for value in (float("inf"), float("-inf"), float("nan")):
        with pytest.raises(ValueError):
            jsonsafe.dumps({"x": [value]})
    for text in NON_FINITE:
        with pytest.raises(ValueError):
            jsonsafe.loads(f'{{"x": {text}}}')
    assert jsonsafe.loads('{"x": 1.5e300, "y": -0.0}') == {"x": 1.5e300, "y": -0.0}


def test_a_report_whose_non_finite_numbers_became_null_still_renders(tmp_path: Path) -> None:
    """`doorbell-ci report` re-renders from report.json: a null where a NaN was must not break a page."""
    from doorbell_ci.config import load_config
    from doorbell_ci.reports import html, markdown

    record = measure.BenchmarkRecord(name="tests/p.py::test_x", nodeid="tests/p.py::test_x", loops=1,
                                     wall=[0.01] * 12, cpu=[0.01] * 12)
    measure.write_samples(tmp_path / "out" / "perf" / "performance.json", "performance", [record])
    (tmp_path / "project").mkdir()
    section, _ = compare.compare(load_config(tmp_path / "project", environ={}), tmp_path / "out", PLATFORM, {},
                                 environ={})
    assert section is not None
    for row in section["benchmarks"]:
        row.update({"ratio": 1.02, "ci": [float("nan"), float("inf")], "p_value": float("nan"),
                    "base_median": float("inf"), "head_median": float("nan"), "cv": float("nan"),
                    "trend": [1.0, float("nan")], "verdict": "unchanged"})
    run = replace(sample_run(), performance=section)
    json_report.write(run, tmp_path / "report")
    again, _ = json_report.read(tmp_path / "report")
    assert "tests/p.py::test_x" in html.render(again) and "tests/p.py::test_x" in markdown.render(again)
