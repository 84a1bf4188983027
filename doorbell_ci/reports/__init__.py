"""Stage 7: write every report from one RunResult.

``report.json`` first (it is the record; the others can be re-made from it with
``doorbell-ci report DIR``), then the merged ``junit.xml``, ``ctrf.json``, ``report.html`` and ``summary.md``.
A report that cannot be written is named in the error; the ones already written stay. When
report.json itself cannot be written in the output folder (read-only, disk full), every report
goes to a new temp folder instead, named in the error (exit 4): the results are never lost.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import NoReturn

from doorbell_ci import atomic, redaction
from doorbell_ci.errors import ReportError
from doorbell_ci.results import RunResult, counts_held

# The writers (jinja2, junitparser, the dashboard) are imported where they are used, not here:
# `doorbell-ci run` imports this package at start-up for the console summary (reports.console),
# and importing every writer then cost 0.1-0.2 s of CPU before the first suite could start
# (docs/PERFORMANCE.md, "Floor"). The pipeline imports them while the suites run.


def write_all(run: RunResult, output_dir: Path, exit_code: int | None, full: bool = True) -> dict[str, Path]:
    """Write report.json always, and with ``full`` the merged JUnit, HTML and Markdown reports.

    Every string of ``run`` is redacted first, in place (the caller prints the same object next):
    a test that prints a token must not put it into a report (see redaction.py).
    """
    from doorbell_ci.reports import json_report

    redaction.current().redact_object(run)
    with counts_held(run):  # from here on the results no longer change
        try:
            written = {"json": json_report.write(run, output_dir, exit_code)}
        except ReportError as error:
            _write_elsewhere(run, exit_code, full, error)
        if not full:
            return written
        failed = _write_secondary(run, output_dir, exit_code, written)
    if failed:
        raise ReportError(f"could not write {'; '.join(failed)}; report.json and the other reports were written "
                          f"(re-render with `doorbell-ci report {output_dir}`)", run=run)
    return written


def replaced_names(output_dir: Path, full: bool = True) -> frozenset[str]:
    """The files in ``output_dir`` that :func:`write_all` replaces (made from the redacted run).

    The output folder's scrub leaves them unread (``redaction.scrub_output(leave=...)``): they are
    the previous run's reports, about to be replaced; one that is not replaced after all is
    scanned then (``redaction.scrub_left``). dashboard.html only when a history.json is there to
    draw it from.
    """
    from doorbell_ci.reports import ctrf, dashboard, html, json_report, junit, markdown

    names = {json_report.FILENAME}
    if full:
        names |= {junit.FILENAME, ctrf.FILENAME, html.FILENAME, markdown.FILENAME}
        if os.path.lexists(output_dir / dashboard.HISTORY_FILENAME):
            names.add(dashboard.FILENAME)
    return frozenset(names)


def _write_secondary(run: RunResult, output_dir: Path, exit_code: int | None, written: dict[str, Path]) -> list[str]:
    """The reports made from report.json: each one that fails is named, the others are still written."""
    from doorbell_ci.reports import ctrf, dashboard, html, json_report, junit

    steps = (
        ("junit", lambda: junit.write(run, output_dir)),
        ("ctrf", lambda: ctrf.write(run, output_dir)),
        ("html", lambda: html.write(run, output_dir, exit_code)),
        ("markdown", lambda: _write_markdown(run, output_dir)),
        ("dashboard", lambda: dashboard.write_beside(output_dir)),  # only when the run kept a history.json
    )
    failed = []
    for name, step in steps:
        try:
            path = step()
        except OSError as error:
            failed.append(f"the {name} report in {output_dir}: {json_report.os_error_text(error)}")
        except ReportError as error:  # a history.json off its format: the other reports stand
            failed.append(f"the {name} report in {output_dir}: {error}")
        else:
            if path is not None:
                written[name] = path
    return failed


def _write_elsewhere(run: RunResult, exit_code: int | None, full: bool, error: ReportError) -> NoReturn:
    """report.json could not be written where asked: keep the results in a new temp folder, and say where.

    The output folder went read-only or filled up; losing a whole run's results to that would be
    worse than reports in an unexpected place. A report.json already there (an earlier run's) is
    left intact, never half overwritten, and the error line says it is not this run's.
    """
    from doorbell_ci.reports import json_report

    fallback = None
    try:
        fallback = Path(tempfile.mkdtemp(prefix=f"doorbell-ci-reports-{run.run_id}-"))
        json_report.write(run, fallback, exit_code)
    except (OSError, ReportError) as second:
        if fallback is not None:  # often the same full disk: leave nothing behind there either
            shutil.rmtree(fallback, ignore_errors=True)
        raise ReportError(f"{error}; the fallback folder failed too ({second}), so this run's results are only "
                          "in the summary printed above", run=run) from None
    if full:
        _write_secondary(run, fallback, exit_code, {})
    raise ReportError(f"{error}; this run's reports were written to {fallback} instead", run=run,
                      reports_dir=fallback) from None


def _write_markdown(run: RunResult, output_dir: Path) -> Path:
    from doorbell_ci.reports import markdown

    path = output_dir / markdown.FILENAME
    atomic.write_text(path, markdown.render(run), durable=False)  # made again from report.json
    return path
