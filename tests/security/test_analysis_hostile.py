"""Hostile input to the analysis, sharding and merge: damaged reports, control characters, markup, NaN."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from doorbell_ci.analysis import analyse, render
from doorbell_ci.cli import main
from doorbell_ci.errors import ConfigError
from doorbell_ci.merge import merge
from doorbell_ci.reports import json_report, markdown
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult
from doorbell_ci.sharding import load_durations

EVIL_NAME = "test_x[<img src=x onerror=alert(1)> @everyone \x1b]0;pwned\x07 [link](https://evil.example)]"


def write_run(folder: Path, name: str = "test_x", analysis: object = None) -> Path:
    test = TestResult(suite="unit", name=name, classname="tests.unit.test_a", file="tests/unit/test_a.py",
                      outcome=Outcome.FAILED, message="ValueError: \x1b[2J boom", details="E   ValueError: boom")
    run = RunResult(run_id="r", project=str(folder), started_at="", finished_at="", duration=1.0,
                    suites=[SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=[test])])
    folder.mkdir(parents=True, exist_ok=True)
    json_report.write(run, folder, 1)
    if analysis is not None:
        document = json.loads((folder / "report.json").read_text())
        document["analysis"] = analysis
        (folder / "report.json").write_text(json.dumps(document))
    return folder


GARBAGE_SECTIONS = [
    [1, 2, 3],
    "analysis",
    {"history": ["P"], "reruns": [], "failures": "x", "shard": [1], "against": "nowhere"},
    {"history": {"k": 5}, "reruns": {"max": "9", "attempts": {"k": "passed"}}, "failures": [None, {"key": 1}],
     "groups": [{"count": "x"}], "new": 3, "flaky": [1]},
]


@pytest.mark.parametrize("section", GARBAGE_SECTIONS)
def test_analyze_survives_a_damaged_analysis_section(tmp_path: Path, section: object,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_run(tmp_path / "r", analysis=section)
    assert main(["analyze", str(folder)]) == 0
    assert "1 failures in 1 groups" in capsys.readouterr().out


@pytest.mark.parametrize("section", GARBAGE_SECTIONS)
def test_report_rerender_survives_a_damaged_analysis_section(tmp_path: Path, section: object) -> None:
    folder = write_run(tmp_path / "r", analysis=section)
    assert main(["report", str(folder)]) == 1
    assert (folder / "summary.md").is_file()


@pytest.mark.parametrize("section", GARBAGE_SECTIONS)
def test_merge_survives_damaged_analysis_sections(tmp_path: Path, section: object) -> None:
    result, _ = merge([write_run(tmp_path / "a", analysis=section), write_run(tmp_path / "b", "test_y")],
                      tmp_path / "merged")
    assert result.counts.failed == 2


def test_terminal_output_carries_no_control_sequences(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "r", EVIL_NAME)
    run, _ = json_report.read(folder)
    text = render.terminal(analyse(run, history={}), {"unit::x": ("\x1b[31mred\x07", "")})
    assert "\x1b" not in text and "\x07" not in text


def test_summary_markup_from_test_names_stays_text(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", "test_other")
    run, _ = json_report.read(write_run(tmp_path / "head", EVIL_NAME))
    base_run, _ = json_report.read(base)
    run.analysis = analyse(run, history={}, base=base_run, base_source="base")
    text = markdown.render(run)
    new_section = text.split("New failures (1)")[1].split("| Suite |")[0]
    assert "reproduce: `" in new_section
    new_section = re.sub(r"(`+).*?\1", "", new_section)  # inside a code span markup is shown, not rendered
    assert "<img" not in new_section and "@everyone" not in new_section and "](https://" not in new_section


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_durations_are_refused(tmp_path: Path, value: str) -> None:
    path = tmp_path / "durations.json"
    path.write_text('{"tests/unit/test_a.py::test_x": ' + value + "}")
    with pytest.raises(ConfigError, match="is not readable JSON: holds"):  # refused by the strict reader (jsonsafe)
        load_durations(path)


def test_a_bad_shard_value_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--project", str(tmp_path), "--shard", "5/4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "shard" in err and "K must be between 1 and N" in err


@pytest.mark.parametrize("section", GARBAGE_SECTIONS)
def test_html_report_survives_a_damaged_analysis_section(tmp_path: Path, section: object) -> None:
    from doorbell_ci.reports import html

    run, _ = json_report.read(write_run(tmp_path / "r", analysis=section))
    assert 'id="analysis"' in html.render(run)


def test_html_analysis_is_escaped(tmp_path: Path) -> None:
    from doorbell_ci.reports import html

    run, _ = json_report.read(write_run(tmp_path / "head", EVIL_NAME))
    base_run, _ = json_report.read(write_run(tmp_path / "base", "test_other"))
    run.analysis = analyse(run, history={}, base=base_run, base_source="<b>base</b>")
    page = html.render(run)
    assert "<img src=x" not in page and "<b>base</b>" not in page and "&lt;b&gt;base&lt;/b&gt;" in page
