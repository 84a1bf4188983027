"""A pytest plugin, loaded with ``-p doorbell_ci.progress_plugin`` into each suite's pytest.

It appends one JSON line per event to the file named by ``DOORBELL_CI_PROGRESS`` (two writes
per test, see ``ProgressWriter``):
how many tests were collected, which test started, and each finished test's outcome.
The orchestrator tails the file for live progress, and, when a suite is killed at its
timeout (so pytest never writes its JUnit XML), rebuilds the results of every test that
finished from it and names the test that was running. Only the controller writes; under
pytest-xdist the workers' reports reach the controller's hooks anyway.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any

import pytest

# Every suite's pytest gets the perf fixture, even where doorbell-ci is importable but not
# installed (a container that has it only on PYTHONPATH, so no pytest11 entry point): loading this
# plugin with -p loads that one too. The entry point has the module's name, so pytest never
# registers it twice.
pytest_plugins = ["doorbell_ci.perf.plugin"]

ENV_VAR = "DOORBELL_CI_PROGRESS"
_LONGREPR_LIMIT = 20_000
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # json.dumps would build one per event


class ProgressWriter:
    """Writes each test's ``start`` at once, and its reports together with its ``finish``.

    A suite killed at its timeout (SIGTERM, then SIGKILL) or dying in a crash runs no Python
    cleanup, so what matters must already be in the file: the last ``start`` is what names the test
    that hung, and every finished test's reports must be there with its ``finish``. Between a
    ``start`` and its ``finish`` the reports wait in a buffer; nothing else ever does (pytest runs a
    test's teardown, module fixtures included, before its ``finish``). Two writes a test instead of a
    write and a flush for each of three events (docs/PERFORMANCE.md, "Per-test cost in the suite's
    pytest"). No timer thread, no signal handler: the suite's own process stays as it was.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream: IO[str] | None = stream
        self._collected_reported = False
        self._buffer: list[str] = []

    def emit(self, event: dict[str, Any], now: bool = False) -> None:
        """Buffer one event; with ``now``, write it and everything buffered before it."""
        if self._stream is None:
            return
        self._buffer.append(_ENCODER.encode(event))
        if now:
            self.flush()

    def flush(self) -> None:
        if self._stream is None or not self._buffer:
            return
        text = "\n".join(self._buffer) + "\n"
        self._buffer.clear()
        try:
            self._stream.write(text)
            self._stream.flush()
        except OSError as error:  # disk full, folder gone read-only: the tests go on, only progress stops
            _warn(f"progress events stopped: {error}")
            self._stream = None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.emit({"event": "collected", "count": len(session.items)}, now=True)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self._collected_reported:
            self._collected_reported = True
            self.emit({"event": "collected", "count": len(ids)}, now=True)

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.emit({"event": "start", "nodeid": nodeid}, now=True)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and report.passed:
            return
        outcome = report.outcome
        if hasattr(report, "wasxfail"):
            outcome = "skipped" if report.skipped else "passed"
        elif report.when != "call" and report.failed:
            outcome = "error"
        longrepr = ""
        if report.failed or report.skipped:
            longrepr = str(report.longrepr)[-_LONGREPR_LIMIT:] if report.longrepr else ""
        path, line, _ = report.location
        event = {"event": "report", "nodeid": report.nodeid, "when": report.when, "outcome": outcome,
                 "duration": round(report.duration, 6), "file": path, "line": None if line is None else line + 1}
        if longrepr:  # only failures and skips have one; the readers take a missing one as empty
            event["longrepr"] = longrepr
        self.emit(event)

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.emit({"event": "finish", "nodeid": nodeid}, now=True)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        self.flush()


def pytest_configure(config: pytest.Config) -> None:
    path = os.environ.get(ENV_VAR)
    if not path or hasattr(config, "workerinput"):  # xdist workers: the controller reports
        return
    try:
        stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in pytest_unconfigure
    except OSError as error:  # an unwritable output folder must not stop the tests themselves
        _warn(f"no progress events: {error}")
        return
    config._doorbell_ci_progress_stream = stream  # type: ignore[attr-defined]
    config.pluginmanager.register(ProgressWriter(stream), "doorbell-ci-progress")


def pytest_unconfigure(config: pytest.Config) -> None:
    writer = config.pluginmanager.get_plugin("doorbell-ci-progress")
    if isinstance(writer, ProgressWriter):  # events after the session's end (none today), then close
        writer.flush()
    stream = getattr(config, "_doorbell_ci_progress_stream", None)
    if stream is not None:
        try:
            stream.close()
        except OSError:
            pass  # already reported by emit()


def _warn(text: str) -> None:
    sys.stderr.write(f"doorbell-ci progress plugin: {text}\n")
