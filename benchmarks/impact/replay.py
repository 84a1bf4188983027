"""Replay test impact analysis over real projects' git histories (issue 14's evidence).

Why: `--select affected` is only worth turning on if, over a real project's real commits, it runs
a small share of the tests *and* never leaves out a test that fails. This script drives only the
real CLI (``python -m doorbell_ci run``) in a clone of each project, one commit at a time, and
writes what happened to JSON files that ``summary`` turns into the figures of docs/IMPACT.md.

Subcommands (each resumable: a commit or mutant already in its JSON file is not run again):

- ``setup``    clone the project from its git mirror and make its venv (doorbell-ci installed
               editable from this checkout, the project editable so coverage measures its source).
- ``history``  for each of the N consecutive first-parent commits C_0..C_N-1 up to the pinned tip:
               the full run with ``--record-impact`` (the full result *and* the map for C_i+1), then,
               from C_1 on, ``--select affected --impact-map <map of C_i-1>``. Records selected/total,
               both wall times, both runs' failures and the failures the full run found that the
               selected run missed.
- ``mutate``   for each replayed commit that changes non-test Python lines: a few deterministic
               faults in the changed lines (mutate.py); each mutant runs the full suite and the
               selected run against the previous commit's map. Counts faults the full suite
               detects and the selected run misses (target 0).
- ``overhead`` the full run with coverage, without and with ``--record-impact``, interleaved
               A B A B, medians and load averages (target: at most 1.3x wall); ``--sides ABC``
               adds C, the previous recorder (coverage contexts), and checks its map equals B's.
- ``summary``  the figures (``--json`` for machine-readable output).

Runs are strictly sequential (the machine is shared). Everything lands under ``--workdir``;
the JSON results are copied into benchmarks/impact/results/ by ``summary --save``.

    python benchmarks/impact/replay.py setup --project humanize
    python benchmarks/impact/replay.py history --project humanize
    python benchmarks/impact/replay.py mutate --project humanize
    python benchmarks/impact/replay.py overhead --project humanize --pairs 5
    python benchmarks/impact/replay.py summary --save
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mutate  # noqa: E402  (the sibling module; this file is run as a script)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_WORKDIR = Path(os.environ.get("IMPACT_REPLAY_WORKDIR", "/work/replay"))
RUN_TIMEOUT = 900


@dataclass(frozen=True)
class Project:
    name: str
    source: str  # where the git history comes from (a mirror path; GitHub itself in a normal setup)
    github: str  # owner/name, for the docs
    tip: str  # the last commit replayed (pinned so a rerun replays the same commits)
    install: tuple[str, ...]  # pip install arguments for the project itself, run inside the clone
    paths: tuple[str, ...] = ("tests",)
    env: dict[str, str] = field(default_factory=dict)
    # files of the project's CI and tooling that no local test run reads: what a user of the project would
    # put in impact_ignore (the engine's defaults already ignore docs, *.md, *.rst and LICENSE*)
    ignore: tuple[str, ...] = ()


PROJECTS = {
    "humanize": Project(
        name="humanize",
        source="/work/.mirror/python-humanize+humanize/repo",
        github="python-humanize/humanize",
        tip="c3a124c",
        install=("-e", ".[tests]"),
        # pytest-benchmark's timing loops make the suite 2x slower and add nothing to pass/fail
        env={"PYTEST_ADDOPTS": "--benchmark-disable"},
        ignore=(".github/*", ".pre-commit-config.yaml", "requirements-mypy.txt", "RELEASING.md", "mkdocs.yml"),
    ),
    "cachetools": Project(
        name="cachetools",
        source="/work/.mirror/tkem+cachetools/repo",
        github="tkem/cachetools",
        tip="28d4506",
        install=("-e", ".", "pytest", "pytest-cov"),
        ignore=(".github/*", "CHANGELOG.rst", "MANIFEST.in"),
    ),
}


# ---------------------------------------------------------------------------------------------- helpers

def git(clone: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(clone), *args], check=True, capture_output=True,
                          text=True).stdout


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def load_json(path: Path, default):
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return default


def save_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


class Layout:
    """Where one project's clone, venv, run outputs and result files live."""

    def __init__(self, workdir: Path, project: Project, pythonpath: str = "", venv: Path | None = None) -> None:
        self.project = project
        self.pythonpath = pythonpath  # --pythonpath: an engine checkout (and the clone's source) ahead of the venv's
        self.clone = workdir / "src" / project.name
        self.venv = venv or workdir / f"venv-{project.name}"
        self.python = self.venv / "bin" / "python"
        self.runs = workdir / "runs" / project.name
        self.results = workdir / "results"

    def result(self, kind: str) -> Path:
        return self.results / f"{self.project.name}-{kind}.json"


def commits(layout: Layout, count: int) -> list[str]:
    """The ``count`` consecutive first-parent commits ending at the pinned tip, oldest first."""
    shas = git(layout.clone, "rev-list", "--first-parent", f"--max-count={count}", layout.project.tip).split()
    return list(reversed(shas))


