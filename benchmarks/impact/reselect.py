"""What another engine's ``--select affected`` would select over an already replayed history.

Why: comparing two engines with ``replay.py history`` twice costs two full replays (35-40 minutes
each for cachetools on a busy machine) and mixes their selections with the noise of two sets of
runs. The selection is a pure function of the previous commit's map, the diff, the collected
test ids and the previous history.json, all of which a replay leaves in its run folders. This
script recomputes only the selection, for every replayed pair, with whatever ``doorbell_ci`` is on
``PYTHONPATH``, in a clone of its own (the replay's clone is left alone). Run it with the engine
that made the replay first: it must give the replay's own counts (``mismatches: 0``).

    PYTHONPATH=<engine checkout> python benchmarks/impact/reselect.py --workdir W --project cachetools \\
        --clone /tmp/reselect-clone --out selection-<engine>.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from doorbell_ci.impact import stage
from doorbell_ci.impact.impactmap import read_map
from doorbell_ci.impact.select import SelectSettings, select_tests


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True, help="the replay's --workdir")
    parser.add_argument("--project", required=True)
    parser.add_argument("--clone", type=Path, required=True, help="a clone of the project to check commits out in")
    parser.add_argument("--out", type=Path, required=True, help="JSON file: per commit, this engine's selection")
    parser.add_argument("--no-importers", action="store_true",
                        help="leave out the import-closure rule (a module-level change selects every importer), "
                             "to measure what it costs; not a sound selection")
    args = parser.parse_args(argv)
    runs = args.workdir / "runs" / args.project
    data = json.loads((args.workdir / "results" / f"{args.project}-history.json").read_text(encoding="utf-8"))
    if not args.clone.exists():
        subprocess.run(["git", "clone", "-q", str(args.workdir / "src" / args.project), str(args.clone)], check=True)
    out: dict[str, dict] = {}
    for index, sha in enumerate(data["order"]):
        entry = data["commits"].get(sha)
        if index == 0 or not entry or not entry.get("selected"):
            continue
        previous = runs / data["order"][index - 1][:12] / "full"
        probe = runs / sha[:12] / "selected" / "logs" / "paths-collect.ids"
        if not probe.is_file():  # the selected run listed no tests (or ran whole): nothing to compare with
            continue
        git(args.clone, "checkout", "-q", "--force", "--detach", sha)
        git(args.clone, "clean", "-fdq")
        # the ids the selected run's --collect-only probe listed (report.json's ids follow JUnit's file attribute)
        collected = {"paths": [line for line in probe.read_text(encoding="utf-8").splitlines() if line]}
        impact_map = read_map(previous / "impact.json.gz")
        found = stage._changes(args.clone, impact_map, None)
        config = SimpleNamespace(history=True, history_from=str(previous / "history.json"),
                                 output_dir=str(args.out.parent), project=str(args.clone))
        recent = stage._recent_failures(config, collected, [])
        mentions = getattr(stage, "_mentions", None)  # engines before the constant rule have none
        selection = select_tests(impact_map, found, collected, recent, SelectSettings(ignore=tuple(data["ignore"])),
                                 None if args.no_importers else stage._importers(args.clone, found, collected),
                                 **({"mentions_of": mentions(args.clone, found, collected)} if mentions else {}))
        real = entry["selected"].get("impact") or {}
        # a test that failed in this commit's full run and that this selection leaves out
        chosen = {f"{suite}::{nodeid}" for suite, ids in selection.selected.items() for nodeid in ids}
        failures = list((entry.get("full") or {}).get("failures") or [])
        listed = {f"{suite}::{nodeid}" for suite, ids in collected.items() for nodeid in ids}
        everything = selection.full_run_reason is not None or selection.count == selection.total
        missed = [] if everything else [key for key in failures if key in listed and key not in chosen]
        # a failure whose id the probe did not list (JUnit's file attribute: tests/__init__.py::test_x for a
        # test defined there and run from another file) cannot be matched: counted apart, never as caught
        unmatched = [] if everything else [key for key in failures if key not in listed]
        out[sha] = {"index": index, "subject": entry["subject"], "selected": selection.count,
                    "total": selection.total, "full_run_reason": selection.full_run_reason,
                    "no_code_change": getattr(selection, "no_code_change", None),
                    "constants": getattr(selection, "constants", None), "reasons": selection.reason_counts(),
                    "full_failures": len(failures), "missed": missed, "unmatched_failures": unmatched,
                    "replayed_selected": real.get("selected"), "replayed_total": real.get("total")}
        print(f"[{index:2}] {sha[:8]} {selection.count}/{selection.total} (replayed {real.get('selected')}/"
              f"{real.get('total')}){' missed ' + str(len(missed)) if missed else ''}", flush=True)
    args.out.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    fractions = [row["selected"] / row["total"] for row in out.values() if row["total"]]
    mismatches = sum(1 for row in out.values() if (row["selected"], row["total"])
                     != (row["replayed_selected"], row["replayed_total"]))
    if fractions:
        missed_total = sum(len(row["missed"]) for row in out.values())
        failing = sum(row["full_failures"] for row in out.values())
        print(f"{len(out)} pairs: median {statistics.median(fractions):.1%}, mean {statistics.mean(fractions):.1%}; "
              f"mismatches with the replay's own selection: {mismatches}; failures in the full runs {failing}, "
              f"left out by this selection {missed_total}, not matched to a listed id "
              f"{sum(len(row['unmatched_failures']) for row in out.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
