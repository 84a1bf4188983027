"""report.json: the versioned, documented record of a run (schema in docs/REPORT_SCHEMA.md).

Every other report can be re-rendered from this file alone (``doorbell-ci report DIR``).
The reader refuses a file it does not understand (another schema, a newer major version)
with a message that says so, rather than guessing.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from json.encoder import encode_basestring
from math import isfinite as _isfinite
from pathlib import Path
from typing import Any

from doorbell_ci import __version__, atomic, jsonsafe
from doorbell_ci.errors import ReportError
from doorbell_ci.results import (
    Counts,
    CoverageSummary,
    FileCoverage,
    Outcome,
    ResourceUsage,
    RunResult,
    SuiteResult,
    SuiteStatus,
    TestResult,
)

SCHEMA = "doorbell-ci/report"
SCHEMA_VERSION = 2  # 2: a test's outcome, classname and duration are left out when passed, "" and 0
READABLE_VERSIONS = (1, 2)  # every version this reader understands, for merge and report over older folders
FILENAME = "report.json"

_TEST_FIELDS = ("name", "classname", "file", "line", "message", "details", "stdout", "stderr")


def _counts(counts: Counts) -> dict[str, int]:
    return {"tests": counts.tests, "passed": counts.passed, "failed": counts.failed,
            "errors": counts.errors, "skipped": counts.skipped}


def _test(test: TestResult) -> dict[str, Any]:
    """One test's entry: fields at their default left out (schema version 2), so a passed test is
    its name, classname, duration, file and line. Spelled out field by field: it runs once per
    test, 100,000 times in a big run (docs/PERFORMANCE.md, "Report building at 100,000 tests")."""
    data: dict[str, Any] = {"name": test.name}
    if test.classname:
        data["classname"] = test.classname
    if test.outcome is not _PASSED:
        data["outcome"] = test.outcome.value
    duration = test.duration
    if duration:
        data["duration"] = _duration(duration)
    if test.file:
        data["file"] = test.file
    if test.line:
        data["line"] = test.line
    if test.message:
        data["message"] = test.message
    if test.details:
        data["details"] = test.details
    if test.stdout:
        data["stdout"] = test.stdout
    if test.stderr:
        data["stderr"] = test.stderr
    if test.flaky:
        data["flaky"] = True
    return data


_PASSED = Outcome.PASSED


def _duration(duration: float) -> float:
    """A test's duration as report.json keeps it: at most microseconds."""
    text = repr(duration)
    # round() costs twice what this check does, and JUnit times are short already
    return round(duration, 6) if len(text) > 8 or "e" in text else duration


def _test_pieces(tests: list[TestResult], parts: list[str]) -> None:
    """A suite's ``tests`` array as JSON text pieces appended to ``parts``: together, the text
    ``json.dumps([_test(t) ...])`` gives.

    Most tests of a big run are plain passes: their entry is spelled out here from pieces the C
    string encoder makes, with each distinct classname and file encoded once (they repeat for every
    test of a class), instead of a dict built per test and walked again by the encoder (at 100,000
    tests a fifth fewer instructions and a third less time; docs/PERFORMANCE.md, "Report building at
    100,000 tests, third pass"). Anything else
    (a failure, output, a value of another type than the fields declare) takes ``_test`` and the
    encoder; a NaN or infinite duration raises ValueError there as ``jsonsafe.dumps`` does, so
    ``_finite_json`` still catches it.
    """
    encode = encode_basestring
    shared: dict[str, str] = {}
    append = parts.append
    append("[")
    first = True
    for test in tests:
        if not first:
            append(",")
        first = False
        name, classname, file, line, duration = test.name, test.classname, test.file, test.line, test.duration
        if (test.outcome is not _PASSED or test.message or test.details or test.stdout or test.stderr
                or test.flaky or name.__class__ is not str or (classname and classname.__class__ is not str)
                or (file and file.__class__ is not str) or (line and line.__class__ is not int)
                or duration.__class__ is not float or not _isfinite(duration)):
            append(_dumps(_test(test)))
            continue
        text = '{"name":' + encode(name)
        if classname:
            known = shared.get(classname)
            if known is None:
                known = shared[classname] = ',"classname":' + encode(classname)
            text += known
        if duration:
            text += ',"duration":' + repr(_duration(duration))
        if file:
            known = shared.get(file)
            if known is None:
                known = shared[file] = ',"file":' + encode(file)
            text += known
        if line:
            text += ',"line":' + repr(line)
        append(text + "}")
    append("]")


