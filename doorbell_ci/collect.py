"""Stage 4: turn what the processes left behind into SuiteResults and a coverage total.

Sources, in order of trust: the suite's JUnit XML; when that is missing or broken (a crash,
a timeout), the progress events written by ``progress_plugin`` for every test that finished,
plus an ``error`` entry for the test that was running when the suite was killed. Nothing a
suite produced before it died is lost.

Everything read here was left in folders the suite's own processes can write, so any of it may
be unreadable by the time it is read (a test that chmods ``junit/`` to 000, replaces its file with
a folder or a symlink loop, deletes it mid-read): every ``OSError`` ends as that suite's ``error``
with the reason, never as a traceback that loses the run's report.json.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import stat
from datetime import datetime
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

from doorbell_ci.errors import CollectError
from doorbell_ci.execution import Execution
from doorbell_ci.plan import Plan, PlannedSuite
from doorbell_ci.results import (
    CoverageSummary,
    FileCoverage,
    JunitFacts,
    Outcome,
    SuiteResult,
    SuiteStatus,
    TestResult,
    junit_size_problem,
    read_junit,
)

# pytest's exit codes (pytest.ExitCode)
PYTEST_OK, PYTEST_FAILED, PYTEST_INTERRUPTED, PYTEST_INTERNAL, PYTEST_USAGE, PYTEST_NO_TESTS = range(6)
_SEVERITY = {Outcome.FAILED: 3, Outcome.ERROR: 2, Outcome.SKIPPED: 1, Outcome.PASSED: 0}


def collect_suite(plan: Plan, suite: PlannedSuite, execution: Execution) -> SuiteResult:
    """The suite's result; an ``OSError`` nothing below expected still ends as its ``error``, not a traceback."""
    try:
        return _collect_suite(plan, suite, execution)
    except OSError as error:
        return SuiteResult(
            name=suite.name, status=SuiteStatus.ERROR, exit_code=execution.exit_code,
            started_at=execution.started_at, duration=execution.duration, resources=execution.resources,
            command=execution.argv, log_file=suite.log_name, output_tail=execution.output_tail,
            reason=f"its results could not be read: {_os_problem(error)}",
            notices=[f"{suite.name}: its results could not be read: {_os_problem(error)}"])


def _os_problem(error: OSError) -> str:
    """``Permission denied: junit/unit.xml`` with the path relative to what the reader knows."""
    where = f": {Path(error.filename).name}" if isinstance(error.filename, str) and error.filename else ""
    return f"{error.strerror or error}{where}"


