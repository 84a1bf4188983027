"""The orchestrator's work after a suite of 50,000 tests, step by step, in CPU seconds.

Why: at 2,000 tests the stages after the suite cost a fixed ~0.1 s; at 50,000 they scale with the
tests (reading the previous report.json and history.json, the history, ctrf.json, the output
folder's scrub), and on the real-project benchmark they are what the orchestrator adds after
pytest has finished. Two generated JUnit files (the report benchmark's generator, two seeds so
the second run's failures differ from the first's) are read as runs into one output folder: the
first run leaves report.json, history.json and the other reports behind, the second one is
measured, each step in the order the pipeline runs it, with a GITHUB_TOKEN set as in CI (the
scrub then has a secret to look for). Each measurement is a fresh process.

    python benchmarks/overhead/after_suite.py [--tests 50000] [--runs 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(junit_path: Path, project: Path, output_dir: Path) -> dict[str, float]:
    """In this (fresh) process: one run's after-suite steps, CPU seconds each."""
    os.environ["GITHUB_TOKEN"] = "ghp_" + "x1y2z3" * 6  # before redaction builds its Redactor
    from doorbell_ci import analysis, redaction, reports
    from doorbell_ci.analysis import flaky
    from doorbell_ci.config import load_config
    from doorbell_ci.reports import ctrf, dashboard, html, json_report, junit, markdown
    from doorbell_ci.results import RunResult, SuiteResult, SuiteStatus, read_junit

    cpu: dict[str, float] = {}

    def timed(name: str, step):  # noqa: ANN001, ANN202
        begin = time.process_time()
        value = step()
        cpu[name] = round(time.process_time() - begin, 3)
        return value

    config = load_config(project, {"output_dir": str(output_dir)})
    output_dir.mkdir(parents=True, exist_ok=True)
    tests = timed("parse JUnit XML", lambda: read_junit(junit_path, "unit"))
    run = RunResult(run_id=f"bench-{time.time_ns()}", project=str(project), started_at="2026-01-01T00:00:00+00:00",
                    finished_at="2026-01-01T00:20:34+00:00", duration=1234.5,
                    suites=[SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=tests, duration=1234.5)])
    run.analysis = timed("analysis.for_run", lambda: analysis.for_run(run, config, flaky.Reruns(), None))
    timed("analysis.track (history.json)", lambda: analysis.track(run, config))
    leave = reports.replaced_names(output_dir, True) if hasattr(reports, "replaced_names") else ()
    scrubbed = timed("scrub_output", lambda: redaction.scrub_output(output_dir, leave=leave) if leave
                     else redaction.scrub_output(output_dir))
    timed("redact the results", lambda: redaction.current().redact_object(run))
    timed("report.json", lambda: json_report.write(run, output_dir, 1))
    timed("junit.xml", lambda: junit.write(run, output_dir))
    timed("ctrf.json", lambda: ctrf.write(run, output_dir))
    timed("report.html", lambda: html.write(run, output_dir, 1))
    timed("summary.md", lambda: markdown.render(run))
    timed("dashboard.html", lambda: dashboard.write_beside(output_dir))
    if hasattr(redaction, "scrub_left"):
        timed("scrub_left", lambda: redaction.scrub_left(output_dir, scrubbed))
    cpu["after the suite (all but the parse)"] = round(sum(v for k, v in cpu.items() if k != "parse JUnit XML"), 3)
    return cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--measure", nargs=3, metavar=("JUNIT", "PROJECT", "OUTDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(*map(Path, args.measure))))
        return 0
    sys.path.insert(0, str(HERE.parent / "report_generation"))
    import run_report_generation

    samples = []
    with tempfile.TemporaryDirectory(prefix="doorbell-after-suite-") as temp:
        root = Path(temp)
        project = root / "project"
        (project / "tests" / "unit").mkdir(parents=True)
        (project / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\n', encoding="utf-8")
        first, second = root / "first.xml", root / "second.xml"
        run_report_generation.generate_junit(first, args.tests)
        run_report_generation.generate_junit(second, args.tests, seed=7)
        for index in range(args.runs):
            output_dir = root / f"out{index}"
            for junit_path, keep in ((first, False), (second, True)):
                child = subprocess.run(  # noqa: S603 - this script, argv list
                    [sys.executable, __file__, "--measure", str(junit_path), str(project), str(output_dir)],
                    capture_output=True, text=True, check=False)
                if child.returncode != 0:
                    sys.exit(f"measurement failed:\n{child.stderr[-3000:]}")
                if keep:
                    samples.append(json.loads(child.stdout))
                    print(child.stdout.strip(), f"load {os.getloadavg()[0]:.1f}", flush=True)
    medians = {key: round(statistics.median(sample[key] for sample in samples), 3) for key in samples[0]}
    report = {"tests": args.tests, "runs": args.runs, "median_cpu_seconds": medians,
              "load_average_at_end": [round(value, 2) for value in os.getloadavg()]}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
