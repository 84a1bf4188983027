"""Instruction counts vs wall and CPU time: noise floor, A/A false alarms, power, cost.

    nice -n 10 python benchmarks/instructions/run.py --processes 10 --attrs /path/to/attrs-26.1.0
    python benchmarks/instructions/run.py --analyse-only        # re-analyse results.json

Benchmarks: the sample project's frame functions (tests/sample_project, on a 64x48 frame to keep
bodies small) and attrs' own CodSpeed benchmarks (``bench/test_benchmarks.py`` of the attrs sdist
on PyPI, ``pip download attrs==26.1.0 --no-binary :all: --no-deps``; ROUNDS cut from 1000 to 20).

Each *process* is the unit: ``--processes`` fresh processes per variant, each one either counting
every benchmark under callgrind (doorbell_ci.perf.instructions.count, the perf fixture's own code)
or timing it natively (10 samples of >= 5 ms, wall and CPU). A CPU hog (a busy Python loop, niced
like the measurement) runs beside everything. Variants: ``base``; ``plus2`` and ``plus1``, a real
code change in the sample project's ``histogram`` (a second pass over the first 2% / 1% of the
pixels: more of the same work, not an injected delay).

Analysis: per-benchmark spread between processes (instructions, wall, CPU); A/A: 120 comparisons
of 2 base processes against 2 other base processes, decided with the compare stage's rule
(stats.instruction_test, Holm over the suite, 1% minimum effect); power: 100 comparisons of 2 base
against 2 changed processes; the same for wall and CPU time with the paired mode's Mann-Whitney on
the pooled samples of as many timed processes as cost the same minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).with_name("results.json")
SAMPLE = ROOT / "tests" / "sample_project" / "src"
WIDTH, HEIGHT = 64, 48
ONLY = [name for name in os.environ.get("INSTRUCTIONS_BENCH_ONLY", "").split(",") if name]
ATTRS_BENCHMARKS = ("test_instantiate_with_defaults", "test_eq_equal", "test_hash", "test_asdict_atomic")


def benchmarks(variant: str, attrs_dir: str | None) -> dict[str, tuple[Any, tuple[Any, ...]]]:
    sys.path[:0] = [str(SAMPLE)]
    from doorbell.camera import MockCamera, downscale, histogram, process_frame

    camera = MockCamera(WIDTH, HEIGHT, seed=42, motion_frames={1}, square=12)
    frames = [camera.capture(0), camera.capture(1)]
    reference = downscale(frames[0], WIDTH, HEIGHT)
    # the code change: count the darkest 5 (3) brightness values a second time, one more pass over the
    # frame per value, like the 256 passes histogram() makes: +5/256 = 2.0% (+3/256 = 1.2%) of its work
    extra = {"base": 0, "plus2": 5, "plus1": 3}[variant]

    def changed_histogram(frame: bytes) -> tuple[int, ...]:
        result = histogram(frame)
        if extra:
            dark = [frame.count(value) for value in range(extra)]  # noqa: F841 - the extra work itself
        return result

    chosen: dict[str, tuple[Any, tuple[Any, ...]]] = {
        "sample::histogram": (changed_histogram, (frames[0],)),
        "sample::downscale": (downscale, (frames[0], WIDTH, HEIGHT)),
        "sample::process_frame": (process_frame, (frames[1], WIDTH, HEIGHT, reference)),
    }
    if ONLY:
        chosen = {name: chosen[name] for name in ONLY}
    if attrs_dir and variant == "base":
        sys.path[:0] = [str(Path(attrs_dir) / "bench")]
        import test_benchmarks as attrs_bench  # the attrs sdist's own benchmark module

        attrs_bench.ROUNDS = 20
        for name in ATTRS_BENCHMARKS:
            if hasattr(attrs_bench, name):
                chosen[f"attrs::{name}"] = (getattr(attrs_bench, name), ())
    return chosen


def child_count(variant: str, attrs_dir: str | None) -> dict[str, Any]:
    from doorbell_ci.perf import instructions

    out = {}
    for name, (func, args) in benchmarks(variant, attrs_dir).items():
        begin = time.process_time()
        _, figures = instructions.count(func, args, {})
        out[name] = {"median": statistics.median(figures), "figures": figures,
                     "cpu_seconds": time.process_time() - begin}
    return out


def child_time(variant: str, attrs_dir: str | None) -> dict[str, Any]:
    out = {}
    for name, (func, args) in benchmarks(variant, attrs_dir).items():
        func(*args)
        loops = 1
        while True:
            start = time.perf_counter()
            for _ in range(loops):
                func(*args)
            if time.perf_counter() - start >= 0.005:
                break
            loops *= 2
        wall, cpu = [], []
        for _ in range(10):
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(loops):
                func(*args)
            wall.append((time.perf_counter() - w0) / loops)
            cpu.append((time.process_time() - c0) / loops)
        out[name] = {"wall": wall, "cpu": cpu}
    return out


def run_process(kind: str, variant: str, attrs_dir: str | None) -> tuple[dict[str, Any], float, float]:
    """One fresh process; returns its figures, its wall seconds and its CPU seconds (children included)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    argv = [sys.executable, __file__, "--child", kind, "--variant", variant]
    if attrs_dir:
        argv += ["--attrs", attrs_dir]
    folder = tempfile.mkdtemp(prefix="instr-bench-")
    if kind == "count":
        from doorbell_ci.perf import valgrind

        env.update({"DOORBELL_CI_PERF_INSTRUCTIONS_CHILD": folder, "PYTHONHASHSEED": "0"})
        argv = [*valgrind.callgrind_argv(f"{folder}/cg.%p"), *argv]
    before = os.times()
    begin = time.monotonic()
    completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    elapsed = time.monotonic() - begin
    after = os.times()
    if completed.returncode != 0:
        raise SystemExit(f"{kind} {variant} failed: {completed.stderr[-2000:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return json.loads(completed.stdout.strip().splitlines()[-1]), elapsed, cpu


def collect(processes: int, attrs_dir: str | None) -> dict[str, Any]:
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # noqa: S603 - the CPU hog beside
    data: dict[str, Any] = {"processes": processes, "load_before": os.getloadavg(), "runs": []}
    try:
        for index in range(processes):
            for variant in ("base", "plus2", "plus1"):
                for kind in ("count", "time"):
                    figures, elapsed, cpu = run_process(kind, variant, attrs_dir if variant == "base" else None)
                    data["runs"].append({"index": index, "variant": variant, "kind": kind, "figures": figures,
                                         "wall_seconds": elapsed, "cpu_seconds": cpu,
                                         "load": os.getloadavg()[0]})
            print(f"process {index + 1}/{processes} done, load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        hog.kill()  # the hog this script started, by its own handle
        hog.wait()
    data["load_after"] = os.getloadavg()
    return data


def add_timed(data: dict[str, Any], per_variant: int) -> None:
    """Equal cost: more *timed* processes beside the counted ones already in ``data`` (base gets twice as
    many, so A/A draws of two disjoint sides fit), the CPU hog beside as before."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # noqa: S603 - the CPU hog beside
    data.setdefault("timed_added", {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                    "load_before": os.getloadavg()})
    try:
        start = 1 + max(r["index"] for r in data["runs"])
        for index in range(start, start + 2 * per_variant):
            for variant in ("base", "plus2", "plus1"):
                if variant != "base" and index >= start + per_variant:
                    continue
                figures, elapsed, cpu = run_process("time", variant, None)
                data["runs"].append({"index": index, "variant": variant, "kind": "time", "figures": figures,
                                     "wall_seconds": elapsed, "cpu_seconds": cpu, "load": os.getloadavg()[0]})
    finally:
        hog.kill()  # the hog this script started, by its own handle
        hog.wait()
    data["timed_added"]["load_after"] = os.getloadavg()


def analyse(data: dict[str, Any], seed: int = 1) -> dict[str, Any]:
    import numpy as np

    from doorbell_ci.perf import stats

    rng = random.Random(seed)
    runs = data["runs"]

    def per_process(variant: str, kind: str) -> list[dict[str, Any]]:
        return [r["figures"] for r in runs if r["variant"] == variant and r["kind"] == kind]

    counted, timed = per_process("base", "count"), per_process("base", "time")
    names = sorted(counted[0])
    noise = {}
    for name in names:
        counts = [p[name]["median"] for p in counted]
        walls = [statistics.median(p[name]["wall"]) for p in timed]
        cpus = [statistics.median(p[name]["cpu"]) for p in timed]
        within = [float(stats.robust_cv(p[name]["figures"])) for p in counted]
        noise[name] = {"instructions_per_call": statistics.median(counts),
                       "cv_instructions_between_processes": statistics.stdev(counts) / statistics.mean(counts),
                       "cv_instructions_within_process": statistics.median(within),
                       "cv_wall_between_processes": statistics.stdev(walls) / statistics.mean(walls),
                       "cv_cpu_between_processes": statistics.stdev(cpus) / statistics.mean(cpus),
                       "cv_wall_within_process": statistics.median(float(stats.robust_cv(p[name]["wall"]))
                                                                   for p in timed),
                       "unstable": stats.instruction_instability(counted[0][name]["figures"], counts)}

    def instruction_verdicts(base_pool: list[dict], head_pool: list[dict], bench: list[str], same: bool) -> list[int]:
        picks = rng.sample(range(len(base_pool)), 4) if same else None
        if same:
            base, head = [base_pool[i] for i in picks[:2]], [base_pool[i] for i in picks[2:]]
        else:
            base = [base_pool[i] for i in rng.sample(range(len(base_pool)), 2)]
            head = [head_pool[i] for i in rng.sample(range(len(head_pool)), 2)]
        results = [stats.instruction_test([p[n]["median"] for p in base], [p[n]["median"] for p in head])
                   for n in bench]
        codes = stats.classify([r[0] for r in results], [r[1] for r in results], [r[2] for r in results],
                               [False] * len(bench), [True] * len(bench), stats.INSTRUCTION_THRESHOLD)
        return [int(c) for c in codes]

    def time_verdicts(base_pool: list[dict], head_pool: list[dict], bench: list[str], metric: str, per_side: int,
                      threshold: float, same: bool, noisy_rule: bool = True) -> list[int]:
        if same:
            picks = rng.sample(range(len(base_pool)), 2 * per_side)
            base, head = [base_pool[i] for i in picks[:per_side]], [base_pool[i] for i in picks[per_side:]]
        else:
            base = [base_pool[i] for i in rng.sample(range(len(base_pool)), per_side)]
            head = [head_pool[i] for i in rng.sample(range(len(head_pool)), per_side)]
        b = [[v for p in base for v in p[n][metric]] for n in bench]
        h = [[v for p in head for v in p[n][metric]] for n in bench]
        if per_side >= stats.MIN_PROCESSES:  # the compare stage's rule: Welch on the process medians
            tests = [stats.process_test([statistics.median(p[n][metric]) for p in base],
                                        [statistics.median(p[n][metric]) for p in head]) for n in bench]
            p_slower, p_faster = np.array([t[0] for t in tests]), np.array([t[1] for t in tests])
        else:  # below that, paired mode falls back to Mann-Whitney on the pooled samples
            p_slower = np.array([float(stats.mann_whitney_greater(x, y)) for y, x in zip(b, h, strict=True)])
            p_faster = np.array([float(stats.mann_whitney_less(x, y)) for y, x in zip(b, h, strict=True)])
        ratio = np.array([float(stats.median_ratio(x, y)) for y, x in zip(b, h, strict=True)])
        noisy = np.array([bool(stats.is_noisy_pair(y, x)) and noisy_rule for y, x in zip(b, h, strict=True)])
        if not noisy_rule:  # the test alone (what the timings could see if "noisy" did not stop them)
            ratio = np.array([float(np.exp(np.mean(np.log([statistics.median(p[n][metric]) for p in head]))
                                           - np.mean(np.log([statistics.median(p[n][metric]) for p in base]))))
                              for n in bench])
        codes = stats.classify(p_slower, p_faster, ratio, noisy, np.ones(len(bench), bool), threshold)
        return [int(c) for c in codes]

    count_cost = statistics.mean(r["cpu_seconds"] for r in runs if r["kind"] == "count" and r["variant"] == "base")
    time_cost = statistics.mean(r["cpu_seconds"] for r in runs if r["kind"] == "time" and r["variant"] == "base")
    # as many timed processes per side as two counted processes cost, within what was measured
    same_cost_side = max(2, min(len(timed) // 2, round(2 * count_cost / time_cost)))
    aa = [instruction_verdicts(counted, counted, names, True) for _ in range(120)]
    false_alarms = sum(any(c == stats.REGRESSION for c in codes) for codes in aa)
    result: dict[str, Any] = {
        "noise": noise, "load_before": data["load_before"], "load_after": data["load_after"],
        "processes_per_variant": data["processes"],
        "aa_instructions": {"comparisons": len(aa), "false_alarms": false_alarms, "gate": 0.01},
        "cost": {"counted_process_cpu_seconds": count_cost, "timed_process_cpu_seconds": time_cost,
                 "benchmarks_per_process": len(names),
                 "counted_process_wall_seconds": statistics.mean(r["wall_seconds"] for r in runs
                                                                 if r["kind"] == "count" and r["variant"] == "base")},
        "power": {},
    }
    sample_names = [n for n in names if n.startswith("sample::")]
    for variant, effect in (("plus2", 0.02), ("plus1", 0.01)):
        changed_counts = per_process(variant, "count")
        changed_times = per_process(variant, "time")
        true_ratio = (statistics.median(p["sample::histogram"]["median"] for p in changed_counts)
                      / statistics.median(p["sample::histogram"]["median"] for p in counted))
        index = sample_names.index("sample::histogram")
        hits = sum(instruction_verdicts(counted, changed_counts, sample_names, False)[index] == stats.REGRESSION
                   for _ in range(100))
        others = sum(any(c == stats.REGRESSION for i, c in enumerate(
            instruction_verdicts(counted, changed_counts, sample_names, False)) if i != index) for _ in range(100))
        row = {"instruction_ratio": true_ratio, "instructions_detected_of_100": hits,
               "instructions_false_alarms_on_unchanged_of_100": others, "timed_processes_per_side": same_cost_side}
        for metric in ("wall", "cpu"):
            for threshold in (effect / 2, 0.05):
                detected = sum(time_verdicts(timed, changed_times, sample_names, metric, same_cost_side,
                                             threshold, False)[index] == stats.REGRESSION for _ in range(100))
                row[f"{metric}_detected_of_100_gate_{threshold:g}"] = detected
                row[f"{metric}_detected_of_100_gate_{threshold:g}_without_noisy_rule"] = sum(
                    time_verdicts(timed, changed_times, sample_names, metric, same_cost_side, threshold, False,
                                  noisy_rule=False)[index] == stats.REGRESSION for _ in range(100))
            row[f"{metric}_false_alarms_of_100_aa_gate_{effect / 2:g}"] = sum(
                any(c == stats.REGRESSION for c in time_verdicts(timed, timed, sample_names, metric,
                                                                  min(same_cost_side, len(timed) // 2),
                                                                  effect / 2, True)) for _ in range(100))
            row[f"{metric}_false_alarms_of_100_aa_gate_{effect / 2:g}_without_noisy_rule"] = sum(
                any(c == stats.REGRESSION for c in time_verdicts(timed, timed, sample_names, metric,
                                                                  min(same_cost_side, len(timed) // 2),
                                                                  effect / 2, True, noisy_rule=False))
                for _ in range(100))
            row[f"{metric}_cv_between_processes"] = statistics.stdev(
                statistics.median(p["sample::histogram"][metric]) for p in timed) / statistics.mean(
                statistics.median(p["sample::histogram"][metric]) for p in timed)
        result["power"][f"{int(effect * 100)}%"] = row
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=10)
    parser.add_argument("--attrs", default=None, help="the unpacked attrs sdist (holds bench/test_benchmarks.py)")
    parser.add_argument("--child", choices=("count", "time"))
    parser.add_argument("--variant", default="base")
    parser.add_argument("--analyse-only", action="store_true")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--add-timed", type=int, default=0, metavar="N",
                        help="add N timed processes per variant (2N for base) to --results, then re-analyse")
    args = parser.parse_args()
    if args.child:
        work = child_count if args.child == "count" else child_time
        print(json.dumps(work(args.variant, args.attrs)))
        return 0
    if args.analyse_only or args.add_timed:
        data = json.loads(args.results.read_text())["data"]
        if args.add_timed:
            add_timed(data, args.add_timed)
            args.results.write_text(json.dumps({"data": data}, indent=1))
    else:
        data = collect(args.processes, args.attrs)
        args.results.write_text(json.dumps({"data": data}, indent=1))  # kept even if the analysis fails
    analysis = analyse(data)
    args.results.write_text(json.dumps({"analysis": analysis, "data": data}, indent=1))
    print(json.dumps(analysis, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
