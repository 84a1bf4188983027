"""Talking to the Actions runner: step outputs, the job summary and workflow commands.

The runner reads ``$GITHUB_OUTPUT`` and ``$GITHUB_STEP_SUMMARY`` after the step and parses
``::command::`` lines from stdout. Values are escaped the way @actions/core escapes them, so
a test name holding ``%``, ``:`` or a newline cannot end a command early or forge another.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from doorbell_ci.analysis.signatures import failure_frame
from doorbell_ci.github.limits import MAX_WORKFLOW_ERRORS, STEP_SUMMARY_BYTES, fit, utf8_size
from doorbell_ci.reports.text import prefixed
from doorbell_ci.results import TestResult


def in_actions(environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return environ.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", stream: TextIO | None = None, **properties: str | int | None) -> None:
    """Print one workflow command, e.g. ``::error file=a.py,line=3::boom``."""
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items() if value is not None)
    line = f"::{name}{' ' + props if props else ''}::{escape_data(message)}"
    target = stream or sys.stdout
    write_command = getattr(target, "write_command", None)  # the CLI's console neutralises everything else
    if write_command is not None:
        write_command(line)
    else:
        print(line, file=target, flush=True)


@contextmanager
def group(title: str, stream: TextIO | None = None) -> Iterator[None]:
    """Fold what is printed inside into one collapsible section of the job log."""
    command("group", title, stream)
    try:
        yield
    finally:
        command("endgroup", "", stream)


def add_mask(value: str, stream: TextIO | None = None) -> None:
    """Ask the runner to hide ``value`` in every later log line (a token read from a file, say)."""
    if value:
        command("add-mask", value, stream)


def error_annotations(tests: list[TestResult], stream: TextIO | None = None,
                      limit: int = MAX_WORKFLOW_ERRORS, path_prefix: str = "", project: str | None = None) -> int:
    """``::error file=,line=::`` at the line where each test failed (when no check run is made); returns how many."""
    shown = 0
    for test in tests[:limit]:
        title = f"{test.suite}: {test.nodeid}"[:255]
        message = test.message or test.outcome.value
        where = failure_frame(test, project)
        file, line = (where.file, where.line) if where is not None else (test.file, test.line)
        command("error", message[:4000], stream, file=prefixed(path_prefix, file) if file else None, line=line,
                title=title)
        shown += 1
    if len(tests) > limit:
        command("notice", f"{len(tests) - limit} more failing tests are listed in the job summary and report.html",
                stream)
    return shown


def write_outputs(outputs: Mapping[str, str | int | float | None], path: Path | None = None) -> None:
    """Append ``name=value`` pairs to ``$GITHUB_OUTPUT`` (heredoc form, so values may hold newlines)."""
    target = path or _env_path("GITHUB_OUTPUT")
    if target is None:
        return
    with open(target, "a", encoding="utf-8", newline="\n") as handle:
        for name, value in outputs.items():
            text = "" if value is None else str(value)
            delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
            handle.write(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")


def write_step_summary(markdown: str, path: Path | None = None, report_pointer: str | None = None,
                       budget: int = STEP_SUMMARY_BYTES) -> int | None:
    """Append to the job summary, sized so this step's file stays under GitHub's 1 MiB.

    Over the limit GitHub drops the step's whole summary, so what this step already wrote
    counts against the budget, and our text is cut (with a pointer to the report) to fit.
    Returns the bytes written, or None outside Actions.
    """
    target = path or _env_path("GITHUB_STEP_SUMMARY")
    if target is None:
        return None
    already = target.stat().st_size if target.exists() else 0
    room = budget - already - 1024  # a margin for the runner's own bookkeeping
    if room <= 0:
        return 0
    text = fit(markdown, room, report_pointer)
    with open(target, "a", encoding="utf-8", newline="\n") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")
    return utf8_size(text)


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "")
    return Path(value) if value else None
