"""Baseline files: one per platform key, versioned, written atomically, never silently replaced.

A baseline file (``baselines/<key>.json`` in the project, and inside each baseline artifact)::

    {
      "format": "doorbell-ci-baseline",
      "version": 1,
      "key": "linux-x86_64-py3.11-intel-r-xeon-r-...-ubuntu-latest",
      "platform": {"os": "linux", "arch": "x86_64", "python": "3.11", "cpu": "...", "runner_label": "..."},
      "updated_at": "2026-11-25T10:00:00+00:00",
      "latest": {"commit": "abc123", "time": "...", "run_id": "...",
                 "benchmarks": {"<id>": {"wall": [...], "cpu": [...], "peak_memory": [...], "metrics": {...}}}},
      "history": [{"commit": "...", "time": "...", "run_id": "...", "throttled": false,
                   "medians": {"<id>": seconds}, "peak_memory": {"<id>": bytes}}, ...]
    }

``history`` is oldest first and keeps the last 64 default-branch runs, so one artifact carries the
whole baseline even after older artifacts expire. Reading refuses anything it does not understand
(bad JSON, another format, a newer version, missing fields, another platform's key) with a reason;
the compare stage reports the reason and treats the baseline as absent, and ``update`` will not write
over such a file unless told to move it aside.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from doorbell_ci import atomic, jsonsafe
from doorbell_ci.errors import PerfError

FORMAT = "doorbell-ci-baseline"
VERSION = 1
KEY_FIELDS = ("os", "arch", "python", "cpu", "runner_label")
# default-branch runs kept in a baseline's history (and read by history mode). Declared here, not in
# perf.stats: this module is imported on every run (history.json names the platform by its key), and
# perf.stats imports numpy and scipy (0.6 s of CPU on a quiet machine, several seconds under load)
MAX_HISTORY = 64


@dataclass(frozen=True)
class PlatformKey:
    """What must match for two measurements to be compared at all."""

    os: str
    arch: str
    python: str  # major.minor
    cpu: str  # Raspberry Pi model when on a Pi, else the CPU model
    runner_label: str

    @property
    def slug(self) -> str:
        """A file name: lower case letters, digits and dashes, the parts in key order."""
        parts = [self.os, self.arch, f"py{self.python}", self.cpu, self.runner_label]
        text = "-".join(re.sub(r"[^a-z0-9.]+", "-", part.lower()).strip("-.") for part in parts if part)
        text = re.sub(r"-*\.{2,}-*", "-", text)  # never "..": the slug is a file name, not a path
        return re.sub(r"-{2,}", "-", text).strip("-.")[:180] or "unknown"

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in KEY_FIELDS}

    def describe(self) -> str:
        return ", ".join(f"{name} {value or '(none)'}" for name, value in self.as_dict().items())


def platform_key(facts: dict[str, Any]) -> PlatformKey:
    """The key of a run from ``platforms.describe()``; fields a platform does not report count as empty."""
    python = str(facts.get("python") or "")
    minor = ".".join(python.split(".")[:2])
    cpu = str(facts.get("pi_model") or facts.get("cpu_model") or "")
    return PlatformKey(
        os=str(facts.get("os") or ""),
        arch=str(facts.get("arch") or ""),
        python=minor,
        cpu=cpu,
        runner_label=str(facts.get("runner_label") or ""),
    )


def not_comparable_reason(facts: dict[str, Any]) -> str | None:
    """Why this run's timings must not be compared with anything (a throttled Pi), or None."""
    if facts.get("throttled") is True:
        flags = ", ".join(facts.get("throttle_flags") or []) or "throttled"
        return f"the machine throttled during the run ({flags}); timings are not comparable"
    return None


