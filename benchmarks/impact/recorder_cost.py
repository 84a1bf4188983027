"""Where the recording's cost goes: the suite's pytest process alone, per variant, interleaved.

Why: ``replay.py overhead`` times the whole ``doorbell-ci run``; this runs only the pytest command
doorbell-ci runs for the suite (coverage on, the recording plugin or a variant of it), so the
difference between variants is the recording's and nothing else, and reports CPU (user + system)
as well as wall time:

- ``plain``: coverage, no recording;
- ``lines``: the in-memory recorder (plugin.LineRecorder, the default);
- ``contexts``: coverage's dynamic context per test (``DOORBELL_CI_IMPACT_RECORDER=contexts``);
- ``hooks``: the plugin's hooks, no switch at all (recorder_probe.py);
- ``flush``: coverage's flush at every switch, its SQLite writes dropped (recorder_probe.py).

Uses the clones and venvs of ``replay.py setup`` (``--workdir``), at whatever commit they are on.

    python benchmarks/impact/recorder_cost.py --workdir /tmp/replay --project humanize --rounds 5
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from replay import DEFAULT_WORKDIR, PROJECTS, Layout  # noqa: E402  (the sibling module; run as a script)

VARIANTS = {  # name: (plugin, environment)
    "plain": (None, {}),
    "lines": ("doorbell_ci.impact.plugin", {}),
    "contexts": ("doorbell_ci.impact.plugin", {"DOORBELL_CI_IMPACT_RECORDER": "contexts"}),
    "hooks": ("recorder_probe", {"DOORBELL_CI_IMPACT_RECORDER": "contexts", "RECORDER_PROBE": "hooks"}),
    "flush": ("recorder_probe", {"DOORBELL_CI_IMPACT_RECORDER": "contexts", "RECORDER_PROBE": "flush"}),
}


def run_once(layout: Layout, variant: str, output: Path) -> dict:
    """One pytest run of the project's suite as doorbell-ci runs it; its wall and CPU seconds."""
    if output.exists():
        shutil.rmtree(output)
    (output / "logs").mkdir(parents=True)
    plugin, extra_env = VARIANTS[variant]
    argv = [str(layout.python), "-m", "pytest", *layout.project.paths, f"--junitxml={output / 'junit.xml'}",
            "-o", "junit_family=xunit1", "-p", "doorbell_ci.progress_plugin", "-p", "no:cacheprovider",
            "--cov", "--cov-report=", "--cov-fail-under=0", "-q"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("DOORBELL_CI_")}
    env.pop("PYTHONPATH", None)  # the venv's doorbell-ci; only this folder is added, for recorder_probe
    env.update(layout.project.env)
    env.update({"COVERAGE_FILE": str(output / ".coverage.tests"), "PYTHONDONTWRITEBYTECODE": "1",
                "DOORBELL_CI_PROGRESS": str(output / "progress"), "DOORBELL_CI_SUITE": "tests", **extra_env})
    if plugin is not None:
        argv += ["-p", plugin]
        env["DOORBELL_CI_IMPACT_FIXTURES"] = str(output / "logs" / "tests.impact-fixtures")
        env["PYTHONPATH"] = str(HERE)
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=layout.clone, env=env, capture_output=True, text=True, timeout=900,
                          check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    found = re.findall(r"in ([0-9.]+)s", done.stdout)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{variant}: pytest exited {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return {"variant": variant, "wall": round(wall, 3), "cpu": round(cpu, 3), "load_before": round(load, 2),
            "pytest_seconds": float(found[-1]) if found else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--project", choices=sorted(PROJECTS), required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variants", default="plain,lines,contexts,hooks,flush")
    args = parser.parse_args(argv)
    layout = Layout(args.workdir, PROJECTS[args.project])
    variants = args.variants.split(",")
    runs = []
    for number in range(1, args.rounds + 1):
        for variant in variants:
            run = run_once(layout, variant, args.workdir / "runs" / layout.project.name / "cost" / variant)
            runs.append(run)
            print(f"round {number} {variant:9} wall {run['wall']:7.2f}s cpu {run['cpu']:6.2f}s "
                  f"load {run['load_before']}", flush=True)
    plain_cpu = statistics.median(r["cpu"] for r in runs if r["variant"] == "plain")
    plain_wall = statistics.median(r["wall"] for r in runs if r["variant"] == "plain")
    loads = [r["load_before"] for r in runs]
    print(f"\n{layout.project.name}, {args.rounds} rounds, load {min(loads)}-{max(loads)} "
          f"(median {statistics.median(loads)})")
    # the load drifts over a whole run: each round's ratio to its own plain run is the fairer figure
    rounds = [runs[index:index + len(variants)] for index in range(0, len(runs), len(variants))]
    print("| variant | median CPU s | CPU vs plain | median of per-round CPU ratios | median wall s "
          "| wall vs plain |\n|---|---|---|---|---|---|")
    for variant in variants:
        cpu = statistics.median(r["cpu"] for r in runs if r["variant"] == variant)
        wall = statistics.median(r["wall"] for r in runs if r["variant"] == variant)
        per_round = [next(r["cpu"] for r in one if r["variant"] == variant)
                     / next(r["cpu"] for r in one if r["variant"] == "plain") for one in rounds]
        print(f"| {variant} | {cpu:.2f} | {cpu / plain_cpu:.3f}x | {statistics.median(per_round):.3f}x "
              f"({', '.join(f'{ratio:.2f}' for ratio in per_round)}) | {wall:.2f} | {wall / plain_wall:.3f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