def _collect_suite(plan: Plan, suite: PlannedSuite, execution: Execution) -> SuiteResult:
    junit = plan.output_dir / suite.junit_name
    stale = None
    shown_junit = None  # how messages name the XML: for a command suite, the path the user configured
    if suite.config.command is not None and suite.config.junit:
        shown_junit = suite.config.junit
        stale = _copy_command_junit(plan.project / suite.config.junit, junit, execution.started_at,
                                    plan.junit_max_bytes, shown_junit)
    result = SuiteResult(
        name=suite.name,
        status=SuiteStatus.PASSED,
        exit_code=execution.exit_code,
        started_at=execution.started_at,
        duration=execution.duration,
        resources=execution.resources,
        command=execution.argv,
        junit_file=suite.junit_name if os.path.lexists(junit) else None,  # no stat: it may be unreadable
        log_file=suite.log_name,
        output_tail=execution.output_tail,
        platform=suite.config.platform,
    )
    if execution.start_error:
        result.status, result.reason = SuiteStatus.ERROR, execution.start_error
        return result

    junit_problem = None
    died = _death_by_signal(execution)
    facts = JunitFacts()
    try:
        result.tests = read_junit(junit, suite.name, plan.junit_max_bytes, facts, shown_junit)
    except CollectError as error:
        junit_problem = stale or str(error)
        unreadable: list[str] = []
        result.tests = tests_from_progress(
            plan.output_dir / suite.progress_name, suite.name,
            killed=execution.timed_out or execution.interrupted or died is not None,
            running_message=f"crashed: {died} while this test ran" if died else None, problems=unreadable)
        if unreadable:
            junit_problem += f"; {unreadable[0]}"
        facts = JunitFacts()  # a file that could not be read whole declares nothing to compare with
    junit_name = Path(suite.junit_name).name
    declared_problem = facts.problem(junit_name)
    result.notices += [f"{suite.name}: {note}" for note in facts.notes(junit_name)]
    if declared_problem:
        result.notices.append(f"{suite.name}: {declared_problem}")
    coverage_problem = _coverage_problem(plan, suite) if suite.coverage else None

    code = execution.exit_code
    if execution.timed_out:
        result.status = SuiteStatus.TIMEOUT
        killed = sum(1 for t in result.tests if t.message.startswith("killed:"))
        result.reason = (f"killed at the suite timeout of {suite.timeout:g}s; "
                         f"{len(result.tests) - killed} tests had finished, {killed} "
                         f"{'was' if killed == 1 else 'were'} running")
    elif execution.interrupted:
        result.status = SuiteStatus.NOT_RUN if not result.tests else SuiteStatus.ERROR
        result.reason = "interrupted (Ctrl-C or SIGTERM)"
    elif died:  # before the missing-XML reason: the crash is the cause, the missing XML its effect
        crashed = sum(1 for t in result.tests if t.message.startswith("crashed:"))
        result.status = SuiteStatus.ERROR
        result.reason = f"{died}; {len(result.tests) - crashed} tests had finished"
        if crashed:
            result.reason += f", {crashed} {'was' if crashed == 1 else 'were'} running"
    elif junit_problem and not (suite.config.is_pytest and code == PYTEST_NO_TESTS):
        result.status = SuiteStatus.ERROR
        result.reason = f"{junit_problem} (exit code {code})"
    elif declared_problem:  # never green, whatever the exit code: the file says it held more than it does
        result.status = SuiteStatus.ERROR
        result.reason = f"{declared_problem} (exit code {code})"
    elif suite.config.is_pytest and code == PYTEST_NO_TESTS:
        result.status, result.reason = SuiteStatus.NO_TESTS, no_tests_reason(execution.output_tail)
    elif suite.config.is_pytest and code in (PYTEST_INTERRUPTED, PYTEST_INTERNAL, PYTEST_USAGE):
        result.status = SuiteStatus.ERROR
        result.reason = {
            PYTEST_INTERRUPTED: "pytest was interrupted (collection errors?)",
            PYTEST_INTERNAL: "pytest hit an internal error",
            PYTEST_USAGE: "pytest was called wrongly (usage error)",
        }[code]
    elif any(t.outcome in (Outcome.FAILED, Outcome.ERROR) for t in result.tests):
        result.status = SuiteStatus.FAILED
    elif code == PYTEST_FAILED and (coverage := pytest_cov_failure(execution.output_tail)):
        result.status, result.reason = SuiteStatus.COVERAGE_FAILED, coverage
    elif code not in (0, None):
        result.status = SuiteStatus.ERROR
        result.reason = f"exit code {code} although no test failed" + _last_words(execution.output_tail)
    elif not result.tests:
        result.status, result.reason = SuiteStatus.NO_TESTS, "no test results"
    if coverage_problem:
        result.notices.append(f"{suite.name}: {coverage_problem}")
        if result.status in (SuiteStatus.ERROR, SuiteStatus.TIMEOUT):
            result.reason += f"; {coverage_problem}"
        else:  # the coverage total, and a fail_under gate on it, would silently leave this suite out
            result.status, result.reason = SuiteStatus.ERROR, coverage_problem
    return result


# pytest-cov's two lines when the total is under its fail-under (from --cov-fail-under, or the
# project's [tool.coverage.report] fail_under, which pytest-cov reads itself); they make pytest exit 1
_COV_REQUIRED = re.compile(r"FAIL Required test coverage of ([\d.]+)% not reached\. Total coverage: ([\d.]+)%")
_COV_FAILURE = re.compile(r"Coverage failure: total of ([\d.]+) is less than fail-under=([\d.]+)")


def pytest_cov_failure(output: str) -> str | None:
    """The reason, with pytest-cov's figures, when its coverage check (not a test) made the suite exit 1."""
    if match := _COV_REQUIRED.search(output):
        required, total = match.groups()
    elif match := _COV_FAILURE.search(output):
        total, required = match.groups()
    else:
        return None
    return (f"every test passed, but pytest-cov failed the suite: total coverage {float(total):.2f}% is under its "
            f"required {float(required):g}% (a fail_under in the project's coverage configuration, or "
            "--cov-fail-under in its pytest options)")


