"""``doorbell-ci merge DIR...``: the result folders of N shards become one results folder.

One report.json (so ``report``, ``analyze`` and ``publish`` work on it as on any run), one
junit.xml, one coverage total (the shards' coverage data files are combined, not their
percentages averaged), one summary.md and report.html. Each shard's junit/ and logs/ are kept
under ``shards/<folder name>/``, so nothing a shard wrote is lost.

Counting: the merged counts are the sum of the shards' counts, which equal the unsharded run's
counts because every test runs in exactly one shard. A test found in two shards (the shards
disagreed on the split, e.g. different checkouts) is kept once, with its worse outcome, and
named in a notice; a missing or unreadable shard is a notice too, so the merge still reports
what the other shards found.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from doorbell_ci import output_folder
from doorbell_ci.errors import CollectError, ExitCode, ReportError
from doorbell_ci.options import SUITE_NAMES
from doorbell_ci.results import (
    CoverageSummary,
    Outcome,
    ResourceUsage,
    RunResult,
    SuiteResult,
    SuiteStatus,
    TestResult,
)

_STATUS_RANK = {  # the merged suite takes the highest rank among its shards
    SuiteStatus.ERROR: 7, SuiteStatus.TIMEOUT: 6, SuiteStatus.FAILED: 5, SuiteStatus.COVERAGE_FAILED: 4,
    SuiteStatus.PASSED: 3,
    SuiteStatus.NOT_RUN: 2, SuiteStatus.NO_TESTS: 1, SuiteStatus.ABSENT: 0,
}
_OUTCOME_RANK = {Outcome.FAILED: 3, Outcome.ERROR: 2, Outcome.SKIPPED: 1, Outcome.PASSED: 0}
TAIL_LIMIT = 8_000
IMPACT_MAP_FILE = "impact.json.gz"  # the map --record-impact writes in the output folder (docs/IMPACT.md)


@dataclass
class Shard:
    label: str  # unique name of the shard's folder, used under shards/ and in notices
    folder: Path
    run: RunResult
    document: dict[str, Any]


def register_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "merge", help="combine the result folders of sharded runs (--shard K/N) into one",
        description="Combine the result folders of `doorbell-ci run --shard K/N` jobs into one results folder: "
                    "one report.json, junit.xml, coverage total, summary.md and report.html.")
    parser.add_argument("folders", type=Path, nargs="+", metavar="DIR", help="the shards' result folders")
    parser.add_argument("--output-dir", type=Path, default=Path("test-results"), metavar="DIR",
                        help="where the merged results are written (default: test-results)")
    parser.add_argument("--against", type=Path, metavar="REPORT",
                        help="report.json of the base run, to classify failures as new, still failing or fixed")
    parser.add_argument("--no-reports", dest="reports", action="store_false",
                        help="write only report.json (and the coverage data)")
    parser.set_defaults(handler=_merge_command)


def _merge_command(args: argparse.Namespace) -> int:
    from doorbell_ci.reports.console import print_summary

    result, exit_code = merge(args.folders, args.output_dir, against=args.against, full_reports=args.reports)
    print_summary(result, args.output_dir, args.reports)
    return int(exit_code)


def merge(folders: Sequence[Path], output_dir: Path, against: Path | None = None,
          full_reports: bool = True) -> tuple[RunResult, ExitCode]:
    from doorbell_ci import analysis, pipeline, reports
    from doorbell_ci.analysis.flaky import Reruns
    from doorbell_ci.reports import json_report
    from doorbell_ci.reports.text import nothing_tested_notice

    output_dir = output_dir.resolve()
    if any(folder.resolve() == output_dir for folder in folders):
        raise ReportError(f"the output folder {output_dir} is one of the shard folders; pick another --output-dir")
    shards: list[Shard] = []
    notices: list[str] = []
    for folder in folders:
        try:
            run, document = json_report.read(folder)
        except ReportError as error:
            notices.append(f"merge: shard folder {folder} left out: {error}")
            continue
        shards.append(Shard(_label(folder, len(shards)), folder, run, document))
    if not shards:
        raise ReportError("no shard folder holds a readable report.json; nothing to merge")
    output_folder.claim(output_dir, "the merge's output folder")  # only a folder doorbell-ci made is emptied
    output_folder.clear(output_dir, ("shards", "coverage", "junit", "logs"), recreate=False)
    notices += _check_shards(shards)
    for shard in shards:
        _keep_files(shard.folder, output_dir / "shards" / shard.label)
    suites = _merge_suites(shards, notices)
    runs = [shard.run for shard in shards]
    first = runs[0]
    for shard in shards:
        notices += [f"{shard.label}: {notice}" for notice in shard.run.notices]
    result = RunResult(
        run_id="merged-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        project=first.project,
        started_at=min(run.started_at for run in runs),
        finished_at=max(run.finished_at for run in runs),
        duration=max(run.duration for run in runs),  # the shards ran side by side
        suites=suites,
        environment=first.environment,
        platform=first.platform,
        command=["doorbell-ci", "merge", *map(str, folders)],
        notices=notices,
        impact=merge_impact([(shard.label, shard.run.impact) for shard in shards], notices),
    )
    recorded = merge_maps(shards, output_dir, notices)
    if recorded is not None:
        result.impact = {**(result.impact or _RECORDED_ONLY), "recorded": recorded}
    try:
        result.coverage = _merge_coverage(shards, output_dir, result, full_reports)
    except CollectError as error:
        notices.append(f"coverage: {error}")
    stored = [analysis.stored_section(shard.document) for shard in shards]
    history: dict[str, str] = {}
    attempts: dict[str, list[str]] = {}
    known: dict[str, Any] = {}
    for part in stored:
        history.update(analysis.stored_history(part))
        attempts.update(analysis.stored_reruns(part).attempts)
        known.update(analysis.stored_reproductions(part))
    base = base_source = None
    stored_bases = [Path(str(p["against"]["source"])) for p in stored
                    if isinstance(p.get("against"), dict) and p["against"].get("source")]
    base_path = against or (stored_bases[0] if stored_bases else None)
    if base_path is not None:
        try:
            base, _ = json_report.read(base_path)
            base_source = str(base_path)
        except ReportError as error:
            if against is not None:
                raise
            notices.append(f"analysis: failures are not classified as new or known: {error}")
    reruns = Reruns(max_reruns=max(analysis.stored_reruns(p).max_reruns for p in stored), attempts=attempts)
    shard_infos = [p["shard"] for p in stored if isinstance(p.get("shard"), dict)]
    result.analysis = analysis.analyse(
        result, history=history, base=base, base_source=base_source, reruns=reruns, output_dir=output_dir,
        known_reproductions=known, shard={"merged": shard_infos} if shard_infos else None)
    analysis.track_merged(result, [shard.folder for shard in shards], [shard.run.run_id for shard in shards],
                          output_dir, [p["quarantine"] for p in stored if isinstance(p.get("quarantine"), dict)])
    exit_code = pipeline.decide_exit_code(result)
    nothing = nothing_tested_notice(result, exit_code)  # shards that together tested nothing: exit 8, said
    if nothing:
        result.notices.append(nothing)
    reports.write_all(result, output_dir, int(exit_code), full=full_reports)
    return result, exit_code


def _label(folder: Path, position: int) -> str:
    name = folder.resolve().name or f"shard-{position + 1}"
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) + (f"-{position + 1}")


def _check_shards(shards: list[Shard]) -> list[str]:
    from doorbell_ci.analysis import stored_section

    infos = [stored_section(shard.document).get("shard") for shard in shards]
    infos = [info if isinstance(info, dict) else {} for info in infos]
    totals = {info.get("total") for info in infos if info.get("total")}
    if not totals:
        return []
    if len(totals) > 1:
        return [f"merge: the folders come from different splits ({', '.join(map(str, sorted(totals)))} shards)"]
    total = totals.pop()
    seen = [info.get("index") for info in infos if info.get("index")]
    notes = []
    missing = sorted(set(range(1, total + 1)) - set(seen))
    if missing:
        notes.append(f"merge: shard {', '.join(f'{k}/{total}' for k in missing)} missing; the counts cover "
                     f"{len(set(seen))} of {total} shards")
    twice = sorted({k for k in seen if seen.count(k) > 1})
    if twice:
        notes.append(f"merge: shard {', '.join(f'{k}/{total}' for k in twice)} given more than once")
    splits = {(info.get("total_tests"), info.get("strategy"), info.get("durations_source"), info.get("recorded"))
              for info in infos}
    if len(splits) > 1:  # each job split on its own inputs: some tests may have run twice, others never
        notes.append("merge: the shards did not split the same way (different test lists or durations); "
                     "give every shard job the same --durations file")
    return notes


def _keep_files(source: Path, target: Path) -> None:
    for sub in ("junit", "logs"):
        if (source / sub).is_dir():
            shutil.copytree(source / sub, target / sub, dirs_exist_ok=True)


def _selection_key(impact: dict[str, Any]) -> str:
    """What makes two shards' selections the same one: shards of one run all carry the whole selection."""
    facts = {key: impact.get(key) for key in ("mode", "base", "head", "full_run_reason", "selected", "total",
                                              "reasons")}
    facts["deselected"] = sorted(str(test) for test in impact.get("deselected") or [] if isinstance(test, str))
    facts["map"] = impact.get("map") if isinstance(impact.get("map"), dict) else None
    return json.dumps(facts, sort_keys=True, default=str)


