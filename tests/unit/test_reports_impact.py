"""The test selection (RunResult.impact) in every report: console, report.html, summary.md, PR comment, check run.

Each test builds a real RunResult, writes the real report.json and re-renders from it, the way
``doorbell-ci report DIR`` and the publish job see it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from doorbell_ci.github.publish import publish
from doorbell_ci.impact import summary_line
from doorbell_ci.reports import html, json_report, markdown, write_all
from doorbell_ci.reports.console import print_summary
from doorbell_ci.reports.impact_view import console_lines
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult
from tests.unit.test_github_api import CHECK_RUNS, actions_env, client_for, context_for  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]


def selection(**changes: object) -> dict[str, object]:
    impact: dict[str, object] = {
        "mode": "affected",
        "map": {"commit": "a" * 40, "platform_key": "Linux-x86_64-py3.12", "source": "history/impact.json.gz",
                "created_at": "2026-12-01T10:00:00+00:00"},
        "full_run_reason": None,
        "base": "a" * 40, "head": "b" * 40,
        "changed": [{"path": "src/doorbell/faces.py", "kind": "modified", "lines": [[40, 72], [90, 90]]},
                    {"path": "tests/unit/test_new.py", "kind": "added", "lines": []}],
        "selected": 412, "total": 3120,
        "reasons": {"changed_code": 400, "new_test_file": 3, "modified_test_file": 0, "no_map_entry": 9,
                    "recent_failure": 0},
        "deselected": [f"unit::tests/unit/test_other.py::test_{i}" for i in range(2708)],
        "missed": [],
        "recorded": None,
        "notices": [],
    }
    impact.update(changes)
    return impact


def run_with(impact: dict[str, object] | None, failed: tuple[str, ...] = ()) -> RunResult:
    tests = [TestResult("unit", "test_face", "tests.unit.test_faces", Outcome.PASSED, 0.1, "tests/unit/test_faces.py")]
    tests += [TestResult("unit", name, "tests.unit.test_other", Outcome.FAILED, 0.1, "tests/unit/test_other.py",
                         message="assert False") for name in failed]
    status = SuiteStatus.FAILED if failed else SuiteStatus.PASSED
    suite = SuiteResult("unit", status, tests, exit_code=1 if failed else 0)
    return RunResult(run_id="r-impact", project="/work/doorbell", started_at="2026-12-02T10:00:00+00:00",
                     finished_at="2026-12-02T10:00:05+00:00", duration=5.0, suites=[suite], impact=impact)


def test_the_one_line_names_counts_changed_lines_and_new_tests() -> None:
    assert summary_line(selection()) == ("412 of 3,120 tests selected; changed src/doorbell/faces.py:40-72,90, "
                                         "tests/unit/test_new.py (added), 12 tests new")  # 3 in new files, 9 unmapped
    assert summary_line(selection(full_run_reason="conftest.py changed (coverage cannot see fixtures)")) == \
        "all 3,120 tests: conftest.py changed (coverage cannot see fixtures)"
    many = [{"path": f"src/m{i}.py", "kind": "modified", "lines": [[1, 2]]} for i in range(5)]
    assert summary_line(selection(changed=many, reasons={})) == \
        "412 of 3,120 tests selected; changed src/m0.py:1-2, src/m1.py:1-2, src/m2.py:1-2 and 2 more"
    assert summary_line(selection(changed=[], reasons={})) == "412 of 3,120 tests selected; nothing changed"
    assert summary_line(None) == "" and summary_line({"mode": "all"}) == "all tests (--select all)"
    unlisted = selection(total=0, selected=0, full_run_reason="the tests could not be listed")
    assert summary_line(unlisted) == "all tests: the tests could not be listed"


def test_audit_says_what_the_selection_would_have_missed_first() -> None:
    line = summary_line(selection(mode="audit", missed=["unit::tests/unit/test_other.py::test_7"]))
    assert line.startswith("selection would have missed 1 failing test(s); audit: all 3,120 tests ran, "
                           "--select affected would have run 412; changed src/doorbell/faces.py:40-72,90")


def test_odd_fields_from_a_hand_edited_report_read_as_absent() -> None:
    odd = {"mode": "affected", "selected": "many", "total": True, "changed": [{"path": 3}, "x", {"path": "a.py",
           "lines": [["1", 2], [5, 6, 7], [8, 9]]}], "reasons": {"changed_code": -1, "made_up": 2},
           "deselected": "all", "missed": [1, "unit::t"]}
    assert summary_line(odd) == "selection would have missed 1 failing test(s); all tests (--select all)"
    odd["total"] = 7
    assert summary_line(odd) == "selection would have missed 1 failing test(s); ? of 7 tests selected; changed a.py:8-9"
    page = html.render(run_with(odd))
    assert "made up" in page and "unit::t" in page


def test_report_json_keeps_the_impact_and_drops_a_non_object(tmp_path: Path) -> None:
    run = run_with(selection())
    json_report.write(run, tmp_path, exit_code=0)
    again, document = json_report.read(tmp_path)
    assert again.impact == run.impact and again == run
    assert len(document["impact"]["deselected"]) == 2708
    document["impact"] = ["not", "an", "object"]
    (tmp_path / "report.json").write_text(json.dumps(document), encoding="utf-8")
    assert json_report.read(tmp_path)[0].impact is None  # the rest of the run is still read
    json_report.write(run_with(None), tmp_path)
    assert json_report.read(tmp_path)[0].impact is None  # a run without selection, and every older report.json


def test_console_summary_shows_the_line_and_details(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    print_summary(run_with(selection()), tmp_path, full_reports=True)
    out = capsys.readouterr().out
    assert "  selection: 412 of 3,120 tests selected; changed src/doorbell/faces.py:40-72,90" in out
    assert "    changed: src/doorbell/faces.py:40-72,90, tests/unit/test_new.py (added)" in out
    assert "    why: 400 ran changed code, 3 in a new test file, 9 not in the impact map" in out
    assert "    not run: 2,708 tests (listed in report.json)" in out
    assert "test_other.py::test_5" not in out  # the list is in report.json, not the terminal


def test_an_audit_miss_is_shown_as_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lost = "unit::tests/unit/test_other.py::test_7"
    run = run_with(selection(mode="audit", missed=[lost]), failed=("test_7",))
    print_summary(run, tmp_path, full_reports=True)
    out = capsys.readouterr().out
    assert "  selection: selection would have missed 1 failing test(s); audit: all 3,120 tests ran" in out
    assert f"    MISSED: {lost}" in out and "    would not have run: 2,708 tests" in out
    write_all(run, tmp_path, exit_code=1)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    section = page.split('<h2 id="selection">Test selection (audit)</h2>', 1)[1]
    missed_block = section.split('<div class="failure missed">', 1)[1].split("</div>", 1)[0]
    assert "would have missed 1 failing test" in missed_block and f"<li><code>{lost}</code></li>" in missed_block
    assert "2708 tests would not have run" in section and "<b>412/3120</b></a>would be selected" in page
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "**Test selection:** selection would have missed 1 failing test\\(s\\); audit:" in summary
    assert f"**Missed by the selection (1):**\n\n- ❌ `{lost}`" in summary


def test_report_command_re_renders_the_section_from_report_json(tmp_path: Path) -> None:
    """``doorbell-ci report DIR`` in a real subprocess: report.html and summary.md come back with the selection."""
    json_report.write(run_with(selection(deselected=[f"unit::t{i}<b>" for i in range(6000)])), tmp_path, exit_code=0)
    subprocess.run([sys.executable, "-m", "doorbell_ci", "report", str(tmp_path)], check=True, cwd=ROOT,
                   capture_output=True, timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    section = page.split('<h2 id="selection">', 1)[1].split("<h2 ", 1)[0]
    assert "412 of 3120 tests" in section and "<b>412/3120</b>" in page
    assert "<td><code>src/doorbell/faces.py</code></td><td>modified</td><td>40-72, 90</td>" in section
    assert "<td>in a new test file</td><td class=\"num\">3</td>" in section
    assert '<details class="deselected"><summary>6000 tests not run</summary>' in section  # collapsed
    assert section.count("<li><code>unit::t") == 5000 and "1000 more in report.json" in section
    assert "unit::t1&lt;b&gt;" in section and "unit::t1<b>" not in section  # escaped
    assert "Linux-x86_64-py3.12" in section
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "**Test selection:** 412 of 3,120 tests selected; changed src/doorbell/faces.py:40-72,90" in summary
    assert "Selected because they ran changed code (400), in a new test file (3), not in the impact map (9)." in summary
    assert "<details><summary>6,000 tests not run</summary>" in summary and summary.count("`unit::t") == 10


def test_a_fallback_shows_its_reason_and_no_deselected_list(tmp_path: Path) -> None:
    run = run_with(selection(full_run_reason="the map was recorded on Linux-aarch64-py3.12", selected=3120,
                             deselected=[], reasons={}))
    write_all(run, tmp_path, exit_code=0)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert '<div class="notice">Every test ran: the map was recorded on Linux-aarch64-py3.12</div>' in page
    assert 'class="deselected"' not in page
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "**Test selection:** all 3,120 tests: the map was recorded on Linux-aarch64-py3.12" in summary
    assert "not run</summary>" not in summary


def test_a_run_without_selection_renders_as_before(tmp_path: Path) -> None:
    write_all(run_with(None), tmp_path, exit_code=0)
    assert 'id="selection"' not in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Test selection" not in (tmp_path / "summary.md").read_text(encoding="utf-8")


def test_recording_only_is_one_line_without_a_section() -> None:
    recorded = {"path": "impact.json.gz", "tests": 3120, "files": 88, "bytes": 41_000}
    run = run_with({"mode": "all", "recorded": recorded})
    summary = markdown.render(run)
    assert "**Test selection:** all tests \\(--select all\\); impact map recorded \\(3,120 tests\\)" in summary
    assert "### Test selection" not in summary
    assert "impact.json.gz</code>: 3120 tests, 88 files, 40.0 KiB" in html.render(run)


def test_the_markdown_never_inlines_a_huge_deselected_list() -> None:
    """200,000 deselected ids of 120 characters: the summary (the PR comment and check run) stays small."""
    names = [f"unit::tests/unit/test_generated.py::test_case[{'x' * 80}-{i}]" for i in range(200_000)]
    changed = [{"path": f"src/pkg/module_{i}.py", "kind": "modified", "lines": [[i, i + 3]]} for i in range(3000)]
    run = run_with(selection(deselected=names, changed=changed, missed=names[:500], mode="audit"))
    text = markdown.render(run, limit=60_000)
    assert len(text) <= 60_000 and "cut to fit" not in text
    assert sum(name in text for name in names[500:]) <= 10
    assert "200,000 tests would not have run" in text and "and 2980 more in report.html" in text
    assert "… and 480 more" in text  # the missed list is bounded too


def test_check_run_title_and_comment_say_how_much_ran(double, tmp_path: Path, actions_env) -> None:  # noqa: F811
    context = context_for(double, tmp_path)
    run = run_with(selection(deselected=[f"unit::tests/t.py::test_{i}" for i in range(100_000)]))
    report = publish(run, tmp_path, 0, context, comment_mode="always", check_run=True, check_name="doorbell-ci",
                     client=client_for(context))
    assert report.comment == "created on #7" and report.check_run.startswith("created")
    output = double.requests_to("POST", CHECK_RUNS)[0].body["output"]
    assert output["title"] == "1 passed, 0 failed, 0 errors, 0 skipped (412 of 3,120 tests selected)"
    assert "412 of 3,120 tests selected" in output["summary"]
    (body,) = [comment["body"] for comment in double.comments.values()]
    assert "412 of 3,120 tests selected" in body and "100,000 tests not run" in body
    assert len(body) < 20_000 and "test_99999`" not in body
    assert double.invalid == []


def test_every_impact_field_is_documented_in_report_schema_md() -> None:
    doc = (ROOT / "docs" / "REPORT_SCHEMA.md").read_text(encoding="utf-8")
    impact = selection(recorded={"path": "impact.json.gz", "tests": 1, "files": 1, "bytes": 1})
    keys = set(impact) | set(impact["map"]) | set(impact["reasons"]) | set(impact["changed"][0]) | {"impact"}
    keys |= set(impact["recorded"])
    assert sorted(key for key in keys if f"`{key}`" not in doc) == []


def test_hostile_paths_and_ids_stay_inert_in_the_markdown_and_html() -> None:
    """A changed file or test id is text from the pull request: no mention, no HTML, no broken table."""
    hostile = "src/x`y|z @admin <img src=x onerror=alert(1)> #12.py"
    run = run_with(selection(changed=[{"path": hostile, "kind": "modified<b>", "lines": [[1, 2]]}],
                             deselected=[f"unit::tests/t.py::test[{hostile}]"], full_run_reason=None))
    text = markdown.render(run)
    outside_code = re.sub(r"(`+)(.*?[^`])\1(?!`)", "", text)  # GitHub shows a code span's content as text
    assert "x`y" in text and "<img" in text and "<img" not in outside_code and "<b>" not in outside_code
    assert "@admin" not in outside_code and "#12" not in outside_code
    row = next(line for line in text.splitlines() if line.startswith("| ") and "x`y" in line)
    assert row.count(" | ") == 2 and row.endswith("| 1-2 |")  # three cells: the pipe inside the path is escaped
    page = html.render(run)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_comment_state_follows_the_selection_and_ignores_its_absence() -> None:
    from doorbell_ci.github.api import comment_state

    assert comment_state(run_with(None)) == comment_state(run_with(None))
    assert comment_state(run_with(selection())) != comment_state(run_with(None))
    assert comment_state(run_with(selection())) != comment_state(run_with(selection(selected=413)))
    assert comment_state(run_with(selection())) == comment_state(run_with(selection(deselected=["x"])))


def test_a_change_that_is_no_code_change_is_named_where_the_reasons_are(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = ["src/doorbell/faces.py: comments/formatting only", "src/doorbell/<b>.py: comments/formatting only"]
    json_report.write(run_with(selection(no_code_change=notes)), tmp_path, exit_code=0)
    run = json_report.read(tmp_path)[0]
    print_summary(run, tmp_path, full_reports=True)
    assert "    no code change: src/doorbell/faces.py: comments/formatting only" in capsys.readouterr().out
    section = html.render(run).split('<h2 id="selection">', 1)[1].split("<h2 ", 1)[0]
    assert "<li><code>src/doorbell/faces.py: comments/formatting only</code></li>" in section
    assert "&lt;b&gt;.py" in section and "<b>.py" not in section
    summary = markdown.render(run)
    assert ("Text changed, code did not (these select no test): src/doorbell/faces.py: comments/formatting only"
            in summary)
    # an older report.json without the field, or an odd value, shows nothing
    for odd in (None, "text", [1, 2]):
        impact = selection(no_code_change=odd)
        assert not any("no code change" in line for line in console_lines(impact))
