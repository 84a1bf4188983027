"""Where a `doorbell-ci run`'s own CPU goes, stage by stage, on the 2,000 quick tests.

Why: the overhead benchmark (run_overhead.py) gives whole-process figures; this one splits the
orchestrator's own process into its parts, so the fixed cost per run can be named component by
component (docs/PERFORMANCE.md, "Floor"). Each run is a fresh interpreter that runs
``doorbell_ci.cli.main`` with timers wrapped around the stages (CPU of the whole process, of the
calling thread, and wall time); the threads that run during the suite (the output pump, the tree
sampler's suite thread, the import thread) report their own thread CPU. CPU is what to read on a
shared machine: the load stretches wall time far more.

    python benchmarks/overhead/stage_times.py [--runs 5] [--coverage] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(argv: list[str], out_file: Path) -> None:  # noqa: C901, PLR0915 - one flat list of wrappers
    """In a fresh interpreter: run doorbell-ci with the timers, append one JSON line to ``out_file``."""
    begin = _cpu()
    marks: dict[str, float] = {"interpreter_and_site": begin}
    records: list[tuple[str, float, float, float]] = []

    def wrap(owner: object, name: str, label: str | None = None) -> None:
        if not hasattr(owner, name):  # an older doorbell-ci, measured for comparison
            return
        function = getattr(owner, name)
        label = label or f"{getattr(owner, '__name__', owner)}.{name}"

        def timed(*args: object, **kwargs: object) -> object:
            wall, process, thread = time.perf_counter(), time.process_time(), time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                records.append((label, time.perf_counter() - wall, time.process_time() - process,
                                time.thread_time() - thread))
        setattr(owner, name, timed)

    def thread_timed(owner: object, name: str, label: str) -> None:
        function = getattr(owner, name)

        def timed(*args: object, **kwargs: object) -> object:
            thread = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                records.append((label, 0.0, 0.0, time.thread_time() - thread))
        setattr(owner, name, timed)

    from doorbell_ci import cli
    marks["import_cli"] = _cpu() - begin
    from doorbell_ci import environments, execution, perf, pipeline, platforms, redaction
    from doorbell_ci.environments import local
    from doorbell_ci.impact import stage as impact_stage
    marks["import_pipeline"] = _cpu() - begin - marks["import_cli"]
    after_imports = _cpu()

    def wrap_later_stages() -> None:  # after the import thread imported them, as in a real run
        from doorbell_ci import analysis, reports
        from doorbell_ci.reports import ctrf, dashboard, html, json_report, junit, markdown
        for owner, name in [(analysis, "for_run"), (analysis, "track"), (reports, "write_all"),
                            (json_report, "write"), (junit, "write"), (ctrf, "write"), (html, "write"),
                            (markdown, "render"), (dashboard, "write_beside")]:
            wrap(owner, name)

    import_later = pipeline._import_later_stages

    def import_later_timed(*args: object, **kwargs: object) -> None:
        thread = time.thread_time()
        try:
            import_later(*args, **kwargs)
        finally:
            records.append(("thread: import later stages", 0.0, 0.0, time.thread_time() - thread))
            wrap_later_stages()
    pipeline._import_later_stages = import_later_timed
    thread_timed(execution, "_pump", "thread: output pump")
    thread_timed(execution.SuiteRunner, "_run_one", "thread: suite (start, tree samples, wait)")
    wrap(execution.ProcessTree, "sample", "tree sample (in the suite thread)")
    for owner, name in [(pipeline, "make_plan"), (pipeline, "_fresh_output_dir"), (environments, "create"),
                        (local.LocalEnvironment, "prepare"), (execution, "run_command"),
                        (pipeline.SuiteRunner, "run"), (local.LocalEnvironment, "cleanup"), (pipeline, "_collect"),
                        (pipeline, "collect_coverage"), (platforms, "describe"), (perf, "compare_stage"),
                        (impact_stage, "after_run"), (pipeline, "decide_exit_code"), (redaction, "scrub_output"),
                        (redaction, "scrub_left")]:
        wrap(owner, name)
    run = pipeline.run

    def run_timed(*args: object, **kwargs: object) -> object:
        marks["cli_before_pipeline"] = _cpu() - after_imports
        start = _cpu()
        try:
            return run(*args, **kwargs)
        finally:
            marks["pipeline_run_all_threads"] = _cpu() - start
            marks["_ended"] = _cpu()
    pipeline.run = run_timed
    code: object = 0
    try:
        code = cli.main(argv)
    except SystemExit as stop:
        code = stop.code
    marks["cli_after_pipeline"] = _cpu() - marks.pop("_ended")
    marks["whole_process"] = _cpu()
    with open(out_file, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"marks": marks, "stages": records, "exit": code,
                                 "load": os.getloadavg()[0]}) + "\n")
    sys.stdout.flush()
    os._exit(code if isinstance(code, int) else 1)


def summarise(lines: list[dict]) -> dict[str, dict[str, float]]:
    """Median per mark and per stage (summed over its calls within a run), in milliseconds."""
    table: dict[str, dict[str, float]] = {}
    for mark in lines[0]["marks"]:
        table[mark] = {"cpu_ms": round(statistics.median(line["marks"][mark] for line in lines) * 1000, 1)}
    per_stage: dict[str, list[list[float]]] = defaultdict(list)
    for line in lines:
        sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0])
        for label, wall, process, thread in line["stages"]:
            entry = sums[label]
            entry[0] += wall
            entry[1] += process
            entry[2] += thread
            entry[3] += 1
        for label, entry in sums.items():
            per_stage[label].append(entry)
    for label, entries in per_stage.items():
        table[label] = {"wall_ms": round(statistics.median(e[0] for e in entries) * 1000, 1),
                        "process_cpu_ms": round(statistics.median(e[1] for e in entries) * 1000, 1),
                        "thread_cpu_ms": round(statistics.median(e[2] for e in entries) * 1000, 1),
                        "calls": entries[0][3]}
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--coverage", action="store_true", help="with coverage (default: --no-coverage)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child[1:], Path(args.child[0]))
        return 0
    sys.path.insert(0, str(HERE))
    import run_overhead

    with tempfile.TemporaryDirectory(prefix="doorbell-stages-") as temp:
        root = Path(temp)
        project = run_overhead.make_project(root / "project")
        lines_file = root / "stages.jsonl"
        command = ["run", "--project", str(project), "--suites", "unit", "--workers", str(args.workers),
                   "--output-dir", str(root / "out"), "--quiet", *([] if args.coverage else ["--no-coverage"])]
        for index in range(args.runs + 1):  # the first run is a warm-up (and leaves a previous report)
            target = lines_file if index else root / "warmup.jsonl"
            completed = subprocess.run(  # noqa: S603 - this script, argv list
                [sys.executable, __file__, "--child", str(target), *command], cwd=project,
                env=run_overhead.measured_environment(), capture_output=True, text=True, check=False)
            if completed.returncode != 0:
                sys.exit(f"doorbell-ci run failed ({completed.returncode}):\n{completed.stdout[-2000:]}"
                         f"{completed.stderr[-2000:]}")
        lines = [json.loads(line) for line in lines_file.read_text(encoding="utf-8").splitlines()]
    table = summarise(lines)
    report = {"runs": args.runs, "coverage": args.coverage, "loads": [round(line["load"], 1) for line in lines],
              "milliseconds": table}
    width = max(len(label) for label in table)
    print(f"load average during the runs: {report['loads']}")
    for label, figures in table.items():
        print(f"  {label:<{width}}  " + "  ".join(f"{key} {value}" for key, value in figures.items()))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
