"""ctrf.json validates against the pinned CTRF schema; junit.xml's rerun elements read back as written."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from doorbell_ci.reports import ctrf, junit
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult, read_junit

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "ctrf" / "ctrf-schema-0.0.json"


def validate(document: dict) -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert errors == [], "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def sample_run() -> RunResult:
    def case(name: str, outcome: Outcome, **extra: object) -> TestResult:
        return TestResult(suite="unit", name=name, classname="tests.unit.test_x", file="tests/unit/test_x.py",
                          line=3, outcome=outcome, duration=0.0125, **extra)  # type: ignore[arg-type]

    tests = [
        case("test_ok", Outcome.PASSED),
        case("test_bad", Outcome.FAILED, message="assert 1 == 2", details="tb line\n", stdout="out\n" * 3),
        case("test_crash", Outcome.ERROR, message="fixture broke", stderr="err"),
        case("test_skip", Outcome.SKIPPED, message="not here"),
        case("test_flaky", Outcome.PASSED, flaky=True, message="timing", details="tb"),
        case("test_flaky_counted", Outcome.FAILED, flaky=True, message="timing"),
        case("test_quarantined", Outcome.FAILED, message="known"),
    ]
    unit = SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=tests, duration=1.0,
                       started_at="2026-12-02T10:00:00+00:00")
    slow = SuiteResult(name="integration", status=SuiteStatus.TIMEOUT, reason="killed at its 60 s timeout")
    run = RunResult(run_id="20261202T100000Z-ab12", project="/p", started_at="2026-12-02T10:00:00+00:00",
                    finished_at="2026-12-02T10:01:00+00:00", duration=60.0, suites=[unit, slow])
    run.analysis = {
        "reruns": {"max": 2, "attempts": {
            "unit::tests/unit/test_x.py::test_bad": ["failed", "error"],
            "unit::tests/unit/test_x.py::test_flaky": ["failed", "passed"],
            "unit::tests/unit/test_x.py::test_flaky_counted": ["passed"]}},
        "quarantine": {"tests": [{"key": "unit::tests/unit/test_x.py::test_quarantined"}]},
    }
    return run


def test_every_written_ctrf_file_validates_against_the_pinned_schema(tmp_path: Path) -> None:
    path = ctrf.write(sample_run(), tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))
    validate(document)
    assert document["specVersion"] == ctrf.SPEC_VERSION == "0.0.0"
    tests = {t["name"]: t for t in document["results"]["tests"]}
    assert tests["test_flaky"]["flaky"] is True and tests["test_flaky"]["status"] == "passed"
    assert tests["test_flaky"]["retries"] == 2
    assert [a["status"] for a in tests["test_flaky"]["retryAttempts"]] == ["failed", "failed"]
    assert tests["test_bad"]["retries"] == 2 and [a["attempt"] for a in tests["test_bad"]["retryAttempts"]] == [1, 2]
    assert tests["test_flaky_counted"]["status"] == "failed" and tests["test_flaky_counted"]["flaky"] is True
    assert tests["test_crash"]["status"] == "failed" and tests["test_crash"]["rawStatus"] == "error"
    assert tests["test_quarantined"]["extra"] == {"quarantined": True}
    assert "retries" not in tests["test_ok"] and "flaky" not in tests["test_ok"]
    assert tests["integration (timeout)"]["status"] == "failed"
    summary = document["results"]["summary"]
    assert (summary["tests"], summary["passed"], summary["failed"], summary["skipped"], summary["flaky"]) == \
        (8, 2, 5, 1, 2)
    assert summary["stop"] - summary["start"] == 60_000


@pytest.mark.parametrize("broken", ["time", "finished"])
def test_odd_values_still_give_a_valid_file(tmp_path: Path, broken: str) -> None:
    run = sample_run()
    if broken == "time":
        run.suites[0].tests[0].duration = float("nan")
    else:
        run.finished_at = "not a time"
    validate(json.loads(ctrf.write(run, tmp_path).read_text(encoding="utf-8")))


def test_the_schema_check_is_real() -> None:
    document = ctrf.build(sample_run())
    document["results"]["tests"][0]["status"] = "flaky"
    with pytest.raises(AssertionError, match="is not one of"):
        validate(document)


def test_junit_rerun_elements_follow_surefire_and_read_back_as_flaky(tmp_path: Path) -> None:
    run = sample_run()
    path = junit.write(run, tmp_path)
    tree = junit.build(run)._elem  # noqa: SLF001
    cases = {case.get("name"): [child.tag for child in case] for case in tree.iter("testcase")}
    assert cases["test_flaky"] == ["flakyFailure", "flakyFailure"]  # the first run and the failed rerun
    assert cases["test_bad"][:3] == ["failure", "rerunFailure", "rerunError"]
    assert cases["test_flaky_counted"] == ["failure", "flakyFailure"]
    assert "rerunFailure" not in cases["test_quarantined"] and "flakyFailure" not in cases["test_ok"]
    read = {t.name: t for t in read_junit(path, "unit")}
    assert read["test_flaky"].outcome is Outcome.PASSED and read["test_flaky"].flaky
    assert read["test_flaky_counted"].outcome is Outcome.FAILED and read["test_flaky_counted"].flaky
    assert read["test_bad"].outcome is Outcome.FAILED and not read["test_bad"].flaky
    assert not read["test_ok"].flaky and not read["test_skip"].flaky


def test_a_surefire_file_with_flaky_elements_is_read_as_flaky(tmp_path: Path) -> None:
    path = tmp_path / "TEST-com.example.FooTest.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="com.example.FooTest" tests="2" failures="1">'
        '<testcase name="flaky" classname="com.example.FooTest" time="0.1">'
        '<flakyFailure message="boom" type="java.lang.AssertionError"><stackTrace>at x</stackTrace></flakyFailure>'
        '</testcase><testcase name="broken" classname="com.example.FooTest" time="0.1">'
        '<failure message="no">at y</failure><rerunFailure message="no again">at y</rerunFailure></testcase>'
        '</testsuite>', encoding="utf-8")
    read = {t.name: t for t in read_junit(path, "java")}
    assert read["flaky"].outcome is Outcome.PASSED and read["flaky"].flaky
    assert read["broken"].outcome is Outcome.FAILED and not read["broken"].flaky
