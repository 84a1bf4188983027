"""Report generation at 100,000 tests: time and peak memory of parse + report.json + report.html + summary.md.

Why: a big monorepo-sized run must not make the reporting stage the slow or memory-hungry part
of CI. The target (issue 17) is parse + JSON + HTML + Markdown in under 1 s on this machine, with
the merged junit.xml (timed separately) not doubling that, under 400 MB peak, with an HTML page
that stays usable. Each step is timed in wall and in CPU time: on a shared machine only the latter
means much.

The JUnit file looks like pytest's xunit1 output: long parametrised names, ~1 % failures with
multi-line tracebacks and captured output, ~3 % skipped, a few errors. Each measurement runs in
a fresh interpreter (so ru_maxrss is this work's peak, not the generator's).

One command re-runs it:  python benchmarks/report_generation/run_report_generation.py [--tests 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

TRACEBACK = """\
self = <tests.unit.test_events_{module}.TestEventPipeline object at 0x7f3a2c1d{n:04x}>
camera = <doorbell.camera.FakeCamera object at 0x7f3a2c1e0040>

    def test_motion_event_reaches_storage(self, camera):
        frames = camera.capture(count=30)
        events = detect_motion(frames, threshold=0.{n})
>       assert len(events) == expected_events[{n}]
E       AssertionError: assert {n} == {m}
E        +  where {n} = len([Event(kind='motion', at=1.5), ...])

