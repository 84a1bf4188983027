"""Orchestrator overhead: `doorbell-ci run` against bare pytest with the same flags.

Why: doorbell-ci wraps pytest (a subprocess, a progress plugin, process-tree sampling, JUnit
parsing, four reports). The target is that all this costs at most 5 % of wall time at every
size. Both commands run the same tests with the same xdist workers, the same JUnit options and
either both with or both without coverage; the runs are interleaved (A B A B) so a busy moment
on the shared machine hits both sides alike, and the median ratios of wall and CPU time (user +
system of the whole process tree) are reported.

Two modes:
- ``quick`` (default): 2,000 generated one-line tests, where doorbell-ci's fixed cost shows.
- ``real``: a real project's own test suite, run from its installed package with ``--pyargs``
  (default: numpy's, 50,000+ tests that run offline once numpy, pytest and hypothesis are
  installed), where the per-test cost shows. Both sides run exactly the same pytest targets and
  ``-m`` expression; doorbell-ci through a suite whose ``pytest_args`` carry them.

One command re-runs it:  python benchmarks/overhead/run_overhead.py [--runs 5] [--workers 2]
                         python benchmarks/overhead/run_overhead.py --mode real --runs 3 --configs no-coverage
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = 2_000
FILES = 20

# The pytest options doorbell-ci passes for a suite (plan.pytest_arguments), minus its own plugin.
JUNIT_OPTIONS = ["-o", "junit_family=xunit1", "-o", "junit_logging=all", "-o", "junit_log_passing_tests=false",
                 "-p", "no:cacheprovider"]


def make_project(root: Path, tests: int = TESTS, files: int = FILES) -> Path:
    """A project with ``tests`` quick tests in tests/unit and a small package they import."""
    (root / "src" / "bench_app").mkdir(parents=True)
    (root / "src" / "bench_app" / "__init__.py").write_text(
        "def add(a: int, b: int) -> int:\n    return a + b\n\n\n"
        "def words(text: str) -> list[str]:\n    return [w for w in text.split() if w]\n",
        encoding="utf-8",
    )
    unit = root / "tests" / "unit"
    unit.mkdir(parents=True)
    (root / "tests" / "__init__.py").write_text("", encoding="utf-8")
    (unit / "__init__.py").write_text("", encoding="utf-8")
    per_file = tests // files
    for index in range(files):
        body = ["import pytest", "", "from bench_app import add, words", ""]
        body += [
            f"@pytest.mark.parametrize('n', range({per_file}))",
            f"def test_add_{index}(n):",
            "    assert add(n, 1) == n + 1",
            "    assert words('a b  c') == ['a', 'b', 'c']",
            "",
        ]
        (unit / f"test_quick_{index:02d}.py").write_text("\n".join(body), encoding="utf-8")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "bench-app"\nversion = "0"\n\n'
        '[tool.pytest.ini_options]\npythonpath = ["src"]\n\n'
        '[tool.coverage.run]\nsource = ["src"]\n\n'
        '[tool.doorbell-ci]\ncoverage_source = ["src"]\n',
        encoding="utf-8",
    )
    return root


REAL_TARGETS = ("numpy",)  # ``--pyargs`` targets of the real-project mode
REAL_MARKERS = "not slow"  # numpy marks its minutes-long tests; both sides leave them out
# numpy's f2py tests compile Fortran/C extensions with meson at collection: without that toolchain they
# are collection errors (pytest exit 2) on both sides, so both sides leave them out
# (pytest anchors a relative --ignore-glob at the invocation folder, hence the leading /*)
REAL_ARGS = ("--ignore-glob=/*/numpy/f2py/*",)
EMPTY_FOLDER = "no-tests-here"


def make_real_project(root: Path, targets: tuple[str, ...], markers: str, extra: tuple[str, ...]) -> Path:
    """A project folder whose one suite runs an installed package's own tests (``--pyargs``).

    doorbell-ci refuses suite paths outside the project, so the suite's path is an empty folder
    (named so that ``--pyargs`` cannot mistake it for a module) and the package's tests come in
    through ``pytest_args``, exactly as the bare command names them.
    """
    (root / EMPTY_FOLDER).mkdir(parents=True)
    args = ", ".join(f'"{arg}"' for arg in (*extra, "--pyargs", *targets))
    (root / "pyproject.toml").write_text(
        '[project]\nname = "real-project-bench"\nversion = "0"\n\n'
        "[tool.doorbell-ci.suite.unit]\n"
        f'paths = ["{EMPTY_FOLDER}"]\nmarkers = "{markers}"\npytest_args = [{args}]\ntimeout = 7200\n',
        encoding="utf-8",
    )
    return root


def commands(project: Path, out: Path, workers: int, coverage: bool,
             real: tuple[tuple[str, ...], str, tuple[str, ...]] | None = None) -> dict[str, list[str]]:
    """The two argv lists compared; the bare pytest writes the same kinds of coverage reports.

    ``real``: (``--pyargs`` targets, ``-m`` expression, other pytest arguments) of the real-project mode.
    """
    paths = ["tests/unit"] if real is None else [str(project / EMPTY_FOLDER), "-m", real[1]]
    bare = [sys.executable, "-m", "pytest", *paths, f"--junitxml={out / 'bare' / 'unit.xml'}",
            *JUNIT_OPTIONS, "-q"]
    if workers > 1:
        bare += ["-n", str(workers)]
    if real is not None:
        bare += [*real[2], "--pyargs", *real[0]]
    if coverage:
        cov_dir = out / "bare" / "coverage"
        source = "src" if real is None else real[0][0].split(".")[0]
        bare += [f"--cov={source}", f"--cov-report=html:{cov_dir / 'html'}",
                 f"--cov-report=xml:{cov_dir / 'coverage.xml'}", f"--cov-report=json:{cov_dir / 'coverage.json'}"]
    # without coverage, pytest-cov stays loaded on both sides (doorbell-ci's suites load it and so does a
    # plain `pytest` where it is installed); until 2026-12 the bare side had -p no:cov, a head start
    doorbell = [sys.executable, "-c", SELF_CPU, "run", "--project", str(project), "--suites", "unit",
                "--workers", str(workers), "--output-dir", str(out / "doorbell"), "--quiet"]
    if not coverage:
        doorbell.append("--no-coverage")
    return {"pytest": bare, "doorbell-ci": doorbell}


# The doorbell-ci side runs through this (``python -c SELF_CPU run ...`` is ``python -m doorbell_ci run ...``)
# so that its own process's CPU (all its threads: start-up, output pump, tree sampler, parsing, reports)
# is known apart from the suite's processes under it: the whole tree's CPU minus this is what the suite
# itself used, to compare with bare pytest's. The variable is removed before the suites start.
SELF_CPU_VARIABLE = "DOORBELL_BENCH_SELF_CPU"
SELF_CPU = (
    "import atexit, os, resource, runpy, sys\n"
    f"path = os.environ.pop({SELF_CPU_VARIABLE!r}, None)\n"
    "def done():\n"
    "    if path is None:\n"
    "        return\n"
    "    usage = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    with open(path, 'w') as out:\n"
    "        out.write(repr(usage.ru_utime + usage.ru_stime))\n"
    "atexit.register(done)\n"
    "sys.argv[0] = 'doorbell_ci'\n"
    "runpy.run_module('doorbell_ci', run_name='__main__', alter_sys=True)\n"
)


def measured_environment() -> dict[str, str]:
    """This environment without ``PYTHONDONTWRITEBYTECODE``, as in a user's shell or a CI job.

    Some sandboxes set it globally. With it, nothing ever writes a .pyc, so an editable
    doorbell-ci compiles its fifty-odd modules from source on every run (60-90 ms of CPU that an
    installed doorbell-ci, whose wheel is byte-compiled by pip, never pays) and both sides
    re-rewrite the test modules' assertions on every run. doorbell-ci still sets it for its
    suites (``plan.suite_environment``): they read the .pyc files that exist but leave none behind.
    """
    return {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str], cwd: Path, ok_codes: tuple[int, ...] = (0,),
          extra_env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the whole process tree) of one run.

    CPU time is the steadier figure on a shared machine: other people's load stretches wall
    time but not the work our processes do. ``ok_codes``: a real project may have a failing test
    in this environment (pytest exit 1, doorbell-ci exit 1); both sides then do the same work.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    begin = time.perf_counter()
    completed = subprocess.run(argv, cwd=cwd, env={**measured_environment(), **(extra_env or {})},  # noqa: S603
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, check=False)
    elapsed = time.perf_counter() - begin
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode not in ok_codes:
        sys.exit(f"benchmark command failed ({completed.returncode}): {' '.join(argv)}\n"
                 + completed.stdout.decode(errors="replace")[-3000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def machine() -> dict[str, object]:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}"}


def _tests_run(out: Path) -> dict[str, int | None]:
    """How many tests each side ran in its last run: the two must have done the same work."""
    counts: dict[str, int | None] = {"pytest": None, "doorbell-ci": None}
    try:
        head = (out / "bare" / "unit.xml").read_text(encoding="utf-8", errors="replace")[:2000]
        match = re.search(r'<testsuite [^>]*\btests="(\d+)"', head)
        counts["pytest"] = int(match.group(1)) if match else None
        report = json.loads((out / "doorbell" / "report.json").read_text(encoding="utf-8"))
        counts["doorbell-ci"] = int(report["totals"]["tests"])
    except (OSError, ValueError, KeyError):
        pass
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command per configuration")
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers on both sides")
    parser.add_argument("--configs", nargs="+", default=["no-coverage", "coverage"],
                        choices=["no-coverage", "coverage"])
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--mode", choices=["quick", "real"], default="quick",
                        help="quick: 2,000 generated tests; real: an installed project's own test suite")
    parser.add_argument("--real-targets", nargs="+", default=list(REAL_TARGETS), metavar="MODULE",
                        help="real mode: --pyargs targets, e.g. numpy or numpy._core.tests.test_dtype")
    parser.add_argument("--real-markers", default=REAL_MARKERS, help="real mode: the -m expression of both sides")
    parser.add_argument("--real-args", nargs="*", default=list(REAL_ARGS), metavar="ARG",
                        help="real mode: other pytest arguments of both sides (default: numpy's f2py tests left out)")
    parser.add_argument("--warmups", type=int, default=1, help="unmeasured runs of each command first")
    args = parser.parse_args(argv)
    real = (tuple(args.real_targets), args.real_markers, tuple(args.real_args)) if args.mode == "real" else None
    if real is not None and "coverage" in args.configs:
        parser.error("--mode real measures without coverage (the package is outside the project, where "
                     "doorbell-ci's coverage_source cannot point); pass --configs no-coverage")
    ok_codes = (0,) if real is None else (0, 1)

    root = Path(tempfile.mkdtemp(prefix="doorbell-overhead-"))
    try:
        if real is None:
            project = make_project(root / "project")
        else:
            project = make_real_project(root / "project", *real)
        results: dict[str, dict[str, object]] = {}
        for config in args.configs:
            argvs = commands(project, root / "out", args.workers, coverage=config == "coverage", real=real)
            load_at_start = os.getloadavg()
            for _ in range(args.warmups):  # imports, .pyc, page cache
                for command in argvs.values():
                    timed(command, project, ok_codes)
            times: dict[str, list[float]] = {tool: [] for tool in argvs}
            cpu: dict[str, list[float]] = {tool: [] for tool in argvs}
            own_cpu: list[float] = []  # doorbell-ci's own process (see SELF_CPU)
            self_cpu_file = root / "self-cpu"
            for index in range(args.runs):
                # alternate which side goes first: a machine whose speed drifts favours neither
                for tool in (("pytest", "doorbell-ci") if index % 2 == 0 else ("doorbell-ci", "pytest")):
                    self_cpu_file.unlink(missing_ok=True)
                    extra = {SELF_CPU_VARIABLE: str(self_cpu_file)} if tool == "doorbell-ci" else None
                    wall, cpu_seconds = timed(argvs[tool], project, ok_codes, extra)
                    times[tool].append(wall)
                    cpu[tool].append(cpu_seconds)
                    if tool == "doorbell-ci":
                        own_cpu.append(float(self_cpu_file.read_text(encoding="utf-8")))
                print(f"  {config}: pytest {times['pytest'][-1]:.2f}s wall / {cpu['pytest'][-1]:.2f}s CPU, "
                      f"doorbell-ci {times['doorbell-ci'][-1]:.2f}s / {cpu['doorbell-ci'][-1]:.2f}s "
                      f"(its own process {own_cpu[-1]:.2f}s, the suite's {cpu['doorbell-ci'][-1] - own_cpu[-1]:.2f}s), "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
            tests = _tests_run(root / "out")
            medians = {tool: statistics.median(values) for tool, values in times.items()}
            cpu_medians = {tool: statistics.median(values) for tool, values in cpu.items()}
            ratios = [d / p for d, p in zip(times["doorbell-ci"], times["pytest"], strict=True)]
            results[config] = {
                "times": {tool: [round(v, 3) for v in values] for tool, values in times.items()},
                "cpu": {tool: [round(v, 3) for v in values] for tool, values in cpu.items()},
                "median": {tool: round(v, 3) for tool, v in medians.items()},
                "cpu_median": {tool: round(v, 3) for tool, v in cpu_medians.items()},
                "ratio_of_medians": round(medians["doorbell-ci"] / medians["pytest"], 3),
                "median_of_pair_ratios": round(statistics.median(ratios), 3),
                "cpu_ratio_of_medians": round(cpu_medians["doorbell-ci"] / cpu_medians["pytest"], 3),
                # doorbell-ci's side split: its own process, and the suite's processes under it (the same
                # pytest command as the bare side's, so suite_cpu_ratio should be 1 within the machine's noise)
                "orchestrator_cpu": [round(v, 3) for v in own_cpu],
                "orchestrator_cpu_median": round(statistics.median(own_cpu), 3),
                "orchestrator_cpu_share_of_bare_cpu": round(statistics.median(own_cpu) / cpu_medians["pytest"], 4),
                "suite_cpu_ratio": round(statistics.median(
                    [c - o for c, o in zip(cpu["doorbell-ci"], own_cpu, strict=True)]) / cpu_medians["pytest"], 3),
                "commands": {tool: " ".join(c).replace(str(root), "$TMP") for tool, c in argvs.items()},
                "tests": tests,
                "load_average": {"start": [round(v, 2) for v in load_at_start],
                                 "end": [round(v, 2) for v in os.getloadavg()]},
            }
            print(f"{config}: wall medians pytest {medians['pytest']:.2f}s, doorbell-ci {medians['doorbell-ci']:.2f}s, "
                  f"ratio {results[config]['ratio_of_medians']:.3f} (median of paired ratios "
                  f"{results[config]['median_of_pair_ratios']:.3f}); CPU medians pytest {cpu_medians['pytest']:.2f}s, "
                  f"doorbell-ci {cpu_medians['doorbell-ci']:.2f}s, "
                  f"ratio {results[config]['cpu_ratio_of_medians']:.3f}; "
                  f"doorbell-ci's own process {results[config]['orchestrator_cpu_median']:.2f}s CPU "
                  f"({100 * results[config]['orchestrator_cpu_share_of_bare_cpu']:.1f}% of bare pytest's), "
                  f"its suite's processes {results[config]['suite_cpu_ratio']:.3f}x bare pytest's CPU", flush=True)
        report = {"mode": args.mode, "real_targets": args.real_targets if real else None, "runs": args.runs,
                  "workers": args.workers, "machine": machine(),
                  "load_average_at_end": os.getloadavg(), "results": results}
        print(json.dumps(report, indent=2))
        if args.json:
            args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
