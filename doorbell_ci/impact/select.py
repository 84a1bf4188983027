"""Which collected tests a change can break: a pure function of the map, the changes and the run.

A test is selected, first matching reason wins, when:

* ``new_test_file`` / ``modified_test_file``: it lives in a test file that is new or changed;
* ``no_map_entry``: the map has no lines for it (a new test, a suite recorded without coverage);
* ``changed_code``: lines it executed meet a changed block (a function, or a whole file);
* ``recent_failure``: it failed or was flaky in the recent runs of history.json.

Everything runs instead (``full_run_reason``) when a change is one coverage cannot see: a
``conftest.py``; a non-Python file not in the ignore list (configuration, data, fixtures,
dependency pins, pyproject.toml, the doorbell-ci config); a Python file that is not a test file
and that no recorded test or import ever executed (setup.py, a Django migration, a plugin found
by name); a file outside the project folder; anything matching ``impact_full_run``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from doorbell_ci.impact.changes import ChangedFile, Changes
from doorbell_ci.impact.impactmap import ImpactMap

DEFAULT_IGNORE = ("*.md", "*.rst", "docs/**", "LICENSE*")
REASONS = ("changed_code", "new_test_file", "modified_test_file", "no_map_entry", "recent_failure")


@dataclass(frozen=True)
class SelectSettings:
    full_run: tuple[str, ...] = ()  # fnmatch patterns, project-relative: a change there runs everything
    ignore: tuple[str, ...] = ()  # fnmatch patterns: changes there select nothing (on top of DEFAULT_IGNORE)


@dataclass
class Selection:
    selected: dict[str, list[str]]  # suite -> node ids to run, in collected order
    total: int
    full_run_reason: str | None = None
    reasons: dict[str, str] = field(default_factory=dict)  # "suite::nodeid" -> the first reason it was selected
    deselected: list[str] = field(default_factory=list)  # "suite::nodeid"
    ignored: list[str] = field(default_factory=list)  # changed paths that select nothing (docs)

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.selected.values())

    def reason_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(REASONS, 0)
        for reason in self.reasons.values():
            counts[reason] = counts.get(reason, 0) + 1
        return counts


def matches(path: str, patterns: Iterable[str]) -> bool:
    """fnmatch of a project-relative path; ``dir/**`` also matches everything under ``dir``."""
    for pattern in patterns:
        if fnmatch.fnmatchcase(path, pattern):
            return True
        if pattern.endswith("/**") and path.startswith(pattern[:-2]):
            return True
    return False


def test_file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


test_file_of.__test__ = False  # type: ignore[attr-defined] - a name pytest would otherwise collect


def full_run(collected: Mapping[str, list[str]], reason: str) -> Selection:
    return Selection(selected={suite: list(ids) for suite, ids in collected.items()},
                     total=sum(len(ids) for ids in collected.values()), full_run_reason=reason)


def unseen_change(changed: ChangedFile, impact: ImpactMap, test_files: set[str],
                  settings: SelectSettings) -> str | None:
    """Why this change is one coverage cannot see (so everything runs), or None."""
    path = changed.path
    if matches(path, settings.full_run):
        return f"{path} changed (impact_full_run)"
    if path.startswith("../"):
        return f"{path[:200]} changed, outside the project folder"
    name = path.rsplit("/", 1)[-1]
    if name == "conftest.py":
        return f"{path} changed (conftest.py: fixtures and hooks reach tests that coverage cannot tie to it)"
    if not path.endswith(".py"):
        return f"{path} changed (not Python code: configuration, data or pins that coverage cannot see)"
    if path in test_files or path in impact.files:
        return None
    return f"{path} {changed.kind}, a Python file the map never measured and not a test file"


def select_tests(impact: ImpactMap, changes: Changes, collected: Mapping[str, list[str]],
                 recent_failures: set[str], settings: SelectSettings) -> Selection:
    """The tests to run for ``changes`` (see the module docstring); ``collected`` is suite -> node ids."""
    test_files = {test_file_of(nodeid) for ids in collected.values() for nodeid in ids}
    ignore = DEFAULT_IGNORE + tuple(settings.ignore)
    relevant: list[ChangedFile] = []
    ignored: list[str] = []
    for changed in changes.files:
        if matches(changed.path, ignore) and not matches(changed.path, settings.full_run):
            ignored.append(changed.path)
            continue
        reason = unseen_change(changed, impact, test_files, settings)
        if reason:
            selection = full_run(collected, reason)
            selection.ignored = ignored
            return selection
        relevant.append(changed)
    by_path = {changed.path: changed for changed in relevant}
    code = {changed.path: changed.blocks for changed in relevant if changed.blocks}
    selected: dict[str, list[str]] = {}
    reasons: dict[str, str] = {}
    deselected: list[str] = []
    for suite, ids in collected.items():
        chosen = []
        for nodeid in ids:
            key = f"{suite}::{nodeid}"
            reason = _reason(key, test_file_of(nodeid), impact, by_path, code, recent_failures)
            if reason:
                reasons[key] = reason
                chosen.append(nodeid)
            else:
                deselected.append(key)
        selected[suite] = chosen
    return Selection(selected=selected, total=sum(len(ids) for ids in collected.values()), reasons=reasons,
                     deselected=deselected, ignored=ignored)


def _reason(key: str, test_file: str, impact: ImpactMap, by_path: Mapping[str, ChangedFile],
            code: Mapping[str, tuple[tuple[int, int], ...]], recent_failures: set[str]) -> str | None:
    own = by_path.get(test_file)
    if own is not None:
        return "new_test_file" if own.kind == "added" else "modified_test_file"
    lines = impact.tests.get(key)
    if lines is None:
        return "no_map_entry"
    for path, ranges in lines.items():
        blocks = code.get(path)
        if blocks and _overlap(ranges, blocks):
            return "changed_code"
    if key in recent_failures:
        return "recent_failure"
    return None


def _overlap(ranges: tuple[tuple[int, int], ...], blocks: tuple[tuple[int, int], ...]) -> bool:
    """Two sorted range lists share a line (a merge walk; both are short)."""
    i = j = 0
    while i < len(ranges) and j < len(blocks):
        a, b = ranges[i]
        c, d = blocks[j]
        if a <= d and c <= b:
            return True
        if b < d:
            i += 1
        else:
            j += 1
    return False
