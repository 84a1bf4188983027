"""One exception type per pipeline stage, and the exit codes the CLI maps them to.

The CLI catches :class:`DoorbellError` once and prints ``str(error)`` as a single line,
so every message should say what went wrong *and* what to do about it.
"""

from __future__ import annotations

import re
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Process exit codes of ``doorbell-ci`` (documented in docs/CONFIGURATION.md)."""

    OK = 0  # every selected suite passed and at least one test ran (see NOTHING_TESTED)
    TESTS_FAILED = 1  # at least one test failed or errored, or a suite crashed / timed out
    USAGE = 2  # bad command line or configuration
    ENVIRONMENT = 3  # the test environment could not be prepared (Docker missing, ...)
    REPORT = 4  # results could not be read or reports could not be written
    PUBLISH = 5  # publishing to GitHub failed in a way that was asked to be fatal
    REGRESSION = 6  # tests passed but a confirmed performance regression was found
    COVERAGE = 7  # tests passed but coverage is under coverage_fail_under, or the project's own fail_under
    NOTHING_TESTED = 8  # no test passed, failed or errored: every suite absent, empty, deselected or skipped
    INTERRUPTED = 130  # Ctrl-C / SIGTERM


_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f"
                        "\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]")


def one_line(text: str) -> str:
    """``text`` with every character that breaks a line, reorders the text or hides itself shown as ``\\uXXXX``.

    User values (a suite name with a newline, a bidi override in a path) are quoted in errors;
    escaping here keeps every message one line that reads as what it is.
    """
    return _INVISIBLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


class DoorbellError(Exception):
    """Base class: a failure the user can act on, printed as one line (whatever values it quotes)."""

    exit_code: ExitCode = ExitCode.USAGE

    def __str__(self) -> str:
        return one_line(super().__str__())


class ConfigError(DoorbellError):
    exit_code = ExitCode.USAGE


class EnvironmentError_(DoorbellError):  # noqa: N801 - avoid shadowing the builtin
    exit_code = ExitCode.ENVIRONMENT


class CollectError(DoorbellError):
    exit_code = ExitCode.REPORT


class ReportError(DoorbellError):
    exit_code = ExitCode.REPORT

    def __init__(self, message: str, run: object | None = None, reports_dir: Path | None = None) -> None:
        super().__init__(message)
        self.run = run  # the RunResult whose reports failed, so the CLI still prints its summary
        self.reports_dir = reports_dir  # where the reports were written instead, if anywhere


class PublishError(DoorbellError):
    exit_code = ExitCode.PUBLISH


class PerfError(DoorbellError):
    """A baseline or samples file that cannot be used, or a paired measurement that cannot be set up."""

    exit_code = ExitCode.REPORT
