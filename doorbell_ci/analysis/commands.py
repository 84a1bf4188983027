"""``doorbell-ci analyze RESULTS_DIR [--against OTHER]``: the analysis of a stored run, in the terminal."""

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
