"""What a test selection costs the reports: 100,000 collected tests, 3,000 selected, 97,000 deselected.

Why: report.json lists every deselected test (``impact.deselected``), report.html shows them
collapsed (the first 5,000) and summary.md only counts them; this checks that a large selection
keeps the reporting stage quick and the Markdown (the PR comment) small. Each configuration is
rendered with and without the ``impact`` facts, so the difference is the selection's own cost.

One command re-runs it:  python benchmarks/report_generation/run_impact_reports.py [--collected 100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from doorbell_ci.reports import html, json_report, markdown  # noqa: E402
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult  # noqa: E402


def build(collected: int, selected: int, with_impact: bool) -> RunResult:
    tests = [TestResult("unit", f"test_case[{'param-' * 8}{i}]", f"tests.unit.test_module_{i % 500}",
                        Outcome.PASSED, 0.01, f"tests/unit/test_module_{i % 500}.py", 10 + i % 90)
             for i in range(selected)]
    deselected = [f"unit::tests/unit/test_module_{i % 500}.py::test_case[{'param-' * 8}{i}]"
                  for i in range(selected, collected)]
    changed = [{"path": f"src/doorbell/module_{i}.py", "kind": "modified", "lines": [[10 * i, 10 * i + 7]]}
               for i in range(40)]
    impact = {"mode": "affected", "map": {"commit": "a" * 40, "platform_key": "linux-x86_64-py3.11",
                                          "source": "impact.json.gz", "created_at": "2026-12-02T00:00:00+00:00"},
              "full_run_reason": None, "base": "a" * 40, "head": "b" * 40, "changed": changed,
              "selected": selected, "total": collected,
              "reasons": {"changed_code": selected - 50, "new_test_file": 20, "modified_test_file": 10,
                          "no_map_entry": 20, "recent_failure": 0},
              "deselected": deselected, "missed": [], "recorded": None, "notices": []}
    return RunResult(run_id="bench", project="/work/doorbell", started_at="2026-12-02T00:00:00+00:00",
                     finished_at="2026-12-02T00:01:00+00:00", duration=60.0,
                     suites=[SuiteResult("unit", SuiteStatus.PASSED, tests)],
                     impact=impact if with_impact else None)


def timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collected", type=int, default=100_000)
    parser.add_argument("--selected", type=int, default=3_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for with_impact in (False, True):
            run = build(args.collected, args.selected, with_impact)
            times: dict[str, list[float]] = {"report.json": [], "report.html": [], "summary.md": []}
            for _ in range(args.runs):
                times["report.json"].append(timed(lambda run=run: json_report.write(run, folder, 0)))
                times["report.html"].append(timed(lambda run=run: (folder / "report.html").write_text(
                    html.render(run))))
                times["summary.md"].append(timed(lambda run=run: (folder / "summary.md").write_text(
                    markdown.render(run))))
            sizes = {name: (folder / name).stat().st_size for name in times}
            rows.append((with_impact, {name: statistics.median(values) for name, values in times.items()}, sizes))
    print(f"{args.collected:,} collected, {args.selected:,} selected and run; median of {args.runs} runs")
    print(f"{'impact facts':<14}{'step':<13}{'seconds':>9}{'bytes':>14}")
    for with_impact, medians, sizes in rows:
        for name, seconds in medians.items():
            print(f"{'with' if with_impact else 'without':<14}{name:<13}{seconds:>9.3f}{sizes[name]:>14,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
