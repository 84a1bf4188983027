"""Stage 7: write every report from one RunResult.

``report.json`` first (it is the record; the others can be re-made from it with
``doorbell-ci report DIR``), then the merged ``junit.xml``, ``report.html`` and ``summary.md``.
A report that cannot be written is named in the error; the ones already written stay.
"""

from __future__ import annotations

from pathlib import Path

from doorbell_ci import redaction
from doorbell_ci.errors import ReportError
from doorbell_ci.reports import html, json_report, junit, markdown
from doorbell_ci.results import RunResult


def write_all(run: RunResult, output_dir: Path, exit_code: int | None, full: bool = True) -> dict[str, Path]:
    """Write report.json always, and with ``full`` the merged JUnit, HTML and Markdown reports.

    Every string of ``run`` is redacted first, in place (the caller prints the same object next):
    a test that prints a token must not put it into a report (see redaction.py).
    """
    redaction.current().redact_object(run)
    written = {"json": json_report.write(run, output_dir, exit_code)}
    if not full:
        return written
    steps = (
        ("junit", lambda: junit.write(run, output_dir)),
        ("html", lambda: html.write(run, output_dir, exit_code)),
        ("markdown", lambda: _write_markdown(run, output_dir)),
    )
    for name, step in steps:
        try:
            written[name] = step()
        except OSError as error:
            raise ReportError(f"could not write the {name} report in {output_dir}: {error.strerror or error}") from None
    return written


def _write_markdown(run: RunResult, output_dir: Path) -> Path:
    path = output_dir / markdown.FILENAME
    json_report.write_atomic(path, markdown.render(run))
    return path