tests/unit/test_events_{module}.py:{line}: AssertionError
"""


CAPTURED = xml_escape("frame 1 ok\nframe 2 ok <motion & noise>\n" * 5)


def generate_junit(path: Path, tests: int, seed: int = 2026) -> dict[str, int]:
    """Write a pytest-like JUnit XML file with ``tests`` testcases; return the counts written."""
    rng = random.Random(seed)
    counts = {"tests": tests, "failures": 0, "errors": 0, "skipped": 0}
    with open(path, "w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites>')
        out.write(f'<testsuite name="pytest" errors="0" failures="0" skipped="0" tests="{tests}" time="1234.5">')
        for n in range(tests):
            module = n // 500
            name = (f"test_motion_event_reaches_storage_with_a_rather_long_descriptive_name"
                    f"[camera-{n % 7}-threshold-0.{n % 97:02d}-night_mode-{bool(n % 2)}-case-{n}]")
            classname = f"tests.unit.test_events_{module}.TestEventPipeline"
            attrs = (f'classname={quoteattr(classname)} file="tests/unit/test_events_{module}.py" '
                     f'line="{40 + n % 300}" name={quoteattr(name)} time="{rng.random() * 0.05:.4f}"')
            roll = rng.random()
            if roll < 0.01:
                counts["failures"] += 1
                trace = TRACEBACK.format(module=module, n=n, m=n + 1, line=40 + n % 300)
                out.write(f"<testcase {attrs}><failure message={quoteattr(f'AssertionError: assert {n} == {n + 1}')}>"
                          f"{xml_escape(trace)}</failure>"
                          f"<system-out>{CAPTURED}</system-out></testcase>")
            elif roll < 0.012:
                counts["errors"] += 1
                out.write(f'<testcase {attrs}><error message="failed on setup with &quot;OSError&quot;">'
                          f"{xml_escape('OSError: [Errno 98] Address already in use')}</error></testcase>")
            elif roll < 0.042:
                counts["skipped"] += 1
                reason = f"tests/unit/test_events_{module}.py:{40 + n % 300}: needs a real camera"
                out.write(f'<testcase {attrs}><skipped type="pytest.skip" message="needs a real camera">'
                          f"{reason}</skipped></testcase>")
            else:
                out.write(f"<testcase {attrs} />")
            out.write("\n")
        out.write("</testsuite></testsuites>\n")
    return counts


def measure(junit_path: Path, output_dir: Path) -> dict[str, object]:
    """In this (fresh) process: parse, then write the reports, timing each step and the peak memory."""
    from doorbell_ci import atomic
    from doorbell_ci.reports import html, json_report, junit, markdown
    from doorbell_ci.results import RunResult, SuiteResult, SuiteStatus, counts_held, read_junit

    output_dir.mkdir(parents=True, exist_ok=True)
    phases: dict[str, float] = {}
    cpu: dict[str, float] = {}  # process CPU time: what a shared machine's load does not stretch

    def timed(name: str, step: Callable[[], object]) -> object:
        wall, used = time.perf_counter(), time.process_time()
        value = step()
        phases[name], cpu[name] = time.perf_counter() - wall, time.process_time() - used
        return value

    begin, begin_cpu = time.perf_counter(), time.process_time()
    tests = timed("parse", lambda: read_junit(junit_path, "unit"))
    run = RunResult(run_id="bench", project="bench", started_at="2026-01-01T00:00:00+00:00",
                    finished_at="2026-01-01T00:20:34+00:00", duration=1234.5,
                    suites=[SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=tests, duration=1234.5)])
    with counts_held(run):  # as reports.write_all writes them: each suite's counts counted once
        timed("json", lambda: json_report.write(run, output_dir, 1))
        timed("html", lambda: html.write(run, output_dir, 1))
        timed("markdown", lambda: atomic.write_text(output_dir / markdown.FILENAME, markdown.render(run)))
        phases["parse_json_html_md"] = time.perf_counter() - begin
        cpu["parse_json_html_md"] = time.process_time() - begin_cpu
        peak_main = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        timed("merged_junit", lambda: junit.write(run, output_dir))
    peak_all = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    counts = run.counts
    return {
        "seconds": {k: round(v, 3) for k, v in phases.items()},
        "cpu_seconds": {k: round(v, 3) for k, v in cpu.items()},
        "peak_rss_bytes": {"parse_json_html_md": peak_main, "with_merged_junit": peak_all},
        "counts": {"tests": counts.tests, "failed": counts.failed, "errors": counts.errors, "skipped": counts.skipped},
        "sizes": {name: (output_dir / name).stat().st_size
                  for name in ("report.json", "report.html", "summary.md", "junit.xml")},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="fresh-process measurements; the median is reported")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--without-lxml", action="store_true",
                        help="measure as where lxml is not installed (it is only in the dev extra): junitparser, "
                             "and so the merged junit.xml, then use xml.etree")
    parser.add_argument("--measure", nargs=2, metavar=("JUNIT", "OUTDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:  # the child process
        if args.without_lxml:
            sys.modules["lxml"] = None  # type: ignore[assignment]  # import lxml now raises ImportError
        print(json.dumps(measure(Path(args.measure[0]), Path(args.measure[1]))))
        return 0

    root = Path(tempfile.mkdtemp(prefix="doorbell-reportgen-"))
    try:
        source = root / "unit.xml"
        written = generate_junit(source, args.tests)
        print(f"generated {source.stat().st_size / 1e6:.1f} MB of JUnit XML: {written}", flush=True)
        samples = []
        for index in range(args.runs):
            started = time.perf_counter()
            child = subprocess.run(  # noqa: S603 - argv list
                [sys.executable, __file__, "--measure", str(source), str(root / f"out{index}"),
                 *(["--without-lxml"] if args.without_lxml else [])],
                capture_output=True, text=True, check=False,
            )
            if child.returncode != 0:
                sys.exit(f"measurement failed:\n{child.stderr[-3000:]}")
            sample = json.loads(child.stdout)
            sample["seconds"]["whole_process"] = round(time.perf_counter() - started, 3)  # + start-up, imports
            if sample["counts"]["tests"] != written["tests"] or sample["counts"]["failed"] != written["failures"]:
                sys.exit(f"counts differ from the generated file: {sample['counts']} vs {written}")
            samples.append(sample)
            print(json.dumps(sample), flush=True)
        keys = samples[0]["seconds"].keys()
        summary = {
            "tests": args.tests,
            "lxml": not args.without_lxml,
            "junit_bytes": source.stat().st_size,
            "runs": args.runs,
            "median_seconds": {k: round(statistics.median(s["seconds"][k] for s in samples), 3) for k in keys},
            "median_cpu_seconds": {k: round(statistics.median(s["cpu_seconds"][k] for s in samples), 3)
                                   for k in samples[0]["cpu_seconds"]},
            "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
            "max_peak_rss_mb": {k: round(max(s["peak_rss_bytes"][k] for s in samples) / 2**20, 1)
                                for k in samples[0]["peak_rss_bytes"]},
            "sizes_bytes": samples[0]["sizes"],
        }
        print(json.dumps(summary, indent=2))
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