@dataclass
class HistoryEntry:
    commit: str
    time: str
    run_id: str
    medians: dict[str, float]
    peak_memory: dict[str, float] = field(default_factory=dict)
    throttled: bool = False
    cpu_medians: dict[str, float] = field(default_factory=dict)
    instruction_medians: dict[str, float] = field(default_factory=dict)  # instructions per call

    def values(self, metric: str) -> dict[str, float]:
        """Job medians of the compared metric: ``wall`` or ``cpu`` seconds, or instructions, per call.

        Each metric has its own table, so a history of timings is never compared with counts (a
        baseline without counts is "no baseline" for ``--perf-metric instructions``).
        """
        if metric == "instructions":
            return self.instruction_medians
        return self.cpu_medians if metric == "cpu" else self.medians


@dataclass
class Baseline:
    key: PlatformKey
    updated_at: str
    latest: dict[str, Any]  # commit, time, run_id, benchmarks: {id: {wall, cpu, peak_memory, metrics}}
    history: list[HistoryEntry]
    path: Path | None = None

    def latest_samples(self, name: str, metric: str = "wall") -> list[float]:
        return list(self.latest.get("benchmarks", {}).get(name, {}).get(metric, []))


@dataclass
class Lookup:
    """The outcome of looking for this platform's baseline: a baseline, or why there is none."""

    baseline: Baseline | None
    reason: str  # "" when found
    problems: list[str] = field(default_factory=list)  # unreadable files seen on the way (reported as notices)