def checkout(layout: Layout, sha: str) -> None:
    git(layout.clone, "checkout", "-q", "--force", "--detach", sha)
    git(layout.clone, "clean", "-fdq")  # untracked files would count as changes; ignored ones (_version.py) stay


@dataclass
class RunOutcome:
    argv: list[str]
    exit_code: int
    wall: float
    load_before: tuple[float, float, float]
    report: dict | None
    output_tail: str

    def failures(self) -> set[str]:
        """suite::nodeid of every failed or errored test (from report.json, else the JUnit files)."""
        if self.report is None:
            return set()
        history = (self.report.get("analysis") or {}).get("history") or {}
        if history:
            return {test for test, letter in history.items() if letter in ("F", "E")}
        return set()

    def facts(self) -> dict:
        report = self.report or {}
        impact = report.get("impact")
        suites = report.get("suites") or []
        return {
            "exit_code": self.exit_code,
            "wall_seconds": round(self.wall, 3),
            "suite_seconds": round(sum(s.get("duration_seconds") or 0 for s in suites), 3),
            "load_before": self.load_before,
            "status": (report.get("run") or {}).get("status"),
            "totals": report.get("totals"),
            "failures": sorted(self.failures()),
            "impact": _impact_facts(impact),
            "notices": report.get("notices") or [],
            "crashed": self.report is None,
            "output_tail": self.output_tail if self.report is None or self.exit_code not in (0, 1, 8) else "",
        }


def _impact_facts(impact: dict | None) -> dict | None:
    if not isinstance(impact, dict):
        return None
    keep = ("mode", "full_run_reason", "base", "head", "selected", "total", "reasons", "recorded", "notices",
            "missed")
    facts = {key: impact.get(key) for key in keep}
    facts["changed"] = [{"path": c.get("path"), "kind": c.get("kind")} for c in impact.get("changed") or []]
    facts["deselected"] = impact.get("deselected") or []
    return facts


def doorbell(layout: Layout, output: Path, *extra: str, coverage: bool = True, reports: bool = True,
             history: Path | None = None, extra_env: dict[str, str] | None = None) -> RunOutcome:
    """One `doorbell-ci run` of the project's suite (its tests/ folder as the ad-hoc suite).

    ``history``: the previous default-branch run's history.json, as the action fetches it (the selected
    run then also picks the tests that failed recently); None: ``--no-history``.
    """
    if output.exists():
        shutil.rmtree(output)
    argv = [str(layout.python), "-m", "doorbell_ci", "run", "--project", str(layout.clone),
            "--paths", *layout.project.paths, "--output-dir", str(output), "--perf-mode", "off",
            "--quiet", "--allow-no-tests", *extra]
    if history is None:
        argv.append("--no-history")
    elif history.exists():
        argv += ["--history-from", str(history)]
    if not coverage:
        argv.append("--no-coverage")
    if not reports:
        argv.append("--no-reports")  # report.json is still written: all the replay reads
    env = {**os.environ, **layout.project.env, **(extra_env or {})}
    env.pop("PYTHONPATH", None)  # the venv's editable doorbell-ci, never another checkout's ...
    if layout.pythonpath:  # ... unless --pythonpath names the engine to replay
        env["PYTHONPATH"] = layout.pythonpath
    load = os.getloadavg()
    start = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=layout.clone, env=env, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT)
        code, text = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as error:
        code, text = -1, f"timed out after {RUN_TIMEOUT}s: {error}"
    wall = time.perf_counter() - start
    report_path = output / "report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else None
    return RunOutcome(argv, code, wall, tuple(round(x, 2) for x in load), report, text[-3000:])


def select_args(layout: Layout, previous_map: Path) -> list[str]:
    args = ["--select", "affected", "--impact-map", str(previous_map)]
    if layout.project.ignore:
        args += ["--impact-ignore", ",".join(layout.project.ignore)]
    return args


# ---------------------------------------------------------------------------------------------- setup