_SELECTION = re.compile(r"collected (\d+) items? / (\d+) deselected")
_NOISE = re.compile(r"^[=\-_ ]*$|^[=\-_]+ .* [=\-_]+$")  # pytest's separator lines, and those wrapped in them


def no_tests_reason(output: str) -> str:
    """Why pytest ran nothing: every collected test deselected (-m, -k), or nothing collected at all."""
    match = _SELECTION.search(output)
    if match and int(match.group(1)) > 0 and match.group(1) == match.group(2):
        return f"pytest collected {match.group(1)} tests and deselected all of them (markers, -k or pytest_args)"
    return "pytest collected no tests"


def _last_words(output: str) -> str:
    """``; last output: ...`` with the last line that says something (an error line first), or nothing."""
    lines = [line.strip() for line in output.splitlines() if line.strip() and not _NOISE.match(line.strip())]
    if not lines:
        return ""
    telling = [line for line in lines if re.search(r"error|fail|exception|abort|denied|not found", line, re.I)]
    return f"; last output: {(telling or lines)[-1][:200]}"
def _coverage_problem(plan: Plan, suite: PlannedSuite) -> str | None:
    """Why this suite's coverage data cannot be read, if it cannot; a suite with no data file is not a problem."""
    folder = plan.output_dir / "coverage"
    prefix = Path(suite.coverage_name).name
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.name == prefix or e.name.startswith(f"{prefix}.")]
    except FileNotFoundError:
        return "the coverage folder coverage/ is gone (removed during the run?); its coverage data is lost"
    except OSError as error:
        return f"the coverage folder coverage/ could not be read ({_os_problem(error)}); its coverage data is lost"
    for name in names:
        problem = _unreadable_file(folder / name)
        if problem:
            return f"its coverage data coverage/{name} {problem}"
    return None


