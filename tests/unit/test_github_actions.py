"""Workflow commands, step outputs and the job summary: what the runner reads from us."""

from __future__ import annotations

import io
import re
from pathlib import Path

from doorbell_ci.github import actions
from doorbell_ci.github.limits import STEP_SUMMARY_BYTES, fit, utf8_size
from doorbell_ci.results import Outcome, TestResult


def parse_outputs(text: str) -> dict[str, str]:
    """Read $GITHUB_OUTPUT the way the runner does (name<<DELIMITER ... DELIMITER)."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        name, delimiter = line.split("<<", 1)
        body = []
        for inner in lines:
            if inner == delimiter:
                break
            body.append(inner)
        values[name] = "\n".join(body)
    return values


def test_outputs_survive_newlines_and_lookalike_delimiters(tmp_path: Path) -> None:
    target = tmp_path / "output"
    actions.write_outputs({"status": "passed", "passed": 3, "note": "two\nlines\nEOF", "coverage": None}, target)
    assert parse_outputs(target.read_text(encoding="utf-8")) == {
        "status": "passed", "passed": "3", "note": "two\nlines\nEOF", "coverage": ""}


def test_commands_escape_what_could_end_them_early() -> None:
    stream = io.StringIO()
    actions.command("error", "50% failed\n::warning::forged", stream, file="a,b.py", line=3, title="x: y")
    line = stream.getvalue()
    assert line == "::error file=a%2Cb.py,line=3,title=x%3A y::50%25 failed%0A::warning::forged\n"
    assert line.count("\n") == 1  # one command, not two


def test_group_wraps_and_always_closes() -> None:
    stream = io.StringIO()
    try:
        with actions.group("unit: failed", stream):
            print("log line", file=stream)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert stream.getvalue().splitlines() == ["::group::unit: failed", "log line", "::endgroup::"]


def test_add_mask() -> None:
    stream = io.StringIO()
    actions.add_mask("ghs_secret", stream)
    actions.add_mask("", stream)
    assert stream.getvalue() == "::add-mask::ghs_secret\n"


def test_error_annotations_name_file_and_line_and_stop_at_githubs_ten() -> None:
    tests = [TestResult(suite="unit", name=f"test_{i}", classname="tests.unit.test_a", outcome=Outcome.FAILED,
                        file="tests/unit/test_a.py", line=i + 1, message=f"assert {i}") for i in range(12)]
    stream = io.StringIO()
    shown = actions.error_annotations(tests, stream)
    lines = stream.getvalue().splitlines()
    assert shown == 10
    assert lines[0] == ("::error file=tests/unit/test_a.py,line=1,"
                        "title=unit%3A tests/unit/test_a.py%3A%3Atest_0::assert 0")
    assert sum(line.startswith("::error ") for line in lines) == 10
    assert lines[-1].startswith("::notice::2 more failing tests")


def test_step_summary_fits_the_room_left_in_this_steps_file(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("x" * (STEP_SUMMARY_BYTES - 10_000), encoding="utf-8")  # an earlier writer in this step
    written = actions.write_step_summary("## doorbell-ci\n" + "é" * 50_000, summary, "https://example/run/1")
    assert written is not None and written < 10_000
    assert summary.stat().st_size <= STEP_SUMMARY_BYTES
    assert summary.read_text(encoding="utf-8").rstrip().endswith("report.html in https://example/run/1)")


def test_a_step_summary_over_1_mib_is_cut_not_dropped(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    actions.write_step_summary("| row |\n" * 300_000, summary)  # 2.4 MB
    assert 900_000 < summary.stat().st_size <= STEP_SUMMARY_BYTES


def test_outside_actions_nothing_is_written(monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    assert actions.write_step_summary("hello") is None
    actions.write_outputs({"a": 1})  # no file, no error


def test_fit_never_leaves_a_code_fence_open() -> None:
    text = "intro\n```text\n" + "line\n" * 10_000 + "```\n"
    cut = fit(text, 2_000, None)
    assert utf8_size(cut) <= 2_000
    assert len(re.findall("```", cut)) % 2 == 0