def merge_impact(parts: Sequence[tuple[str, dict[str, Any] | None]], notices: list[str]) -> dict[str, Any] | None:
    """The shards' selection facts (report.json "impact") as one, so the merged reports still say what ran.

    Shards of one run selected once, before the split, so they carry the same selection: it is
    kept once (only ``missed``, what each shard's failures make of it, is joined). Legs that
    selected on their own (other suites, other platforms) are added up: counts summed, lists
    joined, and a notice when they selected against different maps or commits. ``recorded`` is
    set by :func:`merge_maps`: each shard recorded only its own tests.
    """
    present = [(label, impact) for label, impact in parts if isinstance(impact, dict)]
    if not present:
        return None
    if len(present) < len(parts):
        without = [label for label, impact in parts if not isinstance(impact, dict)]
        notices.append(f"merge: {', '.join(without)} carried no test selection facts; the merged selection covers "
                       f"{len(present)} of {len(parts)} folders")
    groups: dict[str, dict[str, Any]] = {}
    for _, impact in present:
        groups.setdefault(_selection_key(impact), impact)
    selections = list(groups.values())
    first = selections[0]
    merged: dict[str, Any] = {key: first.get(key) for key in ("mode", "map", "full_run_reason", "base", "head")}
    merged["recorded"] = None
    if len(selections) > 1:
        for key, what in (("mode", "modes"), ("base", "base commits"), ("head", "head commits")):
            values = sorted({str(impact.get(key)) for impact in selections})
            if len(values) > 1:
                notices.append(f"merge: the legs selected with different {what}: {', '.join(values)}")
        maps = sorted({json.dumps(impact.get("map"), sort_keys=True, default=str) for impact in selections})
        if len(maps) > 1:
            notices.append(f"merge: the legs selected against {len(maps)} different impact maps")
        reasons = [impact.get("full_run_reason") for impact in selections]
        fell_back = [reason for reason in reasons if isinstance(reason, str) and reason]
        # the whole merged run ran everything only if every leg did; else each fallback is a notice
        merged["full_run_reason"] = "; ".join(dict.fromkeys(fell_back)) if len(fell_back) == len(reasons) else None
        if merged["full_run_reason"] is None:
            notices += [f"merge: one leg ran every test: {reason}" for reason in dict.fromkeys(fell_back)]
    merged["selected"] = _sum(selections, "selected")
    merged["total"] = _sum(selections, "total")
    reasons_sum: dict[str, int] = {}
    for impact in selections:
        for key, value in (impact.get("reasons") or {}).items() if isinstance(impact.get("reasons"), dict) else ():
            if isinstance(value, int) and not isinstance(value, bool):
                reasons_sum[key] = reasons_sum.get(key, 0) + value
    merged["reasons"] = reasons_sum
    changed: dict[str, Any] = {}
    for impact in selections:
        for entry in impact.get("changed") or []:
            if isinstance(entry, dict):
                changed.setdefault(str(entry.get("path")), entry)
    merged["changed"] = list(changed.values())
    merged["deselected"] = _joined(selections, "deselected")
    merged["no_code_change"] = _joined(selections, "no_code_change")
    merged["constants"] = _joined(selections, "constants")
    merged["missed"] = _joined([impact for _, impact in present], "missed")
    merged["notices"] = _joined([impact for _, impact in present], "notices")
    return merged


