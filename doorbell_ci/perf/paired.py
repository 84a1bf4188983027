"""Paired mode's measurement: the merge base (A) and the head (B) in the same job, interleaved ABBA.

Runner-to-runner noise on hosted CI is larger than any regression worth catching, and it cancels only
when both sides are measured on the same machine in the same minutes. The base is checked out with
``git worktree`` next to the project (nothing in the working tree changes), and the benchmark suite
runs as fresh pytest processes in the order A B B A A B B A: each side gets several processes (ASLR,
hash seeds) and a drift across the job (a Pi warming up) hits both sides alike.

The slowdown-injection variable (``DOORBELL_CI_PERF_SLOWDOWN``) reaches the head's processes only,
so ``--perf-aa`` with it measures power, and without it the false-alarm rate.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from doorbell_ci import jsonsafe
from doorbell_ci.environments.base import SuiteCommand
from doorbell_ci.errors import PerfError
from doorbell_ci.execution import run_command
from doorbell_ci.perf.measure import (
    DEFAULT_SAMPLES,
    METRIC_ENV,
    OUTPUT_ENV,
    SAMPLES_ENV,
    SAMPLES_FORMAT,
    SLOWDOWN_ENV,
    BenchmarkRecord,
    MeasureError,
    env_int,
    record_from_dict,
)
from doorbell_ci.redaction import without_github_tokens

PROCESSES_PER_SIDE = 4
MAX_PROCESSES = 64  # fresh processes per side in paired mode
# Counts vary ~0.01% between processes: A B B A is enough, at half the cost. Each side process times
# natively and its perf fixture counts every benchmark test in a Valgrind child (instructions.from_child).
INSTRUCTION_PROCESSES_PER_SIDE = 2
PROCESSES_ENV = "DOORBELL_CI_PERF_PROCESSES"  # fresh processes per side (each takes samples / processes samples)
ORDER = "ABBA"


@dataclass
class Side:
    label: str  # "base" or "head"
    commit: str
    project: Path  # the project folder in this side's checkout


@dataclass
class PairedMeasurement:
    base: dict[str, BenchmarkRecord] = field(default_factory=dict)
    head: dict[str, BenchmarkRecord] = field(default_factory=dict)
    base_commit: str = ""
    head_commit: str = ""
    problems: list[str] = field(default_factory=list)
    processes: int = 0
    # per benchmark, one median per process of each side: {"base"|"head": {name: {"wall"|"cpu": [...]}}}
    process_medians: dict[str, dict[str, dict[str, list[float]]]] = field(
        default_factory=lambda: {"base": {}, "head": {}})


def git(args: list[str], cwd: Path) -> str:
    """Run git with an argv list; a failure is a PerfError with git's own message."""
    git_path = shutil.which("git")
    if git_path is None:
        raise PerfError("paired mode needs git, and git is not on PATH; use --perf-mode history")
    # without the token: git is a process of this user, which a leftover of a suite could read (SECURITY.md)
    completed = subprocess.run([git_path, *args], cwd=cwd, capture_output=True, text=True, check=False,  # noqa: S603
                               env=without_github_tokens(os.environ))
    if completed.returncode != 0:
        message = (completed.stderr.strip().splitlines() or ["no message"])[-1]
        raise PerfError(f"git {' '.join(args)} failed in {cwd}: {message}")
    return completed.stdout.strip()


def base_candidates(explicit: str | None, environ: dict[str, str]) -> list[str]:
    if explicit:
        return [explicit]
    pull_request_base = environ.get("GITHUB_BASE_REF", "").strip()
    names = [f"origin/{pull_request_base}", pull_request_base] if pull_request_base else []
    return names + ["origin/main", "origin/master", "main", "master"]


def merge_base(project: Path, explicit: str | None, environ: dict[str, str]) -> tuple[str, str, str]:
    """(base commit, head commit, the ref used): the merge base of HEAD with the base branch."""
    head = git(["rev-parse", "HEAD"], project)
    for ref in base_candidates(explicit, environ):
        try:
            git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], project)
        except PerfError:
            if explicit:
                raise PerfError(f"--perf-base {ref!r} is not a commit in this repository") from None
            continue
        return git(["merge-base", "HEAD", ref], project), head, ref
    raise PerfError("paired mode found no base branch (tried origin/$GITHUB_BASE_REF, origin/main, main, master); "
                    "pass --perf-base REF, or fetch the base branch (actions/checkout with fetch-depth: 0)")


class Worktree:
    """A detached second checkout of ``commit``, removed again on exit (also after a failure)."""

    def __init__(self, project: Path, commit: str) -> None:
        self.top = Path(git(["rev-parse", "--show-toplevel"], project))
        self.relative = project.resolve().relative_to(self.top.resolve())
        self.commit = commit
        self.folder = Path(tempfile.mkdtemp(prefix="doorbell-ci-base-"))
        self.checkout = self.folder / "checkout"

    def __enter__(self) -> Path:
        git(["worktree", "add", "--detach", str(self.checkout), self.commit], self.top)
        return self.checkout / self.relative

    def __exit__(self, *exc: object) -> None:
        try:
            git(["worktree", "remove", "--force", str(self.checkout)], self.top)
        except PerfError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)
        try:
            git(["worktree", "prune"], self.top)
        except PerfError:
            pass


