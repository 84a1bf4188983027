"""Sharding: run one balanced share of the selected tests, so N CI machines split a suite.

Every shard job computes the same split on its own, from the same inputs: the node ids pytest
collects (through the run's environment, so Docker collects inside its container) and the
recorded durations. Tests are keyed ``suite::nodeid``; each lands in exactly one shard.

Policies, chosen by name like pytest-xdist's schedulers:

* ``durations``: longest-processing-time first; each test, slowest first, goes to the shard
  with the least total so far. Tests with no recorded duration count as the mean of the known.
* ``count``: equal numbers of tests (round robin in node-id order), when nothing is recorded.

A suite's selected ids reach pytest through a file read by ``selection_plugin`` (no argv limit).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from doorbell_ci import jsonsafe
from doorbell_ci.environments.base import Environment
from doorbell_ci.errors import ConfigError, ReportError
from doorbell_ci.execution import Console, run_command
from doorbell_ci.plan import Plan, PlannedSuite, SkippedSuite

COLLECT_TIMEOUT = 600.0


class Policy(Protocol):
    name: str

    def split(self, durations: Sequence[tuple[str, float]], shards: int) -> list[list[str]]: ...


class DurationPolicy:
    name = "durations"

    def split(self, durations: Sequence[tuple[str, float]], shards: int) -> list[list[str]]:
        buckets: list[list[str]] = [[] for _ in range(shards)]
        loads = [(0.0, index) for index in range(shards)]  # a heap: least loaded first, then lowest index
        for key, seconds in sorted(durations, key=lambda item: (-item[1], item[0])):
            load, index = heapq.heappop(loads)
            buckets[index].append(key)
            heapq.heappush(loads, (load + seconds, index))
        return buckets


class CountPolicy:
    name = "count"

    def split(self, durations: Sequence[tuple[str, float]], shards: int) -> list[list[str]]:
        keys = sorted(key for key, _ in durations)
        return [keys[index::shards] for index in range(shards)]


POLICIES: dict[str, Policy] = {"durations": DurationPolicy(), "count": CountPolicy()}


def estimate(keys: Sequence[str], recorded: Mapping[str, float]) -> list[tuple[str, float]]:
    """Each key with its recorded duration, or the mean of the recorded ones (1 s if none is)."""
    known = [recorded[key] for key in keys if key in recorded]
    fallback = sum(known) / len(known) if known else 1.0
    return [(key, recorded.get(key, fallback)) for key in keys]


def split(keys: Sequence[str], shards: int, recorded: Mapping[str, float]) -> tuple[str, list[list[str]]]:
    """The policy used and the keys of every shard (index 0 is shard 1/N)."""
    policy = POLICIES["durations" if any(key in recorded for key in keys) else "count"]
    return policy.name, policy.split(estimate(keys, recorded), shards)


def load_durations(path: Path) -> dict[str, float]:
    """Durations keyed ``suite::nodeid`` (from a report.json) or by bare node id (a durations file).

    A durations file is a JSON object ``{"tests/unit/test_a.py::test_x": 0.12, ...}`` (pytest-split's
    ``.test_durations`` format); a bare node id matches that test in whichever suite runs it.
    """
    from doorbell_ci.analysis.signatures import test_key
    from doorbell_ci.reports import json_report

    if path.is_dir() or _looks_like_report(path):
        try:
            run, _ = json_report.read(path)
        except ReportError as error:
            raise ConfigError(f"durations: {error}") from None
        return {test_key(test): test.duration for test in run.iter_tests()}
    try:
        document = jsonsafe.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"durations file {path} does not exist; pass a report.json or a JSON durations file"
                          ) from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:  # ValueError: bad JSON, NaN, 1e999
        raise ConfigError(f"durations file {path} is not readable JSON: {error}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"durations file {path} must be a JSON object {{node id: seconds}}")
    durations: dict[str, float] = {}
    for nodeid, seconds in document.items():
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < math.inf:
            raise ConfigError(f"durations file {path}: {nodeid!r} has {seconds!r}, expected seconds (a number >= 0)")
        durations[str(nodeid)] = float(seconds)
    return durations


def _looks_like_report(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return '"schema":"doorbell-ci/report"' in handle.read(200).replace(" ", "")
    except OSError:
        return False


def _recorded_for(keys: Sequence[str], durations: Mapping[str, float]) -> dict[str, float]:
    recorded: dict[str, float] = {}
    for key in keys:
        nodeid = key.split("::", 1)[1]
        if key in durations:
            recorded[key] = durations[key]
        elif nodeid in durations:
            recorded[key] = durations[nodeid]
    return recorded


@dataclass
class ShardSelection:
    plan: Plan
    info: dict[str, Any] | None = None  # stored as analysis.shard in report.json
    notices: list[str] = field(default_factory=list)


def select_shard(plan: Plan, environment: Environment, config: Any, console: Console) -> ShardSelection:
    """The plan restricted to shard K of N (``config.shard``); the plan itself when not sharding."""
    if config.shard is None:
        return ShardSelection(plan)
    index, total = config.shard
    notices: list[str] = []
    durations, source = _durations(config, notices)
    ids: dict[str, list[str]] = {}
    whole: list[PlannedSuite] = []  # suites that cannot be split: they run whole, in shard 1
    pytest_suites = [suite for suite in plan.suites if suite.config.is_pytest]
    with ThreadPoolExecutor(max_workers=max(1, plan.cores)) as pool:  # one small pytest per suite, side by side
        listed = dict(zip([s.name for s in pytest_suites],
                          pool.map(lambda s: _collect_ids(plan, environment, s, console), pytest_suites), strict=True))
    for suite in plan.suites:
        collected = listed.get(suite.name)
        if collected is None:
            whole.append(suite)
            if suite.config.is_pytest:
                notices.append(f"shard: could not list the tests of {suite.name} (see logs/{suite.name}-collect.log);"
                               " it runs whole in shard 1")
        else:
            ids[suite.name] = collected
    keys = [f"{name}::{nodeid}" for name, nodeids in ids.items() for nodeid in nodeids]
    recorded = _recorded_for(keys, durations)
    policy, buckets = split(keys, total, recorded)
    mine = set(buckets[index - 1])
    suites: list[PlannedSuite] = []
    absent = list(plan.absent)
    for suite in plan.suites:
        if suite in whole:
            if index == 1:
                suites.append(suite)
            else:
                absent.append(SkippedSuite(suite.name, f"runs whole in shard 1/{total}"))
            continue
        selected = [nodeid for nodeid in ids[suite.name] if f"{suite.name}::{nodeid}" in mine]
        if not selected:
            absent.append(SkippedSuite(suite.name, f"none of its tests is in shard {index}/{total}"))
            continue
        selection = f"logs/{suite.name}.shard.select"
        (plan.output_dir / selection).write_text("".join(n + "\n" for n in selected), encoding="utf-8")
        suites.append(replace(suite, selection=selection))
    seconds = dict(estimate(keys, recorded))
    info = {
        "index": index, "total": total, "strategy": policy, "tests": len(mine), "total_tests": len(keys),
        "estimated_seconds": round(sum(seconds[key] for key in mine), 3),
        "durations_source": source, "recorded": len(recorded),
        "whole_suites": [suite.name for suite in whole],
    }
    console.write(f"==> shard {index}/{total}: {len(mine)} of {len(keys)} tests, balanced by {policy}")
    return ShardSelection(replace(plan, suites=tuple(suites), absent=tuple(absent)), info, notices)


def _durations(config: Any, notices: list[str]) -> tuple[dict[str, float], str | None]:
    if config.durations is not None:
        return load_durations(Path(config.durations)), str(config.durations)
    previous = Path(config.output_dir) / "report.json"
    if previous.is_file():
        try:
            return load_durations(previous), str(previous)
        except ConfigError as error:
            notices.append(f"shard: the previous report gives no durations ({error}); splitting by count")
    return {}, None


def _collect_ids(plan: Plan, environment: Environment, suite: PlannedSuite, console: Console) -> list[str] | None:
    """The node ids of ``suite`` (after its markers), from ``pytest --collect-only`` in the environment."""
    name = f"{suite.name}-collect"
    args = (*suite.config.pytest_args, "--collect-only", "-q")
    probe = replace(suite, name=name, workers=1, coverage=False, collected=f"logs/{name}.ids",
                    config=replace(suite.config, pytest_args=args))
    target = plan.output_dir / probe.collected
    target.unlink(missing_ok=True)
    execution = run_command(name, environment.command(probe), min(suite.timeout, COLLECT_TIMEOUT),
                            plan.output_dir / probe.log_name)
    environment.collect(probe)
    if execution.exit_code not in (0, 5) or not target.is_file():
        return None
    from doorbell_ci.selection_plugin import read_ids  # imports pytest: only paid for when sharding

    return read_ids(target)