_RECORDED_ONLY: dict[str, Any] = {"mode": "all", "map": None, "full_run_reason": None, "base": None, "head": None,
                                  "changed": [], "selected": None, "total": None, "reasons": {}, "deselected": [],
                                  "no_code_change": [], "constants": [], "missed": [], "notices": []}


def merge_maps(shards: Sequence[Shard], output_dir: Path, notices: list[str]) -> dict[str, Any] | None:
    """The shards' recorded impact maps as one ``impact.json.gz``: each shard recorded only its own tests.

    Maps of one recording (same commit, platform and tree state) are joined test by test; a map
    recorded elsewhere, or one whose file hashes disagree with the others', is left out with a
    notice (joining it would let a test look up lines of another version of a file).
    """
    from doorbell_ci.impact.impactmap import ImpactMap, ImpactMapError, read_map, write_map

    try:  # an earlier merge's map in this (claimed) folder must not pass for this one's
        os.unlink(output_dir / IMPACT_MAP_FILE)
    except FileNotFoundError:
        pass
    parts: list[tuple[str, ImpactMap]] = []
    for shard in shards:
        path = shard.folder / IMPACT_MAP_FILE
        if not os.path.lexists(path):
            continue
        try:
            parts.append((shard.label, read_map(path)))
        except ImpactMapError as error:
            notices.append(f"merge: {shard.label}: {error}; its tests are not in the merged map")
    if not parts:
        return None
    first = parts[0][1]
    merged = ImpactMap(commit=first.commit, dirty=first.dirty, platform_key=first.platform_key,
                       created_at=max(part.created_at for _, part in parts), suites=[], files={}, tests={})
    for label, part in parts:
        same = (part.commit, part.dirty, part.platform_key) == (first.commit, first.dirty, first.platform_key)
        clash = [path for path, sha in part.files.items() if merged.files.get(path, sha) != sha]
        if not same or clash:
            why = (f"recorded at {part.commit[:12]} on {part.platform_key}, the others at {first.commit[:12]} on "
                   f"{first.platform_key}") if not same else f"{len(clash)} files differ from the others' ({clash[0]})"
            notices.append(f"merge: the impact map of {label} is left out: {why}")
            continue
        merged.files.update(part.files)
        for key, per_file in part.tests.items():  # "suite::" (import-time lines) is in every shard's map
            into = merged.tests.setdefault(key, {})
            for path, ranges in per_file.items():
                into[path] = _joined_ranges(into.get(path, ()), ranges)
        merged.suites += [suite for suite in part.suites if suite not in merged.suites]
    try:
        size = write_map(merged, output_dir / IMPACT_MAP_FILE)
    except (ImpactMapError, OSError) as error:
        notices.append(f"merge: the joined impact map was not written: {error}")
        return None
    tests = sum(1 for key in merged.tests if not key.endswith("::"))  # as the stage counts: "suite::" is no test
    return {"path": IMPACT_MAP_FILE, "tests": tests, "files": len(merged.files), "bytes": size}