def _read_regular_file(path: Path) -> bytes:
    """The bytes of ``path``; OSError when it is not a regular file (a FIFO put there would block a plain open)."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        handle = os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
    with handle:
        return handle.read()


def _unreadable_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a regular file (without blocking on a FIFO), or None."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        return f"could not be read ({error.strerror or error})"
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return "is not a regular file"
    finally:
        os.close(descriptor)
    return None


def _death_by_signal(execution: Execution) -> str | None:
    """``the runner died from signal 11 (SIGSEGV)`` when a signal we did not send ended the suite."""
    code = execution.exit_code
    if code is None or code >= 0 or execution.timed_out or execution.interrupted:
        return None
    try:
        name = f" ({signal.Signals(-code).name})"
    except ValueError:
        name = ""
    return f"the runner died from signal {-code}{name}"


def _copy_command_junit(source: Path, target: Path, started_at: str, max_bytes: int, shown: str) -> str | None:
    """Take the command's XML into the output folder, unless it is a leftover of an earlier run.

    A command that crashed before writing its XML must not be reported with last run's results:
    a file not modified since the command started (to the second) is left where it is. A file
    over the size limit is left there too: it will not be read, and copying it would only put
    hundreds of megabytes into the folder that gets uploaded.
    """
    try:
        modified = source.stat().st_mtime
    except (FileNotFoundError, NotADirectoryError):
        return None  # the reader says it was not written
    except OSError as error:
        return f"{source.name} could not be read: {error.strerror or error}"
    if modified < datetime.fromisoformat(started_at).timestamp():
        return f"{shown} is older than this run (left by an earlier run); the command wrote no new results"
    refused = junit_size_problem(source, max_bytes, shown)
    if refused:
        return refused
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    except OSError as error:  # unreadable, removed meanwhile, or the junit/ folder made unwritable by a test
        return f"{source.name} could not be copied into the output folder: {_os_problem(error)}"
    return None


def tests_from_progress(path: Path, suite: str, killed: bool, running_message: str | None = None,
                        problems: list[str] | None = None) -> list[TestResult]:
    """Results of the tests that finished, from the progress events; the running ones as errors.

    ``running_message`` says why the running tests never finished (a crash); a kill by default.
    Why the file could not be read, when it exists, is appended to ``problems``.
    """
    results: dict[str, TestResult] = {}
    started: list[str] = []
    finished: set[str] = set()
    try:
        lines = _read_regular_file(path).decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    except OSError as error:
        if problems is not None:
            problems.append(f"the progress file {path.name} could not be read either ({error.strerror or error})")
        return []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # the last line may be cut off by the kill
        if not isinstance(event, dict):
            continue
        kind, nodeid = event.get("event"), str(event.get("nodeid", ""))
        if kind == "start":
            started.append(nodeid)
        elif kind == "finish":
            finished.add(nodeid)
        elif kind == "report":
            _merge_report(results, suite, nodeid, event)
    if killed:
        for nodeid in started:
            if nodeid not in finished:
                file, _, name = nodeid.rpartition("::")
                results[nodeid] = TestResult(
                    suite=suite, name=name or nodeid, classname=file, outcome=Outcome.ERROR,
                    file=file.split("::")[0] or None,
                    message=running_message
                    or "killed: the suite hit its timeout (or was interrupted) while this test ran",
                )
    return list(results.values())


def _merge_report(results: dict[str, TestResult], suite: str, nodeid: str, event: dict) -> None:
    try:
        outcome = Outcome(event.get("outcome"))
    except ValueError:
        outcome = Outcome.FAILED if event.get("outcome") == "failed" else Outcome.ERROR
    path, _, name = nodeid.rpartition("::")
    longrepr = str(event.get("longrepr") or "")
    existing = results.get(nodeid)
    duration = float(event.get("duration") or 0.0)
    if existing is None:
        line = event.get("line")
        results[nodeid] = TestResult(
            suite=suite, name=name or nodeid, classname=path.replace("/", ".").removesuffix(".py"),
            outcome=outcome, duration=duration, file=event.get("file") or None,
            line=line if isinstance(line, int) else None,
            message=longrepr.strip().splitlines()[-1] if longrepr.strip() else "", details=longrepr,
        )
    else:
        existing.duration += duration
        if _SEVERITY[outcome] > _SEVERITY[existing.outcome]:
            existing.outcome = outcome
            existing.details = longrepr
            existing.message = longrepr.strip().splitlines()[-1] if longrepr.strip() else ""


def collect_coverage(plan: Plan, fail_under: float | None, write_reports: bool,
                     notices: list[str] | None = None) -> CoverageSummary | None:
    """Combine the per-suite coverage data into one total; write HTML, JSON and Cobertura XML.

    What makes the total misleading (see ``imported_before_measurement``) is added to ``notices``.
    """
    folder = plan.output_dir / "coverage"
    try:
        # an unreadable data file is its suite's error already (_coverage_problem); the others still combine
        data_files = sorted(str(p) for p in folder.glob(".coverage.*") if _unreadable_file(p) is None)
    except OSError as error:
        raise CollectError(f"coverage data could not be listed: {_os_problem(error)}") from None
    if not data_files:
        return None
    import coverage  # pytest-cov's dependency; imported here to keep start-up light

    config_file = coverage_config_file(plan.project)
    cov = coverage.Coverage(data_file=str(folder / ".coverage"),
                            config_file=str(config_file) if config_file else False)
    if fail_under is None:  # the project's own fail_under gates the combined total (the suites' pytest-cov does not)
        fail_under = float(cov.get_option("report:fail_under") or 0) or None  # type: ignore[arg-type]
    omit = _own_code_patterns(plan.project)
    try:
        cov.combine(data_files, keep=True)
        cov.save()
        cov.load()
        json_path = folder / "coverage.json"
        cov.json_report(outfile=str(json_path), ignore_errors=True, omit=omit)
        reports = {"json": "coverage/coverage.json"}
        if write_reports:
            cov.xml_report(outfile=str(folder / "coverage.xml"), ignore_errors=True, omit=omit)
            cov.html_report(directory=str(folder / "html"), ignore_errors=True, omit=omit)
            reports |= {"xml": "coverage/coverage.xml", "html": "coverage/html/index.html"}
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except coverage.exceptions.CoverageException as error:
        raise CollectError(f"coverage data could not be combined: {error}") from None
    except (OSError, ValueError) as error:  # the folder is writable by the suites: anything may be there now
        raise CollectError(f"coverage data could not be combined: {error}") from None
    files = []
    for path, info in sorted(data.get("files", {}).items()):
        summary = info.get("summary", {})
        files.append(FileCoverage(
            path=shown_path(path, plan.project),
            statements=int(summary.get("num_statements", 0)),
            missing=int(summary.get("missing_lines", 0)),
            percent=round(float(summary.get("percent_covered", 0.0)), 2),
        ))
    if notices is not None:
        notices += imported_before_measurement(data.get("files", {}), plan.project)
    totals = data.get("totals", {})
    return CoverageSummary(
        percent=round(float(totals.get("percent_covered", 0.0)), 2),
        statements=int(totals.get("num_statements", 0)),
        covered=int(totals.get("covered_lines", 0)),
        files=files,
        fail_under=fail_under,
        reports=reports,
    )


def coverage_config_file(project: Path) -> Path | None:
    """The project's coverage configuration file, chosen as coverage.py chooses it in that folder.

    coverage.py looks in the current folder (.coveragerc, .coveragerc.toml, setup.cfg, tox.ini,
    pyproject.toml, the first that holds coverage settings); the suites run there, doorbell-ci
    may not. Missing its ``fail_under`` would drop the project's coverage gate without a word.
    """
    from coverage.config import CoverageConfig, config_files_to_try

    for name, our_file, _ in config_files_to_try(True):
        path = project / name
        try:
            if path.is_file() and CoverageConfig().from_file(str(path), warn=lambda message: None, our_file=our_file):
                return path
        except Exception:  # noqa: BLE001 - coverage.py's own error for a broken file comes when it is used
            return path
    return None
_INSTALL_FOLDERS = ("site-packages", "dist-packages")  # where pip (and Debian's apt) install packages


def shown_path(path: str, project: Path) -> str:
    """A measured file as the reports show it: relative to the project, else to its install folder.

    A package installed without ``-e`` (the usual way to test what users get) is measured where
    pip put it, ``/home/ci/.venv/lib/python3.11/site-packages/ringlib/core.py``: shown as
    ``ringlib/core.py``, its path inside the package's distribution, the same on every machine.
    """
    try:
        return Path(path).resolve().relative_to(project).as_posix()
    except (ValueError, OSError):
        pass
    parts = PurePath(path).parts
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] in _INSTALL_FOLDERS and index + 1 < len(parts):
            return PurePosixPath(*parts[index + 1:]).as_posix()
    return path


def imported_before_measurement(files: dict[str, Any], project: Path) -> list[str]:
    """Notices for measured files whose import-time lines ran before coverage started.

    pytest-cov starts coverage when pytest loads the first conftest; a module pytest imported
    earlier (a ``pytest11`` plugin of the package under test, or a plugin importing it) ran its
    ``def``, ``class`` and module-level lines unmeasured, so they count as missed and the total
    is understated. coverage.py's own warning ("was previously imported, but not measured") only
    covers a package of which nothing at all was measured, and is printed where no report shows
    it. The sign in the data, read from coverage.json's regions (coverage 7.5+; older versions
    give no regions and no notice): lines of the file ran, but none of its module-level
    statements (the region named ""), which is impossible for a module imported while coverage
    was on. Files the report omits (doorbell-ci's own plugins) are not in ``files``.
    """
    early = []
    for path, info in sorted(files.items()):
        module_level = (info.get("functions") or {}).get("")
        if not isinstance(module_level, dict) or not info.get("executed_lines"):
            continue
        if module_level.get("summary", {}).get("num_statements", 0) and not module_level.get("executed_lines"):
            early.append(shown_path(path, project))
    if not early:
        return []
    listed = ", ".join(early[:5]) + (f" and {len(early) - 5} more" if len(early) > 5 else "")
    one = len(early) == 1
    return [f"coverage: {listed} {'was' if one else 'were'} imported before coverage started (by a pytest "
            f"plugin, often the package's own pytest11 entry point): {'its' if one else 'their'} import-time "
            "lines (def, class, module constants) count as not run, so the total is understated; see "
            "docs/TROUBLESHOOTING.md \"Coverage is missing\""]


def _own_code_patterns(project: Path) -> list[str] | None:
    """Leave doorbell-ci's own plugins out of the project's figures.

    Without ``coverage_source``, coverage measures every file outside the standard library and
    site-packages, and a doorbell-ci installed in editable mode or put on PYTHONPATH (as the
    Docker environment does) is neither: its progress and perf plugins would count as the
    project's code. The pattern matches host and container paths alike; it is not applied when
    the project *is* doorbell-ci.
    """
    if (project / "doorbell_ci" / "__init__.py").is_file():
        return None
    return ["*/doorbell_ci/*"]