def interleaving(processes_per_side: int) -> list[str]:
    """``A B B A A B B A ...``: every side equally often early and late in the job."""
    blocks = math.ceil(processes_per_side / 2)
    return list(ORDER * blocks)[: 2 * processes_per_side]


def run_side(side: Side, test_args: list[str], output: Path, samples: int, log: Path, timeout: float,
             environ: dict[str, str], inject_slowdown: bool) -> tuple[list[BenchmarkRecord], str | None]:
    """One fresh pytest process of one side; returns its records, or a problem line."""
    env = {OUTPUT_ENV: str(output), SAMPLES_ENV: str(samples), "DOORBELL_CI_SUITE": "performance",
           "PYTHONDONTWRITEBYTECODE": "1"}
    # nothing of an enclosing pytest (xdist worker ids would rename the samples file) or coverage run
    inherited = {k: v for k, v in environ.items() if k not in {OUTPUT_ENV, SAMPLES_ENV, "COVERAGE_FILE"}
                 and not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT_TEST", "COV_CORE"))}
    if not inject_slowdown:
        inherited.pop(SLOWDOWN_ENV, None)
    source = side.project / "src"
    python_path = [str(side.project)] + ([str(source)] if source.is_dir() else [])
    if inherited.get("PYTHONPATH"):
        python_path.append(inherited["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(python_path)
    argv = [sys.executable, "-m", "pytest", *test_args, "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    command = SuiteCommand(argv=argv, env={**inherited, **env}, cwd=side.project, inherit_env=False)
    execution = run_command(f"perf-{side.label}", command, timeout, log)
    if execution.exit_code != 0:
        why = "timed out" if execution.timed_out else execution.start_error or f"exit code {execution.exit_code}"
        return [], f"the {side.label} ({side.commit[:12]}) benchmark run failed ({why}); see {log}"
    try:
        document = jsonsafe.loads(output.read_text(encoding="utf-8"))
        if document.get("format") != SAMPLES_FORMAT:
            raise ValueError("not a doorbell-ci samples file")
        return [record_from_dict(raw) for raw in document["benchmarks"]], None
    except FileNotFoundError:
        return [], f"the {side.label} benchmark run wrote no samples (does it use the perf fixture?)"
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [], f"the {side.label} benchmark samples could not be read: {error}"


def measure(base: Side, head: Side, test_args: list[str], work: Path, samples_per_side: int | None = None,
            processes_per_side: int | None = None, timeout: float = 1800.0,
            environ: dict[str, str] | None = None) -> PairedMeasurement:
    """Run both sides interleaved; samples of one benchmark from all of a side's processes are pooled."""
    environ = dict(os.environ) if environ is None else environ
    try:
        samples_per_side = samples_per_side or env_int(SAMPLES_ENV, DEFAULT_SAMPLES)
        default = INSTRUCTION_PROCESSES_PER_SIDE if environ.get(METRIC_ENV) == "instructions" else PROCESSES_PER_SIDE
        processes_per_side = processes_per_side or env_int(PROCESSES_ENV, default, maximum=MAX_PROCESSES)
    except MeasureError as error:
        raise PerfError(str(error)) from None
    per_process = max(1, math.ceil(samples_per_side / processes_per_side))
    result = PairedMeasurement(base_commit=base.commit, head_commit=head.commit)
    work.mkdir(parents=True, exist_ok=True)
    for index, label in enumerate(interleaving(processes_per_side)):
        side = base if label == "A" else head
        records, problem = run_side(side, test_args, work / f"{index:02d}-{side.label}.json", per_process,
                                    work / f"{index:02d}-{side.label}.log", timeout, environ,
                                    inject_slowdown=side is head)
        result.processes += 1
        if problem:
            result.problems.append(problem)
            return result
        pool = result.base if side is base else result.head
        medians = result.process_medians[side.label]
        for record in records:
            this_process = medians.setdefault(record.name, {"wall": [], "cpu": []})
            for metric, values in (("wall", record.wall), ("cpu", record.cpu)):
                if values:
                    this_process[metric].append(sorted(values)[len(values) // 2])
            merged = pool.setdefault(record.name, BenchmarkRecord(name=record.name, nodeid=record.nodeid))
            merged.loops = record.loops
            merged.slowdown = record.slowdown
            merged.wall += record.wall
            merged.cpu += record.cpu
            merged.peak_memory += record.peak_memory
            merged.metrics.update(record.metrics)
            merged.instructions += record.instructions
            merged.instruction_processes += record.instruction_processes
    return result
