"""Stage 1: decide which suites run, in which order, with which arguments and core budget.

A Plan is pure data: no process is started here. The argument list of a pytest suite
is built by :func:`pytest_arguments` for the paths *as the environment sees them*, so the
same plan runs locally and inside a container.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePath

from doorbell_ci.config import Config, SuiteConfig, default_suite_configs, fallback_test_paths
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
    """A selected suite that does not run: asked for by name but its folder is missing, or not in this shard."""

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
    # built-in suites that "all" would have run but whose folder this project does not have; not
    # reported suite by suite (a project rarely has all seven), only when nothing ran at all
    not_in_project: tuple[str, ...] = ()
    cores: int = 1  # the budget the scheduler fills
    max_parallel_suites: int = 1
    fail_fast: bool = False
    coverage_source: tuple[str, ...] = field(default_factory=tuple)
    junit_max_bytes: int = DEFAULT_JUNIT_MAX_BYTES  # a JUnit file bigger than this is not read (--junit-max-mb)
    notices: tuple[str, ...] = ()  # said once on the console and kept in every report (e.g. the fallback suite)


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
    not_in_project: list[str] = []
    asked = _asked_by_name(config)
    for name in names:
        suite = config.suite_configs[name]
        missing = _missing_paths(config.project, suite)
        if missing and name not in asked:
            not_in_project.append(name)
            continue
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
    notices: tuple[str, ...] = ()
    fallback = _fallback_suite(config, names) if not planned else None
    if fallback is not None:
        suite, notice = fallback
        absent = [skipped for skipped in absent if skipped.name != suite.name]
        planned.append(PlannedSuite(name=suite.name, config=suite, workers=workers if suite.parallel else 1,
                                    timeout=config.timeout or suite.timeout,
                                    coverage=config.coverage and suite.coverage))
        notices = (notice,)
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
        not_in_project=tuple(not_in_project),
        cores=cores,
        max_parallel_suites=max(1, parallel),
        fail_fast=config.fail_fast,
        coverage_source=config.coverage_source,
        junit_max_bytes=config.junit_max_mb * MB,
        notices=notices,
    )


def _selected_names(config: Config) -> list[str]:
    if "all" in config.suites:
        known = [n for n in SUITE_NAMES if n in config.suite_configs]
        return known + [n for n in config.suite_configs if n not in SUITE_NAMES]
    return list(dict.fromkeys(config.suites))


FALLBACK_SUITE = "unit"
FALLBACK_TIMEOUT = 900.0  # the whole of tests/, not only unit tests: the timeout of every other suite


def _fallback_suite(config: Config, names: list[str]) -> tuple[SuiteConfig, str] | None:
    """The unit suite over the project's own test folders, for a project without the doorbell layout.

    A flat ``tests/`` folder (or pytest ``testpaths``) holds no ``tests/unit`` and no other suite
    folder: without this, every suite is absent and the run tests nothing. It applies only when
    the unit suite is selected and keeps its built-in definition, and when no configured suite of
    the project exists at all: a project that has ``tests/integration`` but no ``tests/unit`` gets
    no second copy of its integration tests, and a suite the user configured is never replaced.
    """
    if FALLBACK_SUITE not in names or config.suite_configs.get(FALLBACK_SUITE) != default_suite_configs()[
            FALLBACK_SUITE]:
        return None
    if any(not suite.is_pytest or (suite.paths and not _missing_paths(config.project, suite))
           for suite in config.suite_configs.values()):
        return None
    found = fallback_test_paths(config.project)
    if found is None:
        return None
    shown = ", ".join(f"{path}/" if (config.project / path).is_dir() else path for path in found.paths)
    suite = replace(config.suite_configs[FALLBACK_SUITE], paths=found.paths, timeout=FALLBACK_TIMEOUT)
    return suite, (f"no suite folder (tests/unit, tests/integration, ...) exists: {shown} ({found.source}) runs as "
                   f"the {FALLBACK_SUITE} suite; declare [tool.doorbell-ci.suite.NAME] tables to split it")
def _asked_by_name(config: Config) -> set[str]:
    """Suites the user named: on ``--suites`` (or its variable), or with a table of their own in pyproject.

    Only those are reported as absent when their folder is missing; the built-in defaults that
    ``all`` tries are a guess at the layout, and listing the six a project does not have in every
    console line and summary only hides the one that ran.
    """
    named = {name for name in config.suites if name != "all"}
    return named | set(config.declared_suites)


def _missing_paths(project: Path, suite: SuiteConfig) -> list[str]:
    if not suite.is_pytest:
        return []
    return [path for path in suite.paths if not (project / path.split("::", 1)[0]).exists()]  # file::test too


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
        # the project's fail_under gates the combined total of every suite (collect.collect_coverage), not
        # each suite alone: an e2e suite that covers little of the code must not fail on its own share
        args += ["--cov-fail-under=0"]
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
    if suite.selection:  # not DOORBELL_CI_SELECT: that is the `select` option's variable (select=affected)
        env["DOORBELL_CI_SELECTION_FILE"] = str(output / suite.selection)
    if suite.collected:
        env["DOORBELL_CI_COLLECTED"] = str(output / suite.collected)
    env.update(suite.config.env)
    return env