Ranges = tuple[tuple[int, int], ...]


def _joined_ranges(first: Ranges, second: Ranges) -> Ranges:
    """Two sorted ``(first, last)`` range lists as one, overlapping and touching ranges merged."""
    joined: list[list[int]] = []
    for start, end in sorted(first + second):
        if joined and start <= joined[-1][1] + 1:
            joined[-1][1] = max(joined[-1][1], end)
        else:
            joined.append([start, end])
    return tuple((start, end) for start, end in joined)


def _sum(impacts: list[dict[str, Any]], key: str) -> int | None:
    values = [impact.get(key) for impact in impacts]
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        return None  # a leg that did not count: no total is better than a wrong one
    return sum(values)  # type: ignore[arg-type]


def _joined(impacts: list[dict[str, Any]], key: str) -> list[str]:
    """Every string of the lists under ``key``, once each, in first-seen order."""
    return list(dict.fromkeys(item for impact in impacts for item in impact.get(key) or []
                              if isinstance(item, str)))


def _merge_suites(shards: list[Shard], notices: list[str]) -> list[SuiteResult]:
    from doorbell_ci.analysis.signatures import test_key

    merged: dict[str, SuiteResult] = {}
    owners: dict[str, tuple[str, TestResult]] = {}
    for shard in shards:
        label = shard.label
        for suite in shard.run.suites:
            target = merged.get(suite.name)
            if target is None:
                target = merged[suite.name] = SuiteResult(name=suite.name, status=SuiteStatus.ABSENT,
                                                          command=list(suite.command), platform=suite.platform)
            _merge_suite(target, suite, label)
            for test in suite.tests:
                key = test_key(test)
                if key in owners:
                    other_label, other = owners[key]
                    notices.append(f"merge: {key} ran in {other_label} and {label}; kept the worse outcome")
                    if _OUTCOME_RANK[test.outcome] > _OUTCOME_RANK[other.outcome]:
                        target.tests[target.tests.index(other)] = test
                        owners[key] = (label, test)
                    continue
                owners[key] = (label, test)
                target.tests.append(test)
    order = {name: position for position, name in enumerate(SUITE_NAMES)}  # the order an unsharded run uses
    return sorted(merged.values(), key=lambda suite: order.get(suite.name, len(order)))


