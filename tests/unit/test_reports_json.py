"""report.json: a faithful round trip, a refusal of what it does not understand, atomic writes."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from doorbell_ci.analysis.history import previous_history
from doorbell_ci.errors import ReportError
from doorbell_ci.reports import json_report, write_all
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult, counts_held
from tests.unit._report_samples import sample_run

V1_REPORT = Path(__file__).resolve().parents[1] / "fixtures" / "report_v1" / "report.json"


def test_round_trip_is_equal(tmp_path: Path) -> None:
    run = sample_run()
    json_report.write(run, tmp_path, exit_code=1)
    again, document = json_report.read(tmp_path)
    assert again == run
    assert document["run"]["exit_code"] == 1
    assert document["schema"] == "doorbell-ci/report" and document["schema_version"] == 2
    assert document["totals"] == {"tests": 4, "passed": 1, "failed": 1, "errors": 1, "skipped": 1}


def test_round_trip_keeps_unicode_as_is(tmp_path: Path) -> None:
    run = sample_run(name="test_\U0001f514_\u05e2\u05d1\u05e8\u05d9\u05ea", message="\u202e\U00010348")
    json_report.write(run, tmp_path)
    assert json_report.read(tmp_path / "report.json")[0] == run
    assert "\U0001f514" in (tmp_path / "report.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("version", [3, 0, "1", "2", None, True])
def test_other_schema_versions_are_refused(tmp_path: Path, version: object) -> None:
    json_report.write(sample_run(), tmp_path)
    path = tmp_path / "report.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["schema_version"] = version
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ReportError, match="schema version"):
        json_report.read(tmp_path)


def test_a_passed_test_is_written_without_its_default_fields(tmp_path: Path) -> None:
    """Schema version 2: outcome "passed", classname "" and duration 0 are left out; durations are
    at most microseconds; anything else is written as in version 1."""
    run = sample_run()
    run.suites[0].tests += [TestResult("unit", "test_bare"), TestResult("unit", "test_long", "c", duration=1 / 3),
                            TestResult("unit", "test_tiny", "c", duration=1.5e-7)]
    json_report.write(run, tmp_path)
    document = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    entries = {entry["name"]: entry for entry in document["suites"][0]["tests"]}
    assert entries["test_ok"] == {"name": "test_ok", "classname": "tests.unit.test_bell", "duration": 0.25,
                                  "file": "tests/unit/test_bell.py", "line": 3}
    assert entries["test_bare"] == {"name": "test_bare"}
    assert entries["test_long"]["duration"] == 0.333333 and entries["test_tiny"]["duration"] == 0.0
    assert entries["test_skip"] == {"name": "test_skip", "classname": "tests.unit.test_bell", "outcome": "skipped",
                                    "file": "tests/unit/test_bell.py", "line": 9, "message": "no camera"}
    assert entries["test_rings"]["outcome"] == "failed" and entries["test_rings"]["duration"] == 1.5
    again, _ = json_report.read(tmp_path)
    bare = again.suites[0].tests[3]
    assert (bare.name, bare.classname, bare.outcome, bare.duration) == ("test_bare", "", Outcome.PASSED, 0.0)
    assert again.suites[0].tests[4].duration == 0.333333


def test_a_version_1_report_is_still_read(tmp_path: Path) -> None:
    """tests/fixtures/report_v1/report.json was written by the version-1 writer (commit 1cad2eb) from
    sample_run(): `report`, `merge` and the analysis' history read it as before."""
    run, document = json_report.read(V1_REPORT)
    assert document["schema_version"] == 1
    assert run == sample_run()
    assert previous_history(document) == previous_history(json_report.to_dict(sample_run()))
    assert set(previous_history(document).values()) == {"P", "S", "F", "E"}


