"""Hostile performance input: samples and baseline files that try to break the reports or the decision."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from doorbell_ci.config import load_config
from doorbell_ci.errors import PerfError
from doorbell_ci.perf import baselines, compare, measure
from doorbell_ci.reports import html, markdown
from doorbell_ci.results import RunResult

PLATFORM = {"os": "linux", "arch": "x86_64", "python": "3.11.7", "cpu_model": "CPU", "runner_label": ""}
HOSTILE = 'tests/p.py::test_x[<script>alert(1)</script>|"]'


def _config(tmp_path: Path):
    (tmp_path / "project").mkdir(exist_ok=True)
    return load_config(tmp_path / "project", environ={})


def test_a_hostile_benchmark_name_stays_text_in_html_and_markdown(tmp_path: Path) -> None:
    record = measure.BenchmarkRecord(name=HOSTILE, nodeid=HOSTILE, loops=1, wall=[0.01] * 12, cpu=[0.01] * 12,
                                     metrics={"<b>fps</b>": measure.Metric(3.0, "<i>u</i>")})
    measure.write_samples(tmp_path / "out" / "perf" / "performance.json", "performance", [record])
    section, _ = compare.compare(_config(tmp_path), tmp_path / "out", PLATFORM, {}, environ={})
    run = RunResult(run_id="r", project="p", started_at="t", finished_at="t", duration=1.0, suites=[],
                    performance=section)
    page = html.render(run)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<b>fps</b>" not in page and "<i>u</i>" not in page
    summary = markdown.render(run)
    table_row = next(line for line in summary.splitlines() if "alert(1)" in line)
    assert "\\|" in table_row  # the pipe cannot open a new table cell


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-1", '"fast"', "true"])
def test_non_numeric_or_negative_timings_in_a_baseline_are_refused(tmp_path: Path, value: str) -> None:
    key = baselines.platform_key(PLATFORM)
    text = ('{"format": "doorbell-ci-baseline", "version": 1, "updated_at": "t", "platform": '
            + json.dumps(key.as_dict()) + ', "latest": {"benchmarks": {}}, "history": [{"medians": {"b": '
            + value + "}}]}")
    path = baselines.path_for(tmp_path, key)
    path.write_text(text)
    with pytest.raises(PerfError, match="medians|is not a JSON number"):  # NaN/Infinity: refused by the parser
        baselines.read(path)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-0.5", '"x"'])
def test_non_numeric_samples_are_left_out_with_a_notice(tmp_path: Path, value: str) -> None:
    folder = tmp_path / "perf"
    folder.mkdir()
    (folder / "performance.json").write_text(
        '{"format": "doorbell-ci-perf-samples", "version": 1, "benchmarks": [{"name": "b", "wall": [' + value + "]}]}")
    measured = compare.read_measurements(tmp_path)
    assert measured.records == {} and len(measured.problems) == 1


def test_a_huge_history_is_trimmed_to_64_on_update(tmp_path: Path) -> None:
    key = baselines.platform_key(PLATFORM)
    entry = {"commit": "c", "time": "t", "medians": {"b": 0.01}}
    document = {"format": "doorbell-ci-baseline", "version": 1, "updated_at": "t", "platform": key.as_dict(),
                "latest": {"benchmarks": {}}, "history": [entry] * 5000}
    baselines.path_for(tmp_path, key).write_text(json.dumps(document))
    path = baselines.update(tmp_path, key, {"b": {"wall": [0.01], "cpu": [], "peak_memory": []}}, "new", "r")
    assert len(baselines.read(path).history) == 64


def test_a_baseline_platform_with_non_string_fields_is_refused(tmp_path: Path) -> None:
    key = baselines.platform_key(PLATFORM)
    document = {"format": "doorbell-ci-baseline", "version": 1, "updated_at": "t",
                "platform": {**key.as_dict(), "os": {"$ne": 1}}, "latest": {"benchmarks": {}}, "history": []}
    path = baselines.path_for(tmp_path, key)
    path.write_text(json.dumps(document))
    with pytest.raises(PerfError, match="platform"):
        baselines.read(path)


def test_a_platform_key_cannot_climb_out_of_the_baseline_folder(tmp_path: Path) -> None:
    key = baselines.platform_key({"os": "../../etc", "arch": "x/../../y", "python": "3.11", "cpu_model": "a\\b",
                                  "runner_label": "..\\..\\evil"})
    path = baselines.path_for(tmp_path, key)
    assert path.parent == tmp_path and "/" not in key.slug and "\\" not in key.slug and ".." not in key.slug


def test_git_refs_that_look_like_options_are_refused(tmp_path: Path) -> None:
    from doorbell_ci.errors import ConfigError

    for bad in ("--upload-pack=evil", "main..evil", "a b"):
        with pytest.raises(ConfigError, match="git ref"):
            load_config(_config(tmp_path).project, {"perf_base": bad}, environ={})


def test_a_bad_perf_mode_from_the_environment_is_one_config_error(tmp_path: Path) -> None:
    from doorbell_ci.errors import ConfigError

    config = _config(tmp_path)
    with pytest.raises(ConfigError, match="DOORBELL_CI_PERF_MODE"):
        load_config(config.project, environ={"DOORBELL_CI_PERF_MODE": "fastest"})
    assert replace(config, perf_mode="off").perf_mode == "off"
