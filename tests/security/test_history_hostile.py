"""A hostile previous history or quarantine file costs the run its history or its quarantine, never its results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doorbell_ci import analysis
from doorbell_ci.analysis import history_store
from doorbell_ci.config import load_config
from doorbell_ci.pipeline import decide_exit_code
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult

GOOD_ROW = {"o": "P", "d": [0.1]}
RUN = {"id": "r", "commit": "", "branch": "", "platform": "p", "started_at": "t", "duration": 1.0, "passed": 1,
       "failed": 0, "skipped": 0, "errors": 0, "suites": {}, "benchmarks": {}}


def hostile_histories() -> dict[str, bytes]:
    base = {"schema": "doorbell-ci.history", "version": 1, "runs": [RUN], "tests": {"k": GOOD_ROW}}
    return {
        "not json": b"{\"schema\": ",
        "binary": bytes(range(256)) * 4,
        "nan": json.dumps(base).replace('"duration": 1.0', '"duration": NaN').encode(),
        "huge number": json.dumps(base).replace('[0.1]', '[1e400]').encode(),
        "deep": b"[" * 100_000 + b"]" * 100_000,
        "short row": json.dumps({**base, "tests": {"k": {"o": "", "d": []}}}).encode(),
        "list": b"[]",
        "other schema": json.dumps({**base, "schema": "doorbell-ci.history\n::error::x"}).encode(),
    }


def failing_run(project: Path) -> RunResult:
    tests = [TestResult(suite="unit", name="test_a", classname="tests.unit.test_x", file="tests/unit/test_x.py",
                        outcome=Outcome.FAILED, message="boom"),
             TestResult(suite="unit", name="test_b", classname="tests.unit.test_x", file="tests/unit/test_x.py")]
    suite = SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=tests, exit_code=1)
    return RunResult(run_id="now", project=str(project), started_at="2026-12-02T10:00:00+00:00",
                     finished_at="2026-12-02T10:00:01+00:00", duration=1.0, suites=[suite], analysis={})


@pytest.mark.parametrize("name", sorted(hostile_histories()))
def test_a_hostile_previous_history_is_a_notice_and_a_fresh_history(tmp_path: Path, name: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    hostile = tmp_path / "previous.json"
    hostile.write_bytes(hostile_histories()[name])
    config = load_config(project, {"history_from": str(hostile), "output_dir": str(tmp_path / "out")})
    run = failing_run(project)
    analysis.track(run, config)
    notes = [n for n in run.notices if n.startswith("history:")]
    assert len(notes) == 1 and "\n" not in notes[0] and "previous history is not used" in notes[0], run.notices
    written = history_store.read(tmp_path / "out")  # a fresh, valid history of this run alone
    assert [r["id"] for r in written.runs] == ["now"]
    assert int(decide_exit_code(run)) == 1 and run.counts.failed == 1  # the results and verdict stand


@pytest.mark.parametrize("content", [bytes(range(256)), b"[[test]]\nid = 3\n", b"x" * (5 * 1024 * 1024),
                                     b'[[test]]\nid = "*"\nowner = "o"\nreason = "r"\nexpires = 2099-01-01\nx = 1\n'])
def test_a_hostile_quarantine_file_quarantines_nothing_and_says_why(tmp_path: Path, content: bytes) -> None:
    project = tmp_path / "project"
    (project / ".doorbell-ci").mkdir(parents=True)
    (project / ".doorbell-ci" / "quarantine.toml").write_bytes(content)
    config = load_config(project, {"output_dir": str(tmp_path / "out")})
    run = failing_run(project)
    analysis.track(run, config)
    notes = [n for n in run.notices if n.startswith("quarantine file")]
    assert len(notes) == 1 and "\n" not in notes[0] and "no test is quarantined" in notes[0], run.notices
    assert int(decide_exit_code(run)) == 1


@pytest.mark.parametrize("plant", ["fifo", "symlink", "folder"])
def test_a_fifo_or_link_planted_at_the_output_folders_history_neither_blocks_nor_is_followed(
        tmp_path: Path, plant: str) -> None:
    """A test may replace test-results/history.json before the run reads it (the suites run first)."""
    import os

    project = tmp_path / "project"
    out = project / "test-results"
    out.mkdir(parents=True)
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"schema": "doorbell-ci.history", "version": 1, "runs": [],
                                  "tests": {"THE-SECRET-KEY": {"o": "", "d": []}}}), encoding="utf-8")
    target = out / "history.json"
    if plant == "fifo":
        os.mkfifo(target)
    elif plant == "symlink":
        target.symlink_to(secret)
    else:
        target.mkdir()
    config = load_config(project, {})
    run = failing_run(project)
    if plant == "folder":
        analysis.track(run, config)  # not a file: no previous history, and the new one cannot replace a folder
        assert any("history.json could not be written" in n for n in run.notices), run.notices
        return
    analysis.track(run, config)  # a FIFO read would block here for ever
    notes = [n for n in run.notices if n.startswith("history:")]
    assert len(notes) == 1 and ("symbolic link" in notes[0] or "not a regular file" in notes[0]), run.notices
    written = history_store.read(out)
    assert "THE-SECRET-KEY" not in json.dumps(written.to_json())  # the link's target was not carried forward
    assert [r["id"] for r in written.runs] == ["now"]


def test_a_fifo_planted_at_the_quarantine_file_does_not_block_the_run(tmp_path: Path) -> None:
    import os

    project = tmp_path / "project"
    (project / ".doorbell-ci").mkdir(parents=True)
    os.mkfifo(project / ".doorbell-ci" / "quarantine.toml")
    config = load_config(project, {"output_dir": str(tmp_path / "out")})
    run = failing_run(project)
    analysis.track(run, config)  # a plain open() would wait here for a writer that never comes
    assert any("quarantine file" in n and "not a regular file" in n for n in run.notices), run.notices
    assert int(decide_exit_code(run)) == 1