def _merge_suite(target: SuiteResult, suite: SuiteResult, label: str) -> None:
    if _STATUS_RANK[suite.status] > _STATUS_RANK[target.status]:
        target.status, target.exit_code = suite.status, suite.exit_code
    if suite.reason and suite.status not in (SuiteStatus.ABSENT, SuiteStatus.PASSED):
        target.reason = "; ".join(filter(None, [target.reason, f"{label}: {suite.reason}"]))
    if suite.started_at and (target.started_at is None or suite.started_at < target.started_at):
        target.started_at = suite.started_at
    target.duration = max(target.duration, suite.duration)
    a, b = target.resources, suite.resources
    target.resources = ResourceUsage(wall_seconds=max(a.wall_seconds, b.wall_seconds),
                                     cpu_seconds=round(a.cpu_seconds + b.cpu_seconds, 3),
                                     peak_rss_bytes=max(a.peak_rss_bytes, b.peak_rss_bytes),
                                     processes=a.processes + b.processes)
    if target.junit_file is None and suite.junit_file:
        target.junit_file = f"shards/{label}/{suite.junit_file}"
    if target.log_file is None and suite.log_file and suite.status is not SuiteStatus.ABSENT:
        target.log_file = f"shards/{label}/{suite.log_file}"
    if suite.output_tail and suite.status.is_bad:
        target.output_tail = (target.output_tail + f"\n[{label}]\n" + suite.output_tail)[-TAIL_LIMIT:]
    if not target.command and suite.command:
        target.command = list(suite.command)


def _merge_coverage(shards: list[Shard], output_dir: Path, result: RunResult,
                    full_reports: bool) -> CoverageSummary | None:
    """Combine every shard's per-suite coverage data files; the total is measured, not averaged."""
    from doorbell_ci.collect import collect_coverage
    from doorbell_ci.plan import Plan

    target = output_dir / "coverage"
    target.mkdir(parents=True, exist_ok=True)
    copied = 0
    for shard in shards:
        source = shard.folder / "coverage"
        for data in sorted(source.glob(".coverage.*")) if source.is_dir() else []:
            shutil.copyfile(data, target / f"{data.name}.{shard.label}")
            copied += 1
    if not copied:
        return None
    project = Path(result.project)
    fail_under = next((s.run.coverage.fail_under for s in shards if s.run.coverage is not None), None)
    plan = Plan(run_id=result.run_id, created_at=result.started_at,
                project=project if project.is_dir() else Path.cwd(), output_dir=output_dir, suites=())
    return collect_coverage(plan, fail_under, full_reports)
