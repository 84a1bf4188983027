"""``doorbell-ci analyze RESULTS_DIR [--against OTHER]``: the analysis of a stored run, in the terminal.

``doorbell-ci history combine FILE... --output FILE``: the histories of matrix legs (or of several
result folders) as one timeline, e.g. for a dashboard job that downloaded every leg's artifact.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "analyze", help="print the failure analysis of a results folder (groups, new vs known, flaky, reproduce)",
        description="Print the failure analysis of a results folder: failures grouped by cause, new versus "
                    "known failures against a base run, flaky and flipping tests, and how to rerun each failure.")
    parser.add_argument("results", type=Path, help="folder holding report.json (or the report.json itself)")
    parser.add_argument("--against", type=Path, metavar="REPORT",
                        help="report.json (or its folder) of the base run to classify failures against")
    parser.add_argument("--json", action="store_true", help="print the analysis as JSON (report.json's schema)")
    parser.set_defaults(handler=_analyze)

    history = subparsers.add_parser(
        "history", help="work with history.json files (combine matrix legs)",
        description="Work with the per-test history files runs write (docs/HISTORY.md).")
    actions = history.add_subparsers(dest="history_command", metavar="COMMAND", required=True)
    combine = actions.add_parser(
        "combine", help="combine the history.json of several legs or folders into one timeline",
        description="Combine history.json files (or folders holding one) into one, runs ordered by start time, "
                    "each run once (by run id and platform), bounded like a run's own history.")
    combine.add_argument("inputs", type=Path, nargs="+", metavar="FILE", help="history.json files or their folders")
    combine.add_argument("--output", type=Path, required=True, metavar="FILE", help="where to write the result")
    combine.add_argument("--runs", type=int, default=None, help="runs kept (default: 64, or more if an input has more)")
    combine.add_argument("--tests", type=int, default=None, help="tests kept (default: 100,000)")
    combine.set_defaults(handler=_combine)


def _analyze(args: argparse.Namespace) -> int:
    from doorbell_ci import analysis
    from doorbell_ci.analysis import render
    from doorbell_ci.analysis.signatures import test_key
    from doorbell_ci.reports.text import closing_line

    run, result = analysis.reanalyse(args.results, args.against)
    if args.json:
        print(analysis.dumps(result))
        return 0
    outputs = {test_key(t): (t.stdout, t.stderr) for t in run.iter_tests() if t.stdout or t.stderr}
    for notice in run.notices:
        print(f"notice: {notice}")
    print(render.terminal(result, outputs), end="")
    print(closing_line(run))
    return 0


def _combine(args: argparse.Namespace) -> int:
    from doorbell_ci import atomic
    from doorbell_ci.analysis import history_store
    from doorbell_ci.errors import ConfigError

    histories = [history_store.read(path) for path in args.inputs]  # a bad one: its one-line error, exit 4
    runs = args.runs or max(history_store.DEFAULT_RUNS, *(len(h.runs) for h in histories))
    tests = args.tests or history_store.DEFAULT_TESTS
    if not (1 <= runs <= history_store.MAX_RUNS and 1 <= tests <= history_store.MAX_TESTS):
        raise ConfigError(f"--runs must be 1-{history_store.MAX_RUNS} and --tests 1-{history_store.MAX_TESTS:,}")
    combined = history_store.combine(histories, runs, tests)
    output = args.output / history_store.FILENAME if args.output.is_dir() else args.output
    atomic.write_text(output, history_store.dumps(combined))
    print(f"doorbell-ci history: {len(combined.runs)} runs of {len(histories)} histories, "
          f"{len(combined.tests):,} tests -> {output}")
    return 0