def read(path: Path) -> Baseline:
    """Read and check one baseline file; anything off is a PerfError saying what and where.

    Exception contract (fuzzed by tests/security/test_fuzz_baselines.py and tests/security/fuzz/):
    whatever the file holds, only :class:`PerfError` escapes. A baseline that reads has only
    finite, non-negative numbers wherever the compare stage and ``show`` compute with them
    (``wall``, ``cpu``, ``peak_memory`` samples, history medians), so they cannot fail later.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PerfError(f"{path}: cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise PerfError(f"{path}: not UTF-8 text, so not a baseline file") from None
    try:
        document = jsonsafe.loads(text)
    except json.JSONDecodeError as error:
        raise PerfError(f"{path}: not valid JSON (line {error.lineno}: {error.msg})") from None
    except (ValueError, RecursionError) as error:  # an integer of 4,300+ digits; arrays nested ~1,000 deep
        raise PerfError(f"{path}: not usable JSON ({error})") from None
    return from_document(document, path)


def from_document(document: Any, path: Path) -> Baseline:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise PerfError(f"{path}: not a doorbell-ci baseline (no \"format\": \"{FORMAT}\")")
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise PerfError(f"{path}: missing field 'version'")
    if version > VERSION:
        raise PerfError(f"{path}: baseline format version {version} is newer than this doorbell-ci understands "
                        f"({VERSION}); upgrade doorbell-ci")
    if version < 1:
        raise PerfError(f"{path}: unknown baseline format version {version}")
    for name in ("platform", "latest", "history", "updated_at"):
        if name not in document:
            raise PerfError(f"{path}: missing field {name!r}")
    platform = document["platform"]
    if not isinstance(platform, dict) or not all(isinstance(platform.get(k, ""), str) for k in KEY_FIELDS):
        raise PerfError(f"{path}: field 'platform' must hold the strings {', '.join(KEY_FIELDS)}")
    key = PlatformKey(**{name: platform.get(name, "") for name in KEY_FIELDS})
    latest = document["latest"]
    if not isinstance(latest, dict) or not isinstance(latest.get("benchmarks", {}), dict):
        raise PerfError(f"{path}: field 'latest' must be a table with 'benchmarks'")
    for name, entry in latest.get("benchmarks", {}).items():
        if not isinstance(entry, dict) or not _numbers(entry.get("wall", [])):
            raise PerfError(f"{path}: latest benchmark {name!r} has no list of numbers 'wall'")
        for metric in ("cpu", "peak_memory", "instructions", "instruction_processes"):
            if not _numbers(entry.get(metric, [])):
                raise PerfError(f"{path}: latest benchmark {name!r}: {metric!r} must be a list of numbers")
    if not isinstance(document["history"], list):
        raise PerfError(f"{path}: field 'history' must be a list")
    history = [_history_entry(raw, path, index) for index, raw in enumerate(document["history"])]
    return Baseline(key=key, updated_at=str(document["updated_at"]), latest=latest, history=history, path=path)


def _numbers(values: Any) -> bool:
    return isinstance(values, list) and all(_finite_non_negative(v) for v in values)


def _finite_non_negative(value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value) and value >= 0
    except OverflowError:  # an integer too large for a float
        return False


def _history_entry(raw: Any, path: Path, index: int) -> HistoryEntry:
    where = f"{path}: history entry {index}"
    if not isinstance(raw, dict):
        raise PerfError(f"{where} is not a table")
    medians = raw.get("medians")
    if not isinstance(medians, dict) or not _numbers(list(medians.values())):
        raise PerfError(f"{where}: missing field 'medians' (benchmark -> seconds)")
    cpu_medians = raw.get("cpu_medians", {}) or {}
    if not isinstance(cpu_medians, dict) or not _numbers(list(cpu_medians.values())):
        raise PerfError(f"{where}: 'cpu_medians' must map benchmarks to seconds")
    counts = raw.get("instruction_medians", {}) or {}
    if not isinstance(counts, dict) or not _numbers(list(counts.values())):
        raise PerfError(f"{where}: 'instruction_medians' must map benchmarks to instructions per call")
    peak = raw.get("peak_memory", {}) or {}
    if not isinstance(peak, dict) or not _numbers(list(peak.values())):
        raise PerfError(f"{where}: 'peak_memory' must map benchmarks to bytes")
    return HistoryEntry(commit=str(raw.get("commit", "")), time=str(raw.get("time", "")),
                        run_id=str(raw.get("run_id", "")), medians={k: float(v) for k, v in medians.items()},
                        peak_memory={k: float(v) for k, v in peak.items()}, throttled=bool(raw.get("throttled")),
                        cpu_medians={k: float(v) for k, v in cpu_medians.items()},
                        instruction_medians={k: float(v) for k, v in counts.items()})


def to_document(baseline: Baseline) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "key": baseline.key.slug,
        "platform": baseline.key.as_dict(),
        "updated_at": baseline.updated_at,
        "latest": baseline.latest,
        "history": [
            {"commit": e.commit, "time": e.time, "run_id": e.run_id, "throttled": e.throttled,
             "medians": e.medians, "cpu_medians": e.cpu_medians, "peak_memory": e.peak_memory,
             **({"instruction_medians": e.instruction_medians} if e.instruction_medians else {})}
            for e in baseline.history
        ],
    }


def path_for(directory: Path, key: PlatformKey) -> Path:
    return directory / f"{key.slug}.json"


def find(directory: Path, key: PlatformKey) -> Lookup:
    """This platform's baseline in ``directory``, or the reason there is none (never an exception)."""
    if not directory.is_dir():
        return Lookup(None, f"no baseline folder {directory}")
    path = path_for(directory, key)
    problems: list[str] = []
    others: list[str] = []
    for candidate in sorted(directory.glob("*.json")):
        if candidate == path:
            continue
        try:
            others.append(read(candidate).key.describe())
        except PerfError as error:
            problems.append(f"{error}; ignored")
    if not path.exists():
        why = f"no baseline for this platform ({key.describe()})"
        if others:
            why += f"; {len(others)} baseline(s) for other platforms exist and are never compared across platforms"
        return Lookup(None, why, problems)
    try:
        baseline = read(path)
    except PerfError as error:
        problems.append(f"{error}; treated as absent")
        return Lookup(None, f"the baseline file is unusable: {error}", problems)
    if baseline.key != key:
        why = f"{path} holds another platform's key ({baseline.key.describe()}), not this one ({key.describe()})"
        problems.append(why + "; treated as absent")
        return Lookup(None, why, problems)
    return Lookup(baseline, "", problems)


def write_atomic(path: Path, document: dict[str, Any]) -> None:
    """Write to a temp file in the same folder, then rename: readers see the old file or the new one."""
    try:
        text = jsonsafe.dumps(document, indent=1, sort_keys=False)
    except ValueError:  # NaN or Infinity: read() would refuse the file, silently switching the gate off
        raise PerfError(f"{path}: not written: the baseline would hold a non-finite number (NaN or Infinity)") from None
    with atomic.replacing(path) as stream:
        stream.write(text + "\n")


