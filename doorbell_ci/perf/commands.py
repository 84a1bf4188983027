"""``doorbell-ci baseline update RESULTS_DIR`` and ``doorbell-ci baseline show``.

``update`` adds a finished run (its ``perf/`` samples and ``report.json`` platform facts) to the
baseline file of that run's platform key; run it on default-branch builds and upload ``baselines/``
as the baseline artifact (the action does this). ``show`` lists what a baseline folder holds.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from doorbell_ci import jsonsafe
from doorbell_ci.errors import PerfError


def register_commands(subparsers: Any) -> None:
    baseline = subparsers.add_parser("baseline", help="update or show performance baselines",
                                     description="Manage the per-platform performance baseline files.")
    actions = baseline.add_subparsers(dest="baseline_command", required=True, metavar="ACTION")
    update = actions.add_parser("update", help="add a results folder's benchmarks to its platform's baseline")
    update.add_argument("results", type=Path, help="results folder of a run (holds report.json and perf/)")
    update.add_argument("--baseline-dir", type=Path, default=Path("baselines"),
                        help="folder of baseline files (default: baselines)")
    update.add_argument("--commit", default=None,
                        help="commit the results belong to (default: $GITHUB_SHA, else git rev-parse HEAD)")
    update.add_argument("--replace-unreadable", action="store_true",
                        help="move an unreadable baseline file aside (to NAME.unreadable-TIME) instead of stopping")
    update.set_defaults(handler=_update)
    show = actions.add_parser("show", help="list the baseline files and what they hold")
    show.add_argument("--baseline-dir", type=Path, default=Path("baselines"),
                      help="folder of baseline files (default: baselines)")
    show.set_defaults(handler=_show)


def _update(args: argparse.Namespace) -> int:
    from doorbell_ci.perf import baselines
    from doorbell_ci.perf.compare import read_measurements

    results = args.results
    report_path = results / "report.json"
    try:
        document = jsonsafe.loads(report_path.read_text(encoding="utf-8"))
        platform = document["platform"]
        run_id = str(document.get("run", {}).get("id") or document.get("run_id") or "")
    except FileNotFoundError:
        raise PerfError(f"{report_path} does not exist; pass the results folder of a doorbell-ci run") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:  # ValueError: bad JSON, NaN
        raise PerfError(f"{report_path} is not a usable report.json ({error})") from None
    if not isinstance(platform, dict):
        raise PerfError(f"{report_path}: 'platform' is not a table")
    measured = read_measurements(results)
    for problem in measured.problems:
        print(f"doorbell-ci baseline: {problem}")
    if not measured.records:
        raise PerfError(f"{results / 'perf'} holds no benchmark samples; nothing to add to the baseline")
    benchmarks = {
        name: {"wall": record.wall, "cpu": record.cpu, "peak_memory": record.peak_memory, "loops": record.loops,
               **({"instructions": record.instructions, "instruction_processes": record.instruction_processes}
                  if record.instructions else {}),
               "metrics": {k: {"value": m.value, "unit": m.unit, "higher_is_better": m.higher_is_better}
                           for k, m in record.metrics.items()}}
        for name, record in measured.records.items()
        if (record.wall or record.peak_memory or record.instructions) and record.slowdown == 1.0
    }
    if not benchmarks:
        raise PerfError("every benchmark in these results ran with an injected slowdown; not a baseline")
    key = baselines.platform_key(platform)
    throttled = baselines.not_comparable_reason(platform) is not None
    path = baselines.update(args.baseline_dir, key, benchmarks, _commit(args.commit), run_id,
                            throttled=throttled, replace_unreadable=args.replace_unreadable)
    note = " (throttled run: kept as latest, not added to the history)" if throttled else ""
    print(f"doorbell-ci baseline: {len(benchmarks)} benchmark(s) written to {path}{note}")
    return 0


def _commit(explicit: str | None) -> str:
    if explicit:
        return explicit
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    from doorbell_ci.perf.paired import git

    try:
        return git(["rev-parse", "HEAD"], Path.cwd())
    except PerfError:
        return ""


def _show(args: argparse.Namespace) -> int:
    from doorbell_ci.perf import baselines

    for line in baselines.show(args.baseline_dir):
        print(line)
    return 0