def _dumps(value: Any) -> str:
    # check_circular off: the document is a tree to_dict just built, and the encoder's id() bookkeeping
    # for each of 100,000 test objects was a fifth of its time; a cycle (a bug) would still raise RecursionError
    return jsonsafe.dumps(value, ensure_ascii=False, separators=(",", ":"), check_circular=False)


def _suite(suite: SuiteResult, with_tests: bool = True) -> dict[str, Any]:
    r = suite.resources
    return {
        "name": suite.name,
        "status": suite.status.value,
        "reason": suite.reason,
        "exit_code": suite.exit_code,
        "started_at": suite.started_at,
        "duration_seconds": round(suite.duration, 3),
        "counts": _counts(suite.counts),
        "resources": {"wall_seconds": r.wall_seconds, "cpu_seconds": r.cpu_seconds,
                      "peak_rss_bytes": r.peak_rss_bytes, "processes": r.processes},
        "command": suite.command,
        "junit_file": suite.junit_file,
        "log_file": suite.log_file,
        "output_tail": suite.output_tail,
        "platform": suite.platform,
        "tests": [_test(t) for t in suite.tests] if with_tests else [],
    }


def to_dict(run: RunResult, exit_code: int | None = None, with_tests: bool = True) -> dict[str, Any]:
    coverage = None
    if run.coverage is not None:
        c = run.coverage
        coverage = {
            "percent": c.percent, "statements": c.statements, "covered": c.covered,
            "fail_under": c.fail_under, "reports": c.reports,
            "files": [{"path": f.path, "statements": f.statements, "missing": f.missing, "percent": f.percent}
                      for f in c.files],
        }
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "doorbell-ci", "version": __version__},
        "run": {
            "id": run.run_id,
            "project": run.project,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "duration_seconds": round(run.duration, 3),
            "status": "failed" if run.failed else "passed",
            "exit_code": exit_code,
            "command": run.command,
        },
        "totals": _counts(run.counts),
        "suites": [_suite(s, with_tests) for s in run.suites],
        "coverage": coverage,
        "environment": run.environment,
        "platform": run.platform,
        "performance": run.performance,
        "analysis": run.analysis,
        "impact": run.impact,
        "notices": run.notices,
    }


def write(run: RunResult, output_dir: Path, exit_code: int | None = None) -> Path:
    path = output_dir / FILENAME
    try:
        pieces = _finite_json(run, exit_code)  # all of it first: a ValueError must not leave half a file
        with atomic.replacing(path) as handle:
            handle.writelines(pieces)
    except OSError as error:
        kept = " (the report.json already there is an earlier run's, left intact)" if os.path.isfile(path) else ""
        raise ReportError(f"could not write {path}: {os_error_text(error)}{kept}") from None
    return path


def _finite_json(run: RunResult, exit_code: int | None) -> list[str]:
    """report.json as strict JSON: a NaN or Infinity (from any stage) becomes null with a notice, never a failure."""
    try:
        return _pieces(run, exit_code)
    except ValueError:
        document, replaced = jsonsafe.finite_copy(to_dict(run, exit_code))
        shown = ", ".join(replaced[:5]) + (f" and {len(replaced) - 5} more" if len(replaced) > 5 else "")
        document["notices"] = [*document.get("notices", []),
                               f"report.json: non-finite numbers (NaN or Infinity) were written as null at {shown}"]
        return [jsonsafe.dumps(document, ensure_ascii=False, separators=(",", ":"))]


def _pieces(run: RunResult, exit_code: int | None) -> list[str]:
    """``_dumps(to_dict(run, exit_code))`` as a list of pieces, each suite's tests from ``_test_pieces``.

    The same keys in the same order: the document and each suite are encoded around the one
    member written separately (``suites``, ``tests``). Pieces, not one string: the file is written
    from them, so report.json is never held whole in memory next to the results (27 MB at 100,000).
    """
    document = to_dict(run, exit_code, with_tests=False)
    parts: list[str] = []
    head, tail = _around(document, "suites")
    parts.append(head + "[")
    for index, (entry, suite) in enumerate(zip(document["suites"], run.suites, strict=True)):
        suite_head, suite_tail = _around(entry, "tests")
        parts.append(("," if index else "") + suite_head)
        _test_pieces(suite.tests, parts)
        parts.append(suite_tail)
    parts.append("]" + tail)
    return parts


