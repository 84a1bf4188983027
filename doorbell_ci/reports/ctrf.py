"""ctrf.json: the run in the Common Test Report Format (ctrf-io), for the tools that read CTRF.

Pinned to CTRF ``specVersion`` 0.0.0, the version the reference implementation (npm ``ctrf``
0.3.0) writes; its schema is vendored in tests/fixtures/ctrf/ and every file the tests write is
validated against it. Retries are first-class here, unlike in JUnit: a test rerun by doorbell-ci
has ``retries`` and ``retryAttempts`` (every attempt before the final one, the first run included),
and ``flaky`` when a rerun passed. doorbell-ci's own facts that CTRF has no field for (a
quarantined test, an error as opposed to a failure) go in ``extra`` and ``rawStatus``.

Built from RunResult alone (the reruns are in its analysis section), so ``doorbell-ci report DIR``
re-makes it.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from doorbell_ci import __version__, atomic
from doorbell_ci.results import Outcome, RunResult, SuiteStatus, TestResult

FILENAME = "ctrf.json"
SPEC_VERSION = "0.0.0"
_STATUS = {Outcome.PASSED: "passed", Outcome.FAILED: "failed", Outcome.ERROR: "failed", Outcome.SKIPPED: "skipped"}
_ATTEMPT_STATUS = {"passed": "passed", "failed": "failed", "error": "failed", "skipped": "skipped"}
MAX_OUTPUT_LINES = 200  # per stream and test: CTRF wants lines, a test may print millions


def _epoch_ms(text: str) -> int:
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except (ValueError, OverflowError):
        return 0


def _timestamp(text: str) -> str:
    """RFC 3339 (the schema's date-time), or "" for a time that is not one."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return ""
    return moment.isoformat() if moment.tzinfo else moment.replace(tzinfo=UTC).isoformat()


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000)) if math.isfinite(seconds) else 0


def _lines(text: str) -> list[str]:
    return text.splitlines()[-MAX_OUTPUT_LINES:]


def _test(test: TestResult, attempts: list[str], quarantined: set[str], key: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": test.name, "status": _STATUS[test.outcome], "duration": _ms(test.duration),
                             "suite": [test.suite, *([test.classname] if test.classname else [])],
                             "rawStatus": test.outcome.value}
    if test.file:
        entry["filePath"] = test.file
    if test.line is not None:
        entry["line"] = test.line
    if test.message:
        entry["message"] = test.message
    if test.details:
        entry["trace"] = test.details
    if test.stdout:
        entry["stdout"] = _lines(test.stdout)
    if test.stderr:
        entry["stderr"] = _lines(test.stderr)
    if attempts:
        # the first run failed (that is why it was rerun); the last attempt is the test object itself
        before = ["failed", *attempts[:-1]]
        entry["retries"] = len(attempts)
        entry["retryAttempts"] = [{"attempt": number, "status": _ATTEMPT_STATUS.get(status, "other"),
                                   **({"message": test.message} if number == 1 and test.message else {})}
                                  for number, status in enumerate(before, 1)]
    if test.flaky:
        entry["flaky"] = True
    if key in quarantined:
        entry["extra"] = {"quarantined": True}
    return entry


def build(run: RunResult) -> dict[str, Any]:
    from doorbell_ci.analysis.signatures import test_key  # noqa: PLC0415 - a pure helper of the analysis stage

    analysis = run.analysis if isinstance(run.analysis, dict) else {}
    reruns = analysis.get("reruns") if isinstance(analysis.get("reruns"), dict) else {}
    attempts = reruns.get("attempts") if isinstance(reruns.get("attempts"), dict) else {}
    section = analysis.get("quarantine") if isinstance(analysis.get("quarantine"), dict) else {}
    quarantined = {str(item.get("key")) for item in section.get("tests") or [] if isinstance(item, dict)}
    tests = []
    keyed = bool(attempts or quarantined)  # a test's key costs a node id per test: only when something is keyed
    for test in run.iter_tests():
        key = test_key(test) if keyed else ""
        tried = attempts.get(key) if keyed else None
        tests.append(_test(test, [str(a) for a in tried] if isinstance(tried, list) else [], quarantined, key))
    for suite in run.suites:  # a crashed or timed-out suite is a failed entry, as in junit.xml
        if suite.status in (SuiteStatus.ERROR, SuiteStatus.TIMEOUT):
            tests.append({"name": f"{suite.name} ({suite.status.value})", "status": "failed", "duration": 0,
                          "suite": [suite.name], "rawStatus": suite.status.value,
                          **({"message": suite.reason} if suite.reason else {})})
    statuses = [entry["status"] for entry in tests]
    start, stop = _epoch_ms(run.started_at), _epoch_ms(run.finished_at)
    return {
        "reportFormat": "CTRF",
        "specVersion": SPEC_VERSION,
        "reportId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"doorbell-ci:{run.run_id}")),
        "runId": run.run_id,
        **({"timestamp": _timestamp(run.finished_at)} if _timestamp(run.finished_at) else {}),
        "generatedBy": "doorbell-ci",
        "results": {
            "tool": {"name": "doorbell-ci", "version": __version__},
            "summary": {
                "tests": len(tests), "passed": statuses.count("passed"), "failed": statuses.count("failed"),
                "skipped": statuses.count("skipped"), "pending": 0, "other": statuses.count("other"),
                "flaky": sum(1 for entry in tests if entry.get("flaky")),
                "suites": sum(1 for s in run.suites if s.status not in (SuiteStatus.ABSENT, SuiteStatus.NOT_RUN)),
                "start": start, "stop": max(stop, start), "duration": _ms(run.duration),
            },
            "tests": tests,
        },
    }


def write(run: RunResult, output_dir: Path) -> Path:
    path = output_dir / FILENAME
    atomic.write_text(path, json.dumps(build(run), ensure_ascii=False, allow_nan=False),
                      durable=False)  # made again from report.json
    return path
