"""report.json (the record) is flushed to disk before it replaces the old one; the reports made from it are not.

An fsync is 3-18 ms of wall time on a shared VM's disk and a run wrote seven files with one each.
junit.xml, ctrf.json, report.html, summary.md and dashboard.html are made again from report.json
and history.json (``doorbell-ci report DIR``, ``doorbell-ci dashboard``), so they are still
replaced atomically (a reader never sees half a file) but without the flush.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from doorbell_ci import analysis, atomic, reports
from doorbell_ci.config import load_config
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult


def _flushed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files fsynced from now on (a spy: the real fsync still runs)."""
    names: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        names.append(re.sub(r"^\.(.+?)\.[^.]+\.tmp$", r"\1", Path(os.readlink(f"/proc/self/fd/{fd}")).name))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return names


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names the flushed files through /proc")
def test_only_the_records_are_flushed_and_every_report_is_written(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(tmp_path, {})
    config.output_dir.mkdir()
    tests = [TestResult(suite="unit", name=f"test_{n}", classname="tests.unit.test_a", file="tests/unit/test_a.py",
                        outcome=Outcome.FAILED if n == 3 else Outcome.PASSED, message="boom" if n == 3 else "")
             for n in range(10)]
    run = RunResult(run_id="r1", project=str(tmp_path), started_at="2026-12-02T16:00:00+00:00",
                    finished_at="2026-12-02T16:00:05+00:00", duration=5.0,
                    suites=[SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=tests)])
    flushed = _flushed(monkeypatch)
    run.analysis = analysis.for_run(run, config)
    analysis.track(run, config)  # history.json: a record too
    written = reports.write_all(run, config.output_dir, 1)
    assert sorted(flushed) == ["history.json", "report.json"]
    assert set(written) == {"json", "junit", "ctrf", "html", "markdown", "dashboard"}
    for path in written.values():
        assert path.stat().st_size > 0
    assert "test_3" in (config.output_dir / "report.html").read_text(encoding="utf-8")
    assert not list(config.output_dir.glob(".*.tmp"))  # every temp file was renamed into place


def test_write_text_flushes_unless_told_not_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flushed = _flushed(monkeypatch)
    atomic.write_text(tmp_path / "record.json", "{}\n")
    atomic.write_text(tmp_path / "page.html", "<p>made again</p>\n", durable=False)
    assert flushed == ["record.json"]
    assert (tmp_path / "page.html").read_text(encoding="utf-8") == "<p>made again</p>\n"
    assert (tmp_path / "record.json").read_text(encoding="utf-8") == "{}\n"
