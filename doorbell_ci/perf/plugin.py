"""The pytest plugin (entry point ``pytest11: doorbell_ci.perf.plugin``): the ``perf`` fixture and the samples file.

Registered for every pytest run where doorbell-ci is installed, so it must cost nothing when unused:
no fixture requested, no file written. The fixture is called ``perf`` rather than ``benchmark`` so it
lives side by side with pytest-benchmark's; a project already using pytest-benchmark gets its JSON
written next to ours (``<suite>.pytest-benchmark.json``) and compared the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from doorbell_ci.perf.measure import (
    DEFAULT_MIN_SAMPLE_TIME,
    MIN_TIME_ENV,
    OUTPUT_ENV,
    PYTEST_BENCHMARK_SUFFIX,
    SAMPLES_ENV,
    Benchmark,
    BenchmarkRecord,
    env_float,
    env_int,
    write_samples,
)

_RECORDS = pytest.StashKey[dict[str, BenchmarkRecord]]()
_BENCHMARK_JSON = pytest.StashKey[Path]()
_CALL_PASSED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("doorbell-ci perf")
    group.addoption("--perf-output", metavar="PATH", default=None,
                    help=f"write the perf fixture's raw samples here (default: ${OUTPUT_ENV}, else nowhere)")
    group.addoption("--perf-samples", metavar="N", type=int, default=None,
                    help=f"samples per benchmark (default: ${SAMPLES_ENV} or 20)")


def _output_path(config: pytest.Config) -> Path | None:
    raw = config.getoption("perf_output") or os.environ.get(OUTPUT_ENV)
    if not raw:
        return None
    path = Path(raw)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # several processes of one suite: one file each, the collector reads them all
        path = path.with_name(f"{path.stem}.{worker}{path.suffix}")
    return path


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RECORDS] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """When tests use pytest-benchmark's fixture, have it write its JSON (raw data included) next to ours."""
    output = _output_path(config)
    session = getattr(config, "_benchmarksession", None)  # pytest-benchmark's session object, if loaded
    if output is None or session is None or getattr(session, "json", None) is not None:
        return
    if getattr(session, "disabled", False) or not any("benchmark" in getattr(i, "fixturenames", ()) for i in items):
        return
    target = output.with_name(f"{output.stem}{PYTEST_BENCHMARK_SUFFIX}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if _benchmark_json_takes_path():
        session.json = target
    else:
        session.json = open(target, "wb")  # noqa: SIM115 - pytest-benchmark writes and closes it at session end
    config.stash[_BENCHMARK_JSON] = target


def _benchmark_json_takes_path() -> bool:
    """pytest-benchmark 5.3 made --benchmark-json a path; earlier versions hand over an open file."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        parts = version("pytest-benchmark").split(".")
        return (int(parts[0]), int(parts[1])) >= (5, 3)
    except (PackageNotFoundError, ValueError, IndexError):
        return False


@pytest.fixture
def perf(request: pytest.FixtureRequest) -> Iterator[Benchmark]:
    """Time a callable: ``result = perf(process_frame, frame)``; see docs/PERFORMANCE_REGRESSION.md.

    With ``--perf-metric instructions`` the test is run once more under Valgrind after it passed
    here (teardown), and the counts join the timings.
    """
    samples = request.config.getoption("perf_samples") or env_int(SAMPLES_ENV, 20)
    bench = Benchmark(request.node.nodeid, request.config.stash[_RECORDS], samples=samples,
                      min_sample_time=env_float(MIN_TIME_ENV, DEFAULT_MIN_SAMPLE_TIME),
                      rootdir=request.config.rootpath)
    yield bench
    if request.node.stash.get(_CALL_PASSED, False):  # a failed test is not run again to be counted
        bench.count_instructions()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if call.when == "call":
        item.stash[_CALL_PASSED] = report.passed
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    records = [r for r in config.stash.get(_RECORDS, {}).values()
               if r.wall or r.peak_memory or r.metrics or r.instructions]
    output = _output_path(config)
    if records and output is not None:
        suite = os.environ.get("DOORBELL_CI_SUITE", "performance")
        write_samples(output, suite, records)
    benchmark_json = config.stash.get(_BENCHMARK_JSON, None)
    if benchmark_json is not None and benchmark_json.exists() and benchmark_json.stat().st_size == 0:
        benchmark_json.unlink()  # pytest-benchmark had nothing to write
