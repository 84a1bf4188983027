"""The merged junit.xml (reports/junit.py): plain elements under junitparser's document and suites.

The counts and times on each <testsuite> and on the root are computed from the results rather
than by junitparser's ``update_statistics``; read back, they must be exactly what junitparser
itself computes from the testcases written, and every testcase must read back as it went in.
"""

from __future__ import annotations

from pathlib import Path

from junitparser import JUnitXml

from doorbell_ci.reports import junit
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult, read_junit


def _run() -> RunResult:
    tests = [
        TestResult(suite="unit", name="a\x01b", classname="c", duration=0, flaky=True, message="m", details="d"),
        TestResult(suite="unit", name="f", classname="c", outcome=Outcome.FAILED, duration=1.23456789,
                   stdout="out", stderr="err", file="x.py", line=3),
        TestResult(suite="unit", name="s", classname="c", outcome=Outcome.SKIPPED, duration=0.1, message="why"),
        TestResult(suite="unit", name="e", classname="c", outcome=Outcome.ERROR, duration=0.2, message="boom",
                   details="tb"),
        TestResult(suite="unit", name="p", classname="c", duration=0.3333333, file="p.py", line=0),
    ]
    return RunResult(run_id="x", project="p", started_at="s", finished_at="f", duration=1.0, suites=[
        SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=tests, started_at="2026-01-01T00:00:00+00:00"),
        SuiteResult(name="slow", status=SuiteStatus.TIMEOUT, tests=tests[:2], reason="killed", output_tail="t\x02"),
        SuiteResult(name="broken", status=SuiteStatus.ERROR, reason="", output_tail=""),
        SuiteResult(name="gone", status=SuiteStatus.ABSENT),
        SuiteResult(name="empty", status=SuiteStatus.PASSED),
    ])


def test_counts_and_times_are_junitparsers_own(tmp_path: Path) -> None:
    path = junit.write(_run(), tmp_path)
    written = JUnitXml.fromfile(str(path))
    declared = [(s.name, s.tests, s.failures, s.errors, s.skipped, s.time) for s in written]
    root = (written.tests, written.failures, written.errors, written.skipped, written.time)
    written.update_statistics()  # junitparser recounts every suite from its testcases
    assert declared == [(s.name, s.tests, s.failures, s.errors, s.skipped, s.time) for s in written]
    assert root == (written.tests, written.failures, written.errors, written.skipped, written.time)
    assert [s.name for s in written] == ["unit", "slow", "broken", "empty"]
    assert root[:4] == (5 + 3 + 1, 2, 1 + 1 + 1, 1)


def test_every_testcase_reads_back_as_it_went_in(tmp_path: Path) -> None:
    run = _run()
    path = junit.write(run, tmp_path)
    back = read_junit(path, "unit")
    sent = run.suites[0].tests + run.suites[1].tests
    got = [t for t in back if not t.classname.startswith("doorbell-ci.")]
    assert [(t.name, t.outcome, t.file, t.line, round(t.duration, 6)) for t in got] == \
        [(t.name.replace("\x01", ""), t.outcome, t.file, t.line, round(t.duration, 6)) for t in sent]
    failed = next(t for t in got if t.name == "f")
    assert (failed.stdout, failed.stderr) == ("out", "err")
    assert next(t for t in got if t.name == "e").details == "tb"
    text = path.read_text(encoding="utf-8")
    assert '<flakyFailure message="m">d</flakyFailure>' in text
    assert 'name="slow (timeout)"' in text and "\x02" not in text


def test_the_printable_shortcut_never_skips_a_character_xml_cannot_carry() -> None:
    """``_xml_text`` skips its regex for a text that ``isprintable``: that is only right if no
    printable character is one the regex removes. Checked over every code point."""
    printable_but_removed = [hex(code) for code in range(0x110000)
                             if chr(code).isprintable() and junit._NOT_XML.match(chr(code))]
    assert printable_but_removed == []
    for text in ("plain", "tab\there", "nul\x00", "rtl\u202e", "bell\U0001f514", "lone\ud800", "nonchar\ufffe", ""):
        assert junit._xml_text(text) == junit._NOT_XML.sub("", text)


def test_the_written_time_is_the_duration_rounded_to_microseconds(tmp_path: Path) -> None:
    """Durations are rounded only when their repr is longer than microseconds need; the text written
    is what ``str(round(duration, 6))`` gave before, for short, long, tiny, huge and integer durations."""
    durations = [0, 0.0, 0.1, 0.0123, 1 / 3, 1.5e-7, 1e-5, 12.3456789, 123456.5, 123456.1234567, 3, 2.5e10]
    tests = [TestResult(suite="unit", name=f"t{i}", classname="c", duration=d) for i, d in enumerate(durations)]
    run = RunResult(run_id="x", project="p", started_at="s", finished_at="f", duration=1.0,
                    suites=[SuiteResult(name="unit", status=SuiteStatus.PASSED, tests=tests)])
    written = JUnitXml.fromfile(str(junit.write(run, tmp_path)))
    times = [case._elem.get("time") for suite in written for case in suite]  # noqa: SLF001
    assert times == [str(float(round(d, 6))) for d in durations]
