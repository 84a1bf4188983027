"""A small but complete RunResult shared by the report tests (every field set, every status)."""

from __future__ import annotations

from doorbell_ci.results import (
    CoverageSummary,
    FileCoverage,
    Outcome,
    ResourceUsage,
    RunResult,
    SuiteResult,
    SuiteStatus,
    TestResult,
)


def sample_run(failures: int = 1, name: str = "test_rings", message: str = "assert 1 == 2") -> RunResult:
    unit_tests = [
        TestResult("unit", "test_ok", "tests.unit.test_bell", Outcome.PASSED, 0.25, "tests/unit/test_bell.py", 3),
        TestResult("unit", "test_skip", "tests.unit.test_bell", Outcome.SKIPPED, 0.0, "tests/unit/test_bell.py", 9,
                   message="no camera"),
    ]
    unit_tests += [
        TestResult("unit", f"{name}_{i}" if failures > 1 else name, "tests.unit.test_bell", Outcome.FAILED, 1.5,
                   "tests/unit/test_bell.py", 12, message=message, details="Traceback\n  " + message,
                   stdout="captured out", stderr="captured err")
        for i in range(failures)
    ]
    e2e_tests = [TestResult("e2e", "test_flow", "tests.e2e.test_flow", Outcome.ERROR, 2.0, message="fixture broke")]
    return RunResult(
        run_id="20261125T100000Z-abcdef12",
        project="/work/doorbell",
        started_at="2026-11-25T10:00:00+00:00",
        finished_at="2026-11-25T10:00:09+00:00",
        duration=9.5,
        suites=[
            SuiteResult("unit", SuiteStatus.FAILED, unit_tests, exit_code=1, started_at="2026-11-25T10:00:00+00:00",
                        duration=4.2, resources=ResourceUsage(4.2, 7.5, 150_000_000, 3),
                        command=["python", "-m", "pytest", "tests/unit"], junit_file="junit/unit.xml",
                        log_file="logs/unit.log", output_tail="1 failed"),
            SuiteResult("e2e", SuiteStatus.TIMEOUT, e2e_tests, reason="killed at the suite timeout of 5s",
                        exit_code=-9, duration=5.0),
            SuiteResult("load", SuiteStatus.ABSENT, reason="tests/load does not exist in the project"),
            SuiteResult("security", SuiteStatus.NOT_RUN, reason="--fail-fast: unit failed first"),
        ],
        environment={"kind": "local", "python": "/usr/bin/python3"},
        platform={"system": "Linux", "machine": "aarch64"},
        coverage=CoverageSummary(81.25, 160, 130, [FileCoverage("src/doorbell/bell.py", 160, 30, 81.25)],
                                 fail_under=80.0, reports={"json": "coverage/coverage.json"}),
        command=["doorbell-ci", "run"],
        notices=["coverage: something degraded"],
        performance={"verdict": "ok"},
        analysis={"new_failures": 1},
    )