def _around(mapping: dict[str, Any], key: str) -> tuple[str, str]:
    """The JSON text of ``mapping`` before and after ``key``'s value (the key itself included before)."""
    keys = list(mapping)
    at = keys.index(key)
    before = _dumps({name: mapping[name] for name in keys[:at]})[:-1]  # "{..." without its "}"
    after = _dumps({name: mapping[name] for name in keys[at + 1:]})[1:]  # "...}" without its "{"
    return (before + ("," if len(before) > 1 else "") + _dumps(key) + ":",
            ("," if len(after) > 1 else "") + after)


def os_error_text(error: OSError) -> str:
    """``No space left on device (errno 28, ENOSPC)``: the words for people, the name to search for."""
    if error.errno is None:
        return str(error)
    return f"{error.strerror or error} (errno {error.errno}, {errno.errorcode.get(error.errno, '?')})"


def read(path: Path) -> tuple[RunResult, dict[str, Any]]:
    """Load report.json back into a RunResult (and the raw document, for fields we only pass on)."""
    document = read_document(path)
    try:
        return _from_dict(document), document
    except (KeyError, TypeError, ValueError) as error:
        raise ReportError(f"{path} is damaged: missing or bad field {error}") from None


def read_document(path: Path) -> dict[str, Any]:
    """A report.json's document, checked to be ours and of a version this reader knows; no RunResult.

    For readers that need a few facts of an earlier run (the analysis' base run and history):
    making 50,000 TestResults of it cost them 0.4 s of CPU after every suite.
    """
    if path.is_dir():
        path = path / FILENAME
    try:
        document = jsonsafe.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path} does not exist; run `doorbell-ci run` first or name a results folder") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:  # ValueError: bad JSON, NaN, 1e999
        raise ReportError(f"{path} is not readable JSON: {error}") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise ReportError(f"{path} is not a doorbell-ci report (no \"schema\": \"{SCHEMA}\")")
    version = document.get("schema_version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise ReportError(
            f"{path} has schema version {version!r}; this doorbell-ci {__version__} reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}: use the doorbell-ci version that wrote it"
        )
    return document


def entry_outcome(document: Mapping[str, Any], entry: Mapping[str, Any]) -> Outcome:
    """The outcome of one test entry of a report.json ``document`` of any readable version (also for
    readers of the raw document, such as the analysis' history); KeyError or ValueError when bad.

    Version 1 wrote every test's outcome (one missing is a damaged file, as in a document that
    says no version); version 2 leaves it out for a passed test."""
    version = document.get("schema_version")
    if isinstance(version, int) and version >= 2:  # 2: the version that began leaving it out
        return Outcome(entry.get("outcome", Outcome.PASSED.value))
    return Outcome(entry["outcome"])


def _test_from(document: dict[str, Any], suite: str, entry: dict[str, Any]) -> TestResult:
    fields = {key: entry.get(key, None if key in ("file", "line") else "") for key in _TEST_FIELDS}
    return TestResult(suite=suite, outcome=entry_outcome(document, entry), duration=float(entry.get("duration", 0.0)),
                      flaky=entry.get("flaky") is True, **fields)


def _from_dict(document: dict[str, Any]) -> RunResult:
    run = document["run"]
    suites = []
    for s in document["suites"]:
        tests = [_test_from(document, s["name"], t) for t in s["tests"]]
        suites.append(SuiteResult(
            name=s["name"], status=SuiteStatus(s["status"]), tests=tests, reason=s.get("reason", ""),
            exit_code=s.get("exit_code"), started_at=s.get("started_at"),
            duration=float(s.get("duration_seconds", 0.0)),
            resources=ResourceUsage(**s.get("resources", {})), command=list(s.get("command", [])),
            junit_file=s.get("junit_file"), log_file=s.get("log_file"), output_tail=s.get("output_tail", ""),
            platform=str(s.get("platform") or ""),
        ))
    coverage = None
    if document.get("coverage"):
        c = document["coverage"]
        coverage = CoverageSummary(
            percent=c["percent"], statements=c["statements"], covered=c["covered"],
            files=[FileCoverage(**f) for f in c.get("files", [])], fail_under=c.get("fail_under"),
            reports=c.get("reports", {}),
        )
    return RunResult(
        run_id=run["id"], project=run["project"], started_at=run["started_at"], finished_at=run["finished_at"],
        duration=float(run["duration_seconds"]), suites=suites, environment=document.get("environment", {}),
        platform=document.get("platform", {}), coverage=coverage, command=run.get("command", []),
        notices=document.get("notices", []), performance=document.get("performance"),
        analysis=document.get("analysis"),
        impact=document.get("impact") if isinstance(document.get("impact"), dict) else None,
    )
