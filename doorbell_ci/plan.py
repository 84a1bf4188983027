"""Stage 1: decide which suites run, in which order, with which arguments and core budget.

A Plan is pure data: no process is started here. The argument list of a pytest suite
is built by :func:`pytest_arguments` for the paths *as the environment sees them*, so the
same plan runs locally and inside a container.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePath

from doorbell_ci.config import Config, SuiteConfig
from doorbell_ci.options import MAX_PARALLEL_SUITES, MAX_WORKERS, SUITE_NAMES
from doorbell_ci.results import DEFAULT_JUNIT_MAX_BYTES, MB


@dataclass(frozen=True)
class PlannedSuite:
    name: str
    config: SuiteConfig
    workers: int  # xdist workers; 1 means no xdist
    timeout: float
    coverage: bool
    selection: str | None = None  # file of node ids to run (sharding, reruns), relative to the output folder
    collected: str | None = None  # file the selection plugin writes the collected node ids to

    @property
    def cost(self) -> int:
        """Cores this suite occupies while it runs."""
        return max(1, self.workers)

    @property
    def junit_name(self) -> str:
        return f"junit/{self.name}.xml"

    @property
    def log_name(self) -> str:
        return f"logs/{self.name}.log"

    @property
    def progress_name(self) -> str:
        return f"logs/{self.name}.progress.jsonl"

    @property
    def coverage_name(self) -> str:
        return f"coverage/.coverage.{self.name}"


@dataclass(frozen=True)
class SkippedSuite:
    name: str
    reason: str


@dataclass(frozen=True)
class Plan:
    run_id: str
    created_at: str
    project: Path
    output_dir: Path
    suites: tuple[PlannedSuite, ...]
    absent: tuple[SkippedSuite, ...] = ()
    cores: int = 1  # the budget the scheduler fills
    max_parallel_suites: int = 1
    fail_fast: bool = False
    coverage_source: tuple[str, ...] = field(default_factory=tuple)
    junit_max_bytes: int = DEFAULT_JUNIT_MAX_BYTES  # a JUnit file bigger than this is not read (--junit-max-mb)


def cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def make_plan(config: Config) -> Plan:
    cores = cpu_count()
    workers = min(cores, MAX_WORKERS) if config.workers == "auto" else int(config.workers)
    names = _selected_names(config)
    planned: list[PlannedSuite] = []
    absent: list[SkippedSuite] = []
    for name in names:
        suite = config.suite_configs[name]
        missing = _missing_paths(config.project, suite)
        if missing:
            absent.append(SkippedSuite(name, f"{', '.join(missing)} does not exist in the project"))
            continue
        planned.append(
            PlannedSuite(
                name=name,
                config=suite,
                workers=workers if suite.parallel and suite.is_pytest and not suite.exclusive else 1,
                timeout=config.timeout or suite.timeout,
                coverage=config.coverage and suite.coverage and suite.is_pytest,
            )
        )
    # Exclusive suites (performance, load) go last so they run on a quiet machine.
    planned.sort(key=lambda s: s.config.exclusive)
    parallel = min(cores, MAX_PARALLEL_SUITES) if config.parallel_suites == "auto" else int(config.parallel_suites)
    return Plan(
        run_id=datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8],
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        project=config.project,
        output_dir=config.output_dir,
        suites=tuple(planned),
        absent=tuple(absent),
        cores=cores,
        max_parallel_suites=max(1, parallel),
        fail_fast=config.fail_fast,
        coverage_source=config.coverage_source,
        junit_max_bytes=config.junit_max_mb * MB,
    )


def _selected_names(config: Config) -> list[str]:
    if "all" in config.suites:
        known = [n for n in SUITE_NAMES if n in config.suite_configs]
        return known + [n for n in config.suite_configs if n not in SUITE_NAMES]
    return list(dict.fromkeys(config.suites))


def _missing_paths(project: Path, suite: SuiteConfig) -> list[str]:
    if not suite.is_pytest:
        return []
    return [path for path in suite.paths if not (project / path).exists()]


def pytest_arguments(suite: PlannedSuite, project: PurePath, output: PurePath,
                     coverage_source: tuple[str, ...] = ()) -> list[str]:
    """pytest's argument list (after ``python -m pytest``) for ``suite``.

    ``project`` and ``output`` are the folders as the process will see them.
    Markers, paths and extra args go in as separate argv items, never through a shell.
    """
    config = suite.config
    args = [str(project / path) for path in config.paths] or [str(project)]
    if config.markers:
        args += ["-m", config.markers]
    args += [
        f"--junitxml={output / suite.junit_name}",
        "-o", "junit_family=xunit1",  # xunit1 keeps the file and line attributes
        "-o", "junit_logging=all",  # captured output of failing tests
        "-o", "junit_log_passing_tests=false",
        "-p", "doorbell_ci.progress_plugin",
        "-p", "no:cacheprovider",  # leave nothing in the project
    ]
    if suite.selection or suite.collected:
        args += ["-p", "doorbell_ci.selection_plugin"]  # node ids via a file, never via argv (length limits)
    if suite.workers > 1:
        args += ["-n", str(suite.workers)]
    if suite.coverage:
        args += [f"--cov={project / s}" for s in coverage_source] or ["--cov"]
        args += ["--cov-report="]  # data only; doorbell-ci combines and reports
    args += list(config.pytest_args)
    return args


def suite_environment(suite: PlannedSuite, output: PurePath) -> dict[str, str]:
    """Variables the suite's process gets on top of the environment's own."""
    env = {
        "DOORBELL_CI_PROGRESS": str(output / suite.progress_name),
        "DOORBELL_CI_SUITE": suite.name,
        "DOORBELL_CI_PERF_OUTPUT": str(output / "perf" / f"{suite.name}.json"),  # the perf fixture's samples
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
    }
    if suite.coverage:
        env["COVERAGE_FILE"] = str(output / suite.coverage_name)
    if suite.selection:
        env["DOORBELL_CI_SELECT"] = str(output / suite.selection)
    if suite.collected:
        env["DOORBELL_CI_COLLECTED"] = str(output / suite.collected)
    env.update(suite.config.env)
    return env
