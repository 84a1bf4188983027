"""report.html: one self-contained page (no script, no external resource) rendered with jinja2.

Autoescaping is on for every value, and the page carries a Content-Security-Policy that
allows no script at all, so a hostile test name or captured output stays text. Large runs
stay usable: failures are listed in full (up to a cap), and the list of all tests is split
per suite into collapsed sections of at most ``ROWS_PER_SUITE`` rows; report.json and
junit.xml hold the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, Template, select_autoescape
from markupsafe import Markup

from doorbell_ci import __version__
from doorbell_ci.analysis import render as analysis_render
from doorbell_ci.reports import impact_view, perf_view
from doorbell_ci.reports.text import (
    NOTHING_TESTED,
    ending_lines,
    failures,
    human_bytes,
    human_seconds,
    location,
    show_bidi,
    slowest,
    verdict,
)
from doorbell_ci.results import Outcome, RunResult

FILENAME = "report.html"
MAX_FAILURES = 500
ROWS_PER_SUITE = 2_000
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def _visible_controls(value: Any) -> Any:
    """Every printed value: bidirectional overrides shown by name, so a name cannot read backwards."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return show_bidi(value)
    return value


def template_environment(finalize: Callable[[Any], Any] = _visible_controls) -> Environment:
    """The templates' settings every HTML page shares: autoescape everywhere, even in strings, and
    ``finalize`` applied to every printed value (bidirectional overrides shown by name)."""
    return Environment(
        loader=PackageLoader("doorbell_ci.reports", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        finalize=finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_environment = template_environment()
_environment.filters.update(bytes=human_bytes, seconds=human_seconds, location=location)
_environment.globals["perf_view"] = perf_view  # geometry of the performance section's SVGs


def load_template() -> Template:
    """The page's compiled template (jinja2 caches it): compiling takes about 30 ms, so the pipeline
    calls this while the suites run, not after them."""
    return _environment.get_template("report.html.j2")


def render(run: RunResult, exit_code: int | None = None) -> str:
    failed = failures(run)
    skipped = [t for t in run.iter_tests() if t.outcome is Outcome.SKIPPED]
    return load_template().render(
        run=run,
        counts=run.counts,
        csp=CSP,
        version=__version__,
        exit_code=exit_code,
        verdict=verdict(run)[1],
        problems=[line for line in ending_lines(run) if not line.startswith(NOTHING_TESTED)],
        failures=failed[:MAX_FAILURES],
        failures_cut=max(0, len(failed) - MAX_FAILURES),
        skipped=skipped[:ROWS_PER_SUITE],
        skipped_cut=max(0, len(skipped) - ROWS_PER_SUITE),
        slowest=slowest(run, 25),
        rows_per_suite=ROWS_PER_SUITE,
        analysis_view=analysis_render.view(run.analysis),
        analysis_shown=analysis_shown(run.analysis),
        impact=impact_view.view(run.impact),
        coverage_files=sorted(run.coverage.files, key=lambda f: f.percent)[:300] if run.coverage else [],
    )


def analysis_shown(analysis: Any) -> Any:
    """The analysis section as the page prints it whole: the per-test history counted, not listed.

    It holds one entry for every test of the run (``suite::nodeid`` and its last outcomes), 10 MB
    of a 12 MB page at 50,000 tests and 0.2 s of rendering; report.json keeps it, and the tests
    whose history matters are listed under ``flipping``.
    """
    if not isinstance(analysis, dict) or not isinstance(analysis.get("history"), dict):
        return analysis
    count = len(analysis["history"])
    return {**analysis, "history": f"{count} test{'s' if count != 1 else ''}: in report.json (analysis.history); "
                                   "those whose outcome flips are under \"flipping\""}


def write(run: RunResult, output_dir: Path, exit_code: int | None = None) -> Path:
    from doorbell_ci.atomic import write_text

    path = output_dir / FILENAME
    write_text(path, render(run, exit_code), durable=False)  # made again from report.json
    return path