def update(directory: Path, key: PlatformKey, benchmarks: dict[str, dict[str, Any]], commit: str, run_id: str,
           throttled: bool = False, replace_unreadable: bool = False, now: str | None = None) -> Path:
    """Add one run to this platform's baseline (creating it), keeping the last 64 runs of history.

    ``benchmarks`` maps ids to ``{"wall": [...], "cpu": [...], "peak_memory": [...], "metrics": {...}}``.
    An existing file that cannot be read is never written over: that raises PerfError, unless
    ``replace_unreadable``, which first renames it to ``<name>.unreadable-<time>``.
    """
    now = now or datetime.now(UTC).isoformat(timespec="seconds")
    path = path_for(directory, key)
    history: list[HistoryEntry] = []
    if path.exists():
        try:
            existing = read(path)
        except PerfError as error:
            if not replace_unreadable:
                raise PerfError(f"{error}; not overwriting it. Fix or remove it, or pass --replace-unreadable "
                                "to move it aside") from None
            stamp = re.sub(r"[^0-9]", "", now)[:14]
            path.rename(path.with_name(f"{path.name}.unreadable-{stamp}"))
        else:
            if existing.key != key:
                raise PerfError(f"{path} holds another platform's key ({existing.key.describe()}); not overwriting it")
            history = existing.history
    medians = {name: statistics.median(entry["wall"]) for name, entry in benchmarks.items() if entry.get("wall")}
    cpu_medians = {name: statistics.median(entry["cpu"]) for name, entry in benchmarks.items() if entry.get("cpu")}
    # one figure per process when known (the unit of the instruction test), else the per-call figures
    counts = {name: statistics.median(entry.get("instruction_processes") or entry["instructions"])
              for name, entry in benchmarks.items() if entry.get("instructions")}
    peaks = {name: float(statistics.median(entry["peak_memory"]))
             for name, entry in benchmarks.items() if entry.get("peak_memory")}
    if not throttled:  # a throttled run's numbers describe the heat, not the code
        history.append(HistoryEntry(commit=commit, time=now, run_id=run_id, medians=medians, peak_memory=peaks,
                                    cpu_medians=cpu_medians, instruction_medians=counts))
    baseline = Baseline(key=key, updated_at=now,
                        latest={"commit": commit, "time": now, "run_id": run_id, "benchmarks": benchmarks},
                        history=history[-MAX_HISTORY:])
    write_atomic(path, to_document(baseline))
    return path


def show(directory: Path) -> list[str]:
    """Lines describing every baseline file in ``directory`` (unreadable ones say why)."""
    if not directory.is_dir():
        raise PerfError(f"no baseline folder {directory}; create one with `doorbell-ci baseline update RESULTS_DIR`")
    lines: list[str] = []
    for path in sorted(directory.glob("*.json")):
        try:
            baseline = read(path)
        except PerfError as error:
            lines.append(f"{path.name}: UNREADABLE: {error}")
            continue
        benchmarks = baseline.latest.get("benchmarks", {})
        lines.append(f"{path.name}: {baseline.key.describe()}")
        lines.append(f"  updated {baseline.updated_at}, commit {baseline.latest.get('commit') or '?'}, "
                     f"{len(baseline.history)} run(s) of history, {len(benchmarks)} benchmark(s)")
        for name, entry in sorted(benchmarks.items()):
            wall, peaks = entry.get("wall", []), entry.get("peak_memory", [])
            if wall:
                lines.append(f"    {name}: median {statistics.median(wall) * 1000:.3f} ms over {len(wall)} samples")
            if entry.get("instructions"):
                lines.append(f"    {name}: {statistics.median(entry['instructions']):,.0f} instructions per call")
            if peaks:
                peak = statistics.median(peaks) / 2**20
                lines.append(f"    {name}: peak memory {peak:.1f} MiB over {len(peaks)} runs")
    if not lines:
        lines.append(f"{directory}: no baseline files")
    return lines