def cmd_setup(layout: Layout, args: argparse.Namespace) -> int:
    project = layout.project
    if not layout.clone.exists():
        layout.clone.parent.mkdir(parents=True, exist_ok=True)
        source = args.source or project.source
        if not Path(source).exists() and "://" not in source:
            source = f"https://github.com/{project.github}"
        subprocess.run(["git", "clone", "-q", source, str(layout.clone)], check=True)
    if not layout.python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(layout.venv)], check=True)
    checkout(layout, project.tip)
    pip = [str(layout.python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-e", str(REPO)], check=True)
    subprocess.run([*pip, *project.install], cwd=layout.clone, check=True)
    where = subprocess.run([str(layout.python), "-c", "import doorbell_ci; print(doorbell_ci.__file__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    print(f"{project.name}: clone {layout.clone}, venv {layout.venv}, doorbell_ci from {where}")
    return 0


# ---------------------------------------------------------------------------------------------- history

def cmd_history(layout: Layout, args: argparse.Namespace) -> int:
    shas = commits(layout, args.commits)
    path = layout.result("history")
    data = load_json(path, {"project": layout.project.name, "github": layout.project.github,
                            "tip": layout.project.tip, "commits": {}})
    data["order"] = shas
    data["ignore"] = list(layout.project.ignore)
    data["pythonpath"] = layout.pythonpath
    for index, sha in enumerate(shas):
        entry = data["commits"].get(sha)
        full_dir = layout.runs / sha[:12] / "full"
        if (entry and entry.get("full") and (index == 0 or entry.get("selected")) and not args.redo
                and index < args.redo_from):
            continue
        checkout(layout, sha)
        subject = git(layout.clone, "log", "-1", "--format=%s", sha).strip()
        entry = {"index": index, "sha": sha, "subject": subject, "date": git(
            layout.clone, "log", "-1", "--format=%cI", sha).strip()}
        # the previous default-branch run's folder: its map and its history.json, as the action fetches them
        previous_dir = layout.runs / shas[index - 1][:12] / "full" if index > 0 else None
        previous_history = previous_dir / "history.json" if previous_dir else full_dir / "none.json"
        if index > 0:
            entry["changed_files"] = git(layout.clone, "diff", "--no-renames", "--name-only",
                                         shas[index - 1], sha).split()
            entry["history_from"] = previous_history.exists()
            selected = doorbell(layout, layout.runs / sha[:12] / "selected",
                                *select_args(layout, previous_dir / "impact.json.gz"), history=previous_history,
                                reports=args.reports)
            entry["selected"] = selected.facts()
        full = doorbell(layout, full_dir, "--record-impact", history=previous_history, reports=args.reports)
        entry["full"] = full.facts()
        entry["map_written"] = (full_dir / "impact.json.gz").exists()
        if index > 0:
            missed = set(entry["full"]["failures"]) - set(entry["selected"]["failures"])
            entry["missed"] = sorted(missed)
        data["commits"][sha] = entry
        data["updated_at"] = now()
        save_json(path, data)
        print(_history_line(entry), flush=True)
    return 0


def _history_line(entry: dict) -> str:
    full = entry["full"]
    line = f"[{entry['index']:2}] {entry['sha'][:8]} full {full['wall_seconds']:.1f}s " \
           f"fail={len(full['failures'])} map={'yes' if entry['map_written'] else 'NO'}"
    selected = entry.get("selected")
    if selected:
        impact = selected.get("impact") or {}
        reason = impact.get("full_run_reason")
        line += (f" | selected {impact.get('selected')}/{impact.get('total')} {selected['wall_seconds']:.1f}s "
                 f"fail={len(selected['failures'])} missed={len(entry.get('missed', []))}")
        if reason:
            line += f" (full: {reason[:80]})"
        if selected.get("crashed"):
            line += f" CRASH exit {selected['exit_code']}"
    return line + f"  {entry['subject'][:50]}"


# ---------------------------------------------------------------------------------------------- mutate

def is_test_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return (path.startswith("tests/") or "/tests/" in path or name.startswith("test_")
            or name.endswith("_test.py") or name == "conftest.py")


def changed_lines(layout: Layout, old: str, new: str) -> dict[str, set[int]]:
    """New-side line numbers the commit added or changed, per non-test .py file."""
    diff = git(layout.clone, "diff", "--no-renames", "-U0", old, new, "--", "*.py")
    result: dict[str, set[int]] = {}
    current = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            target = line[4:]
            current = target[2:] if target.startswith("b/") else None
            if current is not None and is_test_file(current):
                current = None
        elif line.startswith("@@") and current is not None:
            match = re.search(r"\+(\d+)(?:,(\d+))?", line)
            start, count = int(match.group(1)), int(match.group(2) or "1")
            result.setdefault(current, set()).update(range(start, start + count))
    return {path: lines for path, lines in result.items() if lines}


def cmd_mutate(layout: Layout, args: argparse.Namespace) -> int:
    history = load_json(layout.result("history"), None)
    if history is None:
        print("run `history` first: the mutation check reuses its maps and baseline failures", file=sys.stderr)
        return 2
    path = layout.result("mutate")
    data = load_json(path, {"project": layout.project.name, "seed": args.seed, "per_commit": args.per_commit,
                            "commits": {}})
    if data.get("seed") != args.seed or data.get("per_commit") != args.per_commit:
        print(f"{path} was made with seed {data.get('seed')} and {data.get('per_commit')} per commit; "
              "use the same or another --workdir", file=sys.stderr)
        return 2
    order = history["order"]
    for index in range(1, len(order)):
        sha, previous = order[index], order[index - 1]
        base = history["commits"].get(sha)
        if not base or not base.get("selected"):
            continue
        done = data["commits"].get(sha)
        if done is not None and done.get("complete"):
            continue
        lines = changed_lines(layout, previous, sha)
        entry = {"index": index, "sha": sha, "subject": base["subject"], "changed": sorted(lines), "mutants": []}
        if not lines:
            entry["complete"] = True
            data["commits"][sha] = entry
            save_json(path, data)
            continue
        checkout(layout, sha)
        pool = []
        for file, numbers in sorted(lines.items()):
            text = (layout.clone / file).read_text(encoding="utf-8")
            pool += mutate.candidates(file, text, numbers)
        chosen = mutate.choose(pool, args.per_commit, args.seed, sha)
        entry["candidates"] = len(pool)
        baseline = set(base["full"]["failures"])
        previous_map = layout.runs / previous[:12] / "full" / "impact.json.gz"
        for number, mutant in enumerate(chosen):
            file = layout.clone / mutant.path
            original = file.read_text(encoding="utf-8")
            try:
                file.write_text(mutate.apply(original, mutant), encoding="utf-8")
                out = layout.runs / sha[:12] / f"mutant{number}"
                # no coverage, no HTML: a mutant's runs only need pass/fail (the map is the previous commit's)
                full = doorbell(layout, out / "full", coverage=False, reports=False)
                selected = doorbell(layout, out / "selected", *select_args(layout, previous_map), coverage=False,
                                    reports=False)
            finally:
                file.write_text(original, encoding="utf-8")
            record = {"mutant": mutant.as_dict(), "describe": mutant.describe(),
                      "full": _mutant_facts(full, baseline), "selected": _mutant_facts(selected, baseline)}
            record["missed"] = record["full"]["detected"] and not record["selected"]["detected"]
            entry["mutants"].append(record)
            print(f"[{index:2}] {sha[:8]} {mutant.describe()[:90]}: full "
                  f"{'DETECTED' if record['full']['detected'] else 'survived'}, selected "
                  f"{'DETECTED' if record['selected']['detected'] else 'survived'}"
                  f" ({(record['selected']['impact'] or {}).get('selected')}/"
                  f"{(record['selected']['impact'] or {}).get('total')})"
                  f"{'  <-- MISSED' if record['missed'] else ''}", flush=True)
        checkout(layout, sha)
        entry["complete"] = True
        data["commits"][sha] = entry
        data["updated_at"] = now()
        save_json(path, data)
    return 0


def _mutant_facts(run: RunOutcome, baseline: set[str]) -> dict:
    facts = run.facts()
    new = sorted(set(facts["failures"]) - baseline)
    # a run that ended in an error without a single failed test (collection error, crash) detected it too
    broke = run.exit_code not in (0, 8) and not new
    return {"detected": bool(new) or broke, "new_failures": new[:50], "new_failure_count": len(new),
            "broke": broke, "exit_code": run.exit_code, "wall_seconds": facts["wall_seconds"],
            "impact": facts["impact"] and {k: facts["impact"][k] for k in ("selected", "total", "full_run_reason")},
            "output_tail": facts["output_tail"]}


# ---------------------------------------------------------------------------------------------- overhead

# A: coverage on, no map; B: the same plus recording; C: recording the previous way, with coverage's
# dynamic contexts (DOORBELL_CI_IMPACT_RECORDER=contexts), whose map must be the same as B's
OVERHEAD_SIDES = {"A": ([], {}), "B": (["--record-impact"], {}),
                  "C": (["--record-impact"], {"DOORBELL_CI_IMPACT_RECORDER": "contexts"})}


def map_digest(path: Path) -> str | None:
    """sha1 of a map's tests and files (not its creation time): equal digests, equal maps."""
    import hashlib

    if not path.exists():
        return None
    document = json.loads(gzip.decompress(path.read_bytes()))
    canonical = json.dumps({"tests": document.get("tests"), "files": document.get("files")}, sort_keys=True)
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()  # noqa: S324 - an identity check, not security


def cmd_overhead(layout: Layout, args: argparse.Namespace) -> int:
    checkout(layout, layout.project.tip)
    path = layout.result("overhead")
    data = load_json(path, {"project": layout.project.name, "commit": layout.project.tip, "runs": [],
                            "sides": args.sides})
    if data.get("sides", "AB") != args.sides:
        print(f"{path} holds runs of --sides {data.get('sides', 'AB')}: move it away or use those sides",
              file=sys.stderr)
        return 2
    sides = args.sides
    while len(data["runs"]) < len(sides) * args.pairs:
        side = sides[len(data["runs"]) % len(sides)]
        flags, extra_env = OVERHEAD_SIDES[side]
        outcome = doorbell(layout, layout.runs / "overhead" / side, *flags, extra_env=extra_env)
        facts = outcome.facts()
        data["runs"].append({"side": side, "wall_seconds": facts["wall_seconds"],
                             "suite_seconds": facts["suite_seconds"], "load_before": facts["load_before"],
                             "exit_code": facts["exit_code"], "tests": (facts["totals"] or {}).get("tests"),
                             "recorded": (facts["impact"] or {}).get("recorded"), "at": now(),
                             "map_sha1": map_digest(layout.runs / "overhead" / side / "impact.json.gz")
                             if flags else None})
        data["updated_at"] = now()
        save_json(path, data)
        print(f"{side} {facts['wall_seconds']:.2f}s (suite {facts['suite_seconds']:.2f}s) "
              f"load {facts['load_before'][0]}", flush=True)
    return 0


# ---------------------------------------------------------------------------------------------- summary

def _quantiles(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]  # noqa: E731
    return {"n": len(values), "median": round(statistics.median(values), 4), "min": round(ordered[0], 4),
            "p25": round(pick(0.25), 4), "p75": round(pick(0.75), 4), "p90": round(pick(0.9), 4),
            "max": round(ordered[-1], 4), "mean": round(statistics.fmean(values), 4)}


def summarize_history(data: dict) -> dict:
    entries = [data["commits"][sha] for sha in data["order"] if sha in data["commits"]]
    pairs = [e for e in entries if e.get("selected")]
    fractions, saved, reasons, missed, crashes, fallbacks = [], [], {}, [], [], {}
    executed: list[float] = []  # tests that ran and were not skipped: selected run / full run
    full_wall = sel_wall = full_suite = sel_suite = 0.0
    previous_failures: set[str] = set()
    for entry in entries:
        sel, full = entry.get("selected"), entry["full"]
        failed_before, previous_failures = previous_failures, set(full["failures"])
        if sel is None:
            continue
        impact = sel.get("impact")
        if impact is None or not impact.get("total"):
            crashes.append({"sha": entry["sha"], "exit_code": sel["exit_code"], "tail": sel["output_tail"][-400:]})
            continue
        fractions.append(impact["selected"] / impact["total"])
        ran = lambda totals: (totals or {}).get("tests", 0) - (totals or {}).get("skipped", 0)  # noqa: E731
        if ran(full.get("totals")):
            executed.append(ran(sel.get("totals")) / ran(full.get("totals")))
        if impact.get("full_run_reason"):
            key = re.sub(r"[0-9a-f]{7,40}", "<sha>", impact["full_run_reason"])[:120]
            fallbacks[key] = fallbacks.get(key, 0) + 1
        for name, count in (impact.get("reasons") or {}).items():
            reasons[name] = reasons.get(name, 0) + (count or 0)
        full_wall += full["wall_seconds"]
        sel_wall += sel["wall_seconds"]
        full_suite += full["suite_seconds"]
        sel_suite += sel["suite_seconds"]
        saved.append(1 - sel["wall_seconds"] / full["wall_seconds"])
        if entry.get("missed"):
            # a test that already failed in the previous commit's full run did not fail *because of* this change
            missed.append({"sha": entry["sha"], "index": entry["index"], "tests": entry["missed"],
                           "already_failing_before": sorted(set(entry["missed"]) & failed_before),
                           "history_from": entry.get("history_from")})
    full_failing = sum(1 for e in entries if e["full"]["failures"])
    return {
        "project": data["project"], "github": data["github"], "tip": data["tip"],
        "range": [data["order"][0], data["order"][-1]], "commits_in_range": len(data["order"]),
        "replayed_commits": len(entries), "pairs": len(pairs), "pairs_measured": len(fractions),
        "selected_fraction": _quantiles(fractions),
        "selected_fraction_values": [round(f, 4) for f in fractions],
        "executed_fraction": _quantiles(executed),
        "commits_running_everything": sum(1 for f in fractions if f >= 1.0),
        "full_run_reasons": fallbacks, "selection_reasons": reasons,
        "commits_whose_full_run_failed": full_failing,
        "missed_failures": missed, "selected_run_crashes": crashes,
        "wall_seconds": {"full_total": round(full_wall, 1), "selected_total": round(sel_wall, 1),
                         "saved_fraction_total": round(1 - sel_wall / full_wall, 4) if full_wall else None,
                         "saved_fraction_per_commit": _quantiles(saved)},
        "suite_seconds": {"full_total": round(full_suite, 1), "selected_total": round(sel_suite, 1)},
        "load_before": _quantiles([e["full"]["load_before"][0] for e in entries]),
        "ignore": data.get("ignore"), "updated_at": data.get("updated_at"),
    }


def summarize_mutate(data: dict) -> dict:
    mutants = [m for entry in data["commits"].values() for m in entry["mutants"]]
    full_detected = [m for m in mutants if m["full"]["detected"]]
    missed = [{"describe": m["describe"], "sha": sha} for sha, e in data["commits"].items() for m in e["mutants"]
              if m["missed"]]
    fractions = [m["selected"]["impact"]["selected"] / m["selected"]["impact"]["total"]
                 for m in mutants if m["selected"].get("impact") and m["selected"]["impact"].get("total")]
    kinds: dict[str, int] = {}
    for m in mutants:
        kinds[m["mutant"]["kind"]] = kinds.get(m["mutant"]["kind"], 0) + 1
    return {
        "project": data["project"], "seed": data["seed"], "per_commit": data["per_commit"],
        "commits_checked": sum(1 for e in data["commits"].values() if e.get("complete")),
        "commits_with_changed_code": sum(1 for e in data["commits"].values() if e["changed"]),
        "mutants": len(mutants), "kinds": kinds,
        "detected_by_full": len(full_detected),
        "detected_by_selected": sum(1 for m in mutants if m["selected"]["detected"]),
        "detected_by_full_missed_by_selected": len(missed), "missed": missed,
        "survived_both": sum(1 for m in mutants if not m["full"]["detected"] and not m["selected"]["detected"]),
        "selected_fraction": _quantiles(fractions), "updated_at": data.get("updated_at"),
    }


def summarize_overhead(data: dict) -> dict:
    result = {"project": data["project"], "commit": data["commit"], "sides": data.get("sides", "AB")}
    for side in result["sides"]:
        runs = [r for r in data["runs"] if r["side"] == side]
        result[side] = {"n": len(runs), "wall_median": round(statistics.median([r["wall_seconds"] for r in runs]), 3)
                        if runs else None,
                        "suite_median": round(statistics.median([r["suite_seconds"] for r in runs]), 3)
                        if runs else None,
                        "wall": [r["wall_seconds"] for r in runs], "suite": [r["suite_seconds"] for r in runs]}
    pairs = list(zip([r for r in data["runs"] if r["side"] == "A"], [r for r in data["runs"] if r["side"] == "B"],
                     strict=False))  # an interrupted run may end on an A
    if pairs:
        result["wall_ratio_of_medians"] = round(result["B"]["wall_median"] / result["A"]["wall_median"], 3)
        result["suite_ratio_of_medians"] = round(result["B"]["suite_median"] / result["A"]["suite_median"], 3)
        result["wall_ratio_per_pair"] = [round(b["wall_seconds"] / a["wall_seconds"], 3) for a, b in pairs]
        result["wall_ratio_median_of_pairs"] = round(statistics.median(result["wall_ratio_per_pair"]), 3)
    contexts = list(zip([r for r in data["runs"] if r["side"] == "A"], [r for r in data["runs"] if r["side"] == "C"],
                        strict=False))
    if contexts:  # the previous recorder, measured in the same rounds
        result["contexts_wall_ratio_of_medians"] = round(result["C"]["wall_median"] / result["A"]["wall_median"], 3)
        result["contexts_suite_ratio_of_medians"] = round(result["C"]["suite_median"] / result["A"]["suite_median"], 3)
        result["contexts_wall_ratio_per_pair"] = [round(c["wall_seconds"] / a["wall_seconds"], 3) for a, c in contexts]
        result["contexts_wall_ratio_median_of_pairs"] = round(
            statistics.median(result["contexts_wall_ratio_per_pair"]), 3)
        # a project whose tests take random paths (cachetools' RRCache evicts a random key) records
        # different maps run to run with either recorder: then the question is whether B and C share one
        by_side = {side: [r.get("map_sha1") for r in data["runs"] if r["side"] == side] for side in "BC"}
        result["maps_identical"] = len(set(by_side["B"] + by_side["C"])) == 1 and None not in by_side["B"]
        result["distinct_maps"] = {side: len(set(digests)) for side, digests in by_side.items()}
        result["maps_shared"] = bool(set(by_side["B"]) & set(by_side["C"]) - {None})
    result["load_before"] = _quantiles([r["load_before"][0] for r in data["runs"]])
    result["recorded"] = next((r["recorded"] for r in data["runs"] if r.get("recorded")), None)
    result["tests"] = next((r["tests"] for r in data["runs"] if r.get("tests")), None)
    result["dates"] = [data["runs"][0]["at"], data["runs"][-1]["at"]] if data["runs"] else []
    return result


def _same_map(overhead: dict) -> str:
    runs = overhead["B"]["n"] + overhead["C"]["n"]
    if overhead["maps_identical"]:
        return f"yes, all {runs} maps equal"
    distinct = overhead["distinct_maps"]
    return (f"{'a map in common' if overhead['maps_shared'] else 'NO map in common'}; distinct maps: "
            f"{distinct['B']} of {overhead['B']['n']} (B), {distinct['C']} of {overhead['C']['n']} (C)")


def cmd_summary(workdir: Path, args: argparse.Namespace) -> int:
    out: dict = {"generated_at": now(), "projects": {}}
    # a tag keeps an earlier engine's saved results next to a later one's instead of overwriting them
    suffix = f"-{args.tag}" if args.tag else ""
    if args.tag:
        out["tag"] = args.tag
    for name, project in PROJECTS.items():
        layout = Layout(workdir, project)
        part = {}
        for kind, summarize in (("history", summarize_history), ("mutate", summarize_mutate),
                                ("overhead", summarize_overhead)):
            data = load_json(layout.result(kind), None)
            if data is not None:
                part[kind] = summarize(data)
                if args.save:  # gzip: the deselected ids of every commit make the raw files large
                    raw = (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8")
                    target = HERE / "results" / f"{name}-{kind}{suffix}.json.gz"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(gzip.compress(raw, mtime=0))
        out["projects"][name] = part
    if args.save:
        save_json(HERE / "results" / f"summary{suffix}.json", out)
    if args.json:
        print(json.dumps(out, indent=1, sort_keys=True))
    elif args.markdown:
        print(_summary_markdown(out))
    else:
        print(_summary_text(out))
    return 0


def _summary_text(out: dict) -> str:
    lines = []
    for name, part in out["projects"].items():
        history = part.get("history")
        if history:
            q = history["selected_fraction"]
            lines.append(f"{name} ({history['github']} {history['range'][0][:8]}..{history['range'][1][:8]}): "
                         f"{history['pairs_measured']}/{history['commits_in_range'] - 1} commit pairs; selected "
                         f"median {q.get('median', 0):.1%} (p25 {q.get('p25', 0):.1%}, p75 {q.get('p75', 0):.1%}, "
                         f"max {q.get('max', 0):.1%}); everything on {history['commits_running_everything']}; "
                         f"missed failures {len(history['missed_failures'])}; selected-run crashes "
                         f"{len(history['selected_run_crashes'])}; wall saved "
                         f"{history['wall_seconds']['saved_fraction_total']:.1%}")
            for reason, count in sorted(history["full_run_reasons"].items(), key=lambda kv: -kv[1]):
                lines.append(f"    full run x{count}: {reason}")
        mutated = part.get("mutate")
        if mutated:
            lines.append(f"  mutants {mutated['mutants']} on {mutated['commits_with_changed_code']} commits: full "
                         f"detected {mutated['detected_by_full']}, selected detected "
                         f"{mutated['detected_by_selected']}, missed {mutated['detected_by_full_missed_by_selected']}")
        overhead = part.get("overhead")
        if overhead and overhead.get("wall_ratio_of_medians"):
            lines.append(f"  recording: wall {overhead['A']['wall_median']}s -> {overhead['B']['wall_median']}s "
                         f"= {overhead['wall_ratio_of_medians']}x (median of pairs "
                         f"{overhead['wall_ratio_median_of_pairs']}x), suite {overhead['suite_ratio_of_medians']}x, "
                         f"load median {overhead['load_before'].get('median')}")
    return "\n".join(lines)


BUCKETS = ((0.0, 0.0, "0 %"), (0.0, 0.05, "up to 5 %"), (0.05, 0.25, "5-25 %"), (0.25, 0.5, "25-50 %"),
           (0.5, 0.9999, "50-99 %"), (0.9999, 1.0, "100 %"))


def _bucket_counts(values: list[float]) -> list[int]:
    counts = [0] * len(BUCKETS)
    for value in values:
        for index, (low, high, _) in enumerate(BUCKETS):
            if (value == 0 and index == 0) or (low < value <= high):
                counts[index] += 1
                break
    return counts


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def _summary_markdown(out: dict) -> str:
    lines = ["### Replay figures", "",
             "| project | commits | pairs | selected: median | p25 | p75 | p90 | max | mean | everything ran "
             "| failures in full runs | missed by selected | wall full / selected (sum) | saved | load (median) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    dist = ["", "Distribution of the selected fraction (commit pairs per bucket):", "",
            "| project | " + " | ".join(label for *_, label in BUCKETS) + " |",
            "|---|" + "---|" * len(BUCKETS)]
    reasons = ["", "Why a selected run ran everything (commit pairs):", ""]
    executed_lines = ["", "Tests that actually ran (not skipped), selected run / full run of the same commit:", "",
                      "| project | median | p25 | p75 | mean |", "|---|---|---|---|---|"]
    for name, part in out["projects"].items():
        h = part.get("history")
        if not h:
            continue
        q = h["selected_fraction"]
        w = h["wall_seconds"]
        lines.append(f"| {name} | `{h['range'][0][:10]}..{h['range'][1][:10]}` ({h['replayed_commits']} of "
                     f"{h['commits_in_range']}) | {h['pairs_measured']} | **{_pct(q.get('median'))}** | "
                     f"{_pct(q.get('p25'))} | {_pct(q.get('p75'))} | {_pct(q.get('p90'))} | {_pct(q.get('max'))} | "
                     f"{_pct(q.get('mean'))} | {h['commits_running_everything']} | "
                     f"{h['commits_whose_full_run_failed']} | **{len(h['missed_failures'])}** | "
                     f"{w['full_total']} s / {w['selected_total']} s | {_pct(w['saved_fraction_total'])} | "
                     f"{h['load_before'].get('median')} |")
        e = h.get("executed_fraction") or {}
        executed_lines.append(f"| {name} | {_pct(e.get('median'))} | {_pct(e.get('p25'))} | {_pct(e.get('p75'))} | "
                              f"{_pct(e.get('mean'))} |")
        dist.append(f"| {name} | " + " | ".join(str(c) for c in _bucket_counts(h["selected_fraction_values"]))
                    + " |")
        for reason, count in sorted(h["full_run_reasons"].items(), key=lambda kv: -kv[1]):
            reasons.append(f"- {name}, {count}x: {reason}")
        for crash in h["selected_run_crashes"]:
            reasons.append(f"- {name}: selected run at {crash['sha'][:10]} gave no selection "
                           f"(exit {crash['exit_code']})")
    lines += dist + executed_lines + reasons
    lines += ["", "### Mutation figures", "",
              "| project | commits with changed code lines | faults | detected by full | detected by selected "
              "| **detected by full, missed by selected** | survived both | selected (median) |",
              "|---|---|---|---|---|---|---|---|"]
    for name, part in out["projects"].items():
        m = part.get("mutate")
        if m:
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(m["kinds"].items()))
            lines.append(f"| {name} | {m['commits_with_changed_code']} (of {m['commits_checked']} checked) | "
                         f"{m['mutants']} ({kinds}) | {m['detected_by_full']} | {m['detected_by_selected']} | "
                         f"**{m['detected_by_full_missed_by_selected']}** | {m['survived_both']} | "
                         f"{_pct(m['selected_fraction'].get('median'))} |")
    lines += ["", "### Recording figures", "",
              "| project | tests | without recording (median wall) | with --record-impact | ratio of medians "
              "| per-pair ratios | suite time ratio | map | load (median, min-max) | when |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for name, part in out["projects"].items():
        o = part.get("overhead")
        if o and o.get("wall_ratio_of_medians"):
            rec = o.get("recorded") or {}
            lines.append(f"| {name} | {o['tests']} | {o['A']['wall_median']} s (n={o['A']['n']}) | "
                         f"{o['B']['wall_median']} s (n={o['B']['n']}) | **{o['wall_ratio_of_medians']}x** | "
                         f"{', '.join(str(r) for r in o['wall_ratio_per_pair'])} | {o['suite_ratio_of_medians']}x | "
                         f"{rec.get('tests')} tests, {rec.get('files')} files, {rec.get('bytes')} bytes | "
                         f"{o['load_before'].get('median')} ({o['load_before'].get('min')}-"
                         f"{o['load_before'].get('max')}) | {' .. '.join(o['dates'])} |")
    rows = [(name, part["overhead"]) for name, part in out["projects"].items()
            if part.get("overhead", {}).get("contexts_wall_ratio_of_medians")]
    if rows:
        lines += ["", "| project | recorder | with --record-impact (median wall) | ratio of medians "
                  "| median of per-round ratios | per-round ratios | suite time ratio | same map |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, o in rows:
            lines.append(f"| {name} | in-memory lines (B) | {o['B']['wall_median']} s | "
                         f"**{o['wall_ratio_of_medians']}x** | **{o['wall_ratio_median_of_pairs']}x** | "
                         f"{', '.join(str(r) for r in o['wall_ratio_per_pair'])} | {o['suite_ratio_of_medians']}x | "
                         f"{_same_map(o)} |")
            lines.append(f"| {name} | coverage contexts (C, before) | {o['C']['wall_median']} s | "
                         f"{o['contexts_wall_ratio_of_medians']}x | {o['contexts_wall_ratio_median_of_pairs']}x | "
                         f"{', '.join(str(r) for r in o['contexts_wall_ratio_per_pair'])} | "
                         f"{o['contexts_suite_ratio_of_medians']}x | |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help=f"clones, venvs, run outputs and result JSON (default {DEFAULT_WORKDIR})")
    parser.add_argument("--pythonpath", default="",
                        help="PYTHONPATH for every run: an engine checkout to replay instead of the venv's editable "
                             "doorbell-ci, then the clone's source folder (so the checked-out commit is imported)")
    parser.add_argument("--venv", type=Path, default=None,
                        help="an existing venv to run in (default: WORKDIR/venv-PROJECT, made by setup)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("setup", "history", "mutate", "overhead"):
        command = sub.add_parser(name)
        command.add_argument("--project", choices=sorted(PROJECTS), required=True)
        if name == "setup":
            command.add_argument("--source", help="git URL or path to clone from (default: the local mirror "
                                 "if present, else the project's GitHub repository)")
        if name == "history":
            command.add_argument("--commits", type=int, default=51,
                                 help="consecutive first-parent commits ending at the pinned tip (51: 50 pairs)")
            command.add_argument("--redo", action="store_true", help="run commits already recorded again")
            command.add_argument("--no-reports", dest="reports", action="store_false",
                                 help="pass --no-reports (report.json only; no HTML, Markdown, merged JUnit)")
            command.add_argument("--redo-from", type=int, default=1_000_000, metavar="INDEX",
                                 help="run the commits from this index on again (the earlier ones are kept)")
        if name == "mutate":
            command.add_argument("--per-commit", type=int, default=3, help="faults per commit (default 3)")
            command.add_argument("--seed", type=int, default=14)
        if name == "overhead":
            command.add_argument("--pairs", type=int, default=5, help="rounds of the sides (default 5)")
            command.add_argument("--sides", choices=("AB", "ABC"), default="AB",
                                 help="AB: without and with --record-impact; ABC: and C, recording with coverage's "
                                 "dynamic contexts (the previous recorder), whose map must be the same as B's")
    summary = sub.add_parser("summary")
    summary.add_argument("--json", action="store_true")
    summary.add_argument("--markdown", action="store_true", help="the tables of docs/IMPACT.md")
    summary.add_argument("--save", action="store_true",
                         help="copy the result JSON files (gzipped) and summary.json into benchmarks/impact/results/")
    summary.add_argument("--tag", help="with --save: name the copies <project>-<kind>-TAG.json.gz and "
                         "summary-TAG.json (e.g. the engine commit), so earlier results stay")
    args = parser.parse_args(argv)
    if args.command == "summary":
        return cmd_summary(args.workdir, args)
    layout = Layout(args.workdir, PROJECTS[args.project], args.pythonpath, args.venv)
    handler = {"setup": cmd_setup, "history": cmd_history, "mutate": cmd_mutate, "overhead": cmd_overhead}
    return handler[args.command](layout, args)


if __name__ == "__main__":
    sys.exit(main())