def test_a_version_1_test_without_an_outcome_is_damaged(tmp_path: Path) -> None:
    """Version 1 wrote every outcome: one missing is not a pass."""
    document = json.loads(V1_REPORT.read_text(encoding="utf-8"))
    del document["suites"][0]["tests"][2]["outcome"]  # test_rings, failed
    (tmp_path / "report.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ReportError, match="damaged: missing or bad field 'outcome'"):
        json_report.read(tmp_path)


def test_foreign_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text('{"tests": 3}', encoding="utf-8")
    with pytest.raises(ReportError, match="not a doorbell-ci report"):
        json_report.read(tmp_path)


def test_broken_json_and_missing_file_are_report_errors(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="does not exist"):
        json_report.read(tmp_path)
    (tmp_path / "report.json").write_text('{"schema": "doorbell-ci/re', encoding="utf-8")
    with pytest.raises(ReportError, match="not readable JSON"):
        json_report.read(tmp_path)


def test_damaged_document_is_a_report_error(tmp_path: Path) -> None:
    json_report.write(sample_run(), tmp_path)
    path = tmp_path / "report.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["suites"][0]["status"] = "exploded"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ReportError, match="damaged"):
        json_report.read(tmp_path)


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    write_all(sample_run(), tmp_path, exit_code=1)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ctrf.json", "junit.xml", "report.html", "report.json", "summary.md"]


def test_every_field_written_is_documented_in_report_schema_md() -> None:
    """docs/REPORT_SCHEMA.md must name every field report.json carries (a new field without docs fails)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "REPORT_SCHEMA.md").read_text(encoding="utf-8")
    document = json_report.to_dict(sample_run(), exit_code=1)
    document["suites"][0]["tests"][0]["flaky"] = True  # written only when true
    keys: set[str] = set(document) | set(document["run"]) | set(document["totals"]) | set(document["tool"])
    for suite in document["suites"]:
        keys |= set(suite) | set(suite["resources"])
        for test in suite["tests"]:
            keys |= set(test)
    keys |= set(document["coverage"]) | set(document["coverage"]["files"][0])
    undocumented = sorted(key for key in keys if f"`{key}`" not in doc)
    assert undocumented == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_reports_get_the_mode_a_plain_file_would_get(tmp_path: Path) -> None:
    """mkstemp creates 0600 files; reports served by a web server or read by another user need the umask's mode."""
    plain = tmp_path / "plain.txt"
    plain.write_text("x", encoding="utf-8")
    written = write_all(sample_run(), tmp_path / "out", 1)
    for path in written.values():
        assert (path.stat().st_mode & 0o777) == (plain.stat().st_mode & 0o777), path.name
    assert os.access(written["html"], os.R_OK)


def _plainly_encoded(run: RunResult, exit_code: int | None) -> str:
    """report.json's text the plain way: the whole document built as dicts, then one json.dumps."""
    return json.dumps(json_report.to_dict(run, exit_code), ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False)


# values of every shape a test's fields take (and some they should not): the shortcut for plain passes
# must give the encoder's own text for each, or leave the entry to the encoder
_ODD_TESTS = [
    TestResult("unit", 'quote " back \\ slash \x01 \u2028 \U0001f514 \ud800', "a.B", Outcome.PASSED, 1e-07, "a.py", 3),
    TestResult("unit", "no classname, file or line", "", Outcome.PASSED, 0.0, None, None),
    TestResult("unit", "empty file, line 0", "c", Outcome.PASSED, 12345.123456789, "", 0),
    TestResult("unit", "long duration", "c", Outcome.PASSED, 0.1 + 0.2, "f.py", 10**12),
    TestResult("unit", "an int duration", "c", Outcome.PASSED, 3, "f.py", 1),  # type: ignore[arg-type]
    TestResult("unit", "a bool line", "c", Outcome.PASSED, 0.5, "f.py", True),  # type: ignore[arg-type]
    TestResult("unit", "a str line", "c", Outcome.PASSED, 0.5, "f.py", "7"),  # type: ignore[arg-type]
    TestResult("unit", "negative zero", "c", Outcome.PASSED, -0.0, "f.py", 2),
    TestResult("unit", "flaky", "c", Outcome.PASSED, 0.5, "f.py", 2, flaky=True),
    TestResult("unit", "failed", "c", Outcome.FAILED, 0.5, "f.py", 2, "m", "d", "o", "e"),
    TestResult("unit", "passed with output", "c", Outcome.PASSED, 0.5, "f.py", 2, stdout="o"),
    TestResult("unit", "skipped", "c", Outcome.SKIPPED, 0.0, "f.py", 2, "why"),
]


@pytest.mark.parametrize("index", range(len(_ODD_TESTS)))
def test_each_test_entry_is_the_text_the_encoder_writes(index: int) -> None:
    run = sample_run()
    run.suites[0].tests = [_ODD_TESTS[index], *run.suites[0].tests, _ODD_TESTS[index]]
    assert "".join(json_report._finite_json(run, 1)) == _plainly_encoded(run, 1)  # noqa: SLF001


def test_a_big_run_is_written_as_the_encoder_would_write_it(tmp_path: Path) -> None:
    run = sample_run()
    run.suites.append(SuiteResult(name="empty", status=SuiteStatus.PASSED))
    run.suites[0].tests = [TestResult("unit", f"test_{n}[{n % 7}]", f"tests.test_m{n % 13}", Outcome.PASSED,
                                      n / 997, f"tests/test_m{n % 13}.py", n % 300) for n in range(3000)]
    run.suites[0].tests += _ODD_TESTS
    run.notices = ["a notice"]
    assert "".join(json_report._finite_json(run, 1)) == _plainly_encoded(run, 1)  # noqa: SLF001
    json_report.write(run, tmp_path, 1)
    assert json_report.read(tmp_path / "report.json")[1]["suites"][0]["tests"][2999]["name"] == "test_2999[3]"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_duration_still_becomes_null_with_a_notice(tmp_path: Path, bad: float) -> None:
    run = sample_run()
    run.suites[0].tests[0].outcome = Outcome.PASSED
    run.suites[0].tests[0].duration = bad
    json_report.write(run, tmp_path)
    document = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert "duration" in document["suites"][0]["tests"][0] and document["suites"][0]["tests"][0]["duration"] is None
    assert "non-finite numbers" in document["notices"][-1]


def test_counts_are_held_only_while_the_reports_are_written(tmp_path: Path) -> None:
    run = sample_run()
    before = run.counts
    with counts_held(run):
        assert run.counts == before
        run.counts.failed += 5  # a copy each time: a caller cannot change what the others read
        assert run.counts == before
    run.suites[0].tests[0].outcome = Outcome.PASSED if run.suites[0].tests[0].outcome is not Outcome.PASSED \
        else Outcome.FAILED
    assert run.counts != before  # counted afresh once the span is over
    write_all(run, tmp_path, 1)
    document = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert document["totals"] == {"tests": run.counts.tests, "passed": run.counts.passed,
                                  "failed": run.counts.failed, "errors": run.counts.errors,
                                  "skipped": run.counts.skipped}
    assert all("_held_counts" not in vars(suite) for suite in run.suites)
