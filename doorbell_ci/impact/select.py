"""Which collected tests a change can break: a pure function of the map, the changes and the run.

A test is selected, first matching reason wins, when:

* ``new_test_file`` / ``modified_test_file``: it lives in a test file that is new or changed;
* ``no_map_entry``: the map has no lines for it (a new test, a suite recorded without coverage);
* ``changed_code``: lines it executed meet a changed block (a function, or a whole file), or its
  test file imports, directly or not, a module changed at module level (``imports.py``: import-time
  code runs under no test); a changed function that ran at import time counts as module level;
* ``recent_failure``: it failed or was flaky in the recent runs of history.json.

A changed Python file whose old and new text are the same code (comments, blank lines,
formatting: ``changes.compare_code``) selects nothing and cannot make everything run, unless it
matches ``impact_full_run``, or unless it holds collected items itself: a test file, or a module
with doctest or lint items (pytest-flake8, pytest-mypy read the text, not the code), whose own
tests still run. ``no_code_change`` says so, one line per file, with the reasons.

A module whose only change at module level is the value of constants (``NAME = <no call>``,
``changes.compare_code``) is not counted as changed at module level: the tests that ran a function
of it reading NAME (its body is a block), and the test files whose own text or import closure
mentions NAME (``mentions_of``, ``imports.mentioning``), are selected instead of every importer.
``constants`` says so, one line per file.

Everything runs instead (``full_run_reason``) when a change is one coverage cannot see: a
``conftest.py``; a non-Python file not in the ignore list (configuration, data, fixtures,
dependency pins, pyproject.toml, the doorbell-ci config); a Python file that is not a test file
and that no recorded test or import ever executed (setup.py, a Django migration, a plugin found
by name); a file outside the project folder; anything matching ``impact_full_run``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from doorbell_ci.impact.changes import WHOLE_FILE, ChangedFile, Changes
from doorbell_ci.impact.impactmap import ImpactMap

DEFAULT_IGNORE = ("*.md", "*.rst", "docs/**", "LICENSE*")
# what Python and the test tools leave in a checkout that does not ignore it in .gitignore: not a change
GENERATED = ("*.pyc", "*.pyo", "__pycache__/*", "*/__pycache__/*", ".pytest_cache/*", "*.egg-info/*",
             ".coverage", ".coverage.*", "*/.coverage", "*/.coverage.*")
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
    no_code_change: list[str] = field(default_factory=list)  # "src/x.py: comments/formatting only", per file
    constants: list[str] = field(default_factory=list)  # "src/x.py: __version__", a constant-only module change

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
                  settings: SelectSettings, unlisted: Sequence[str] = ()) -> str | None:
    """Why this change is one coverage cannot see (so everything runs), or None.

    ``unlisted``: suites whose tests could not be listed (a collection error): an unmeasured file
    may be one of their test files, so the collection error is the reason, not the file.
    """
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
    if unlisted:
        logs = ", ".join(f"logs/{suite}-collect.log" for suite in unlisted)
        return (f"the tests of {', '.join(unlisted)} could not be listed (a collection error? see {logs}), so "
                f"{path} ({changed.kind}) cannot be told from one of their test files; every test runs")
    return f"{path} {changed.kind}, a Python file the map never measured and not a test file"


def import_time_lines(impact: ImpactMap) -> dict[str, list[tuple[int, int]]]:
    """Lines run outside any test (the ``suite::`` keys: imports during collection), per file."""
    lines: dict[str, list[tuple[int, int]]] = {}
    for key, per_file in impact.tests.items():
        if key.endswith("::"):
            for path, ranges in per_file.items():
                lines.setdefault(path, []).extend(ranges)
    return {path: sorted(ranges) for path, ranges in lines.items()}


def select_tests(impact: ImpactMap, changes: Changes, collected: Mapping[str, list[str]],
                 recent_failures: set[str], settings: SelectSettings,
                 importers_of: Callable[[set[str]], set[str]] | None = None,
                 unlisted: Sequence[str] = (),
                 mentions_of: Callable[[dict[str, set[str]]], set[str]] | None = None) -> Selection:
    """The tests to run for ``changes`` (see the module docstring); ``collected`` is suite -> node ids.

    ``unlisted`` names the suites whose tests could not be listed (they run whole, outside ``collected``).

    ``importers_of`` maps changed module paths to the test files that import them (``imports.py``);
    without it, a module-level change reaches only the tests that executed a line of the file.
    ``mentions_of`` maps {module path: changed constant names} to the test files that may read them
    (``imports.mentioning``); without it, a constant change counts as a module-level change.
    """
    test_files = {test_file_of(nodeid) for ids in collected.values() for nodeid in ids}
    ignore = DEFAULT_IGNORE + GENERATED + tuple(settings.ignore)
    relevant: list[ChangedFile] = []
    ignored: list[str] = []
    no_code_change: list[str] = []
    for changed in changes.files:
        if matches(changed.path, ignore) and not matches(changed.path, settings.full_run):
            ignored.append(changed.path)
            continue
        own_items = changed.path in test_files  # a test file, or a module with doctest or lint items
        if changed.note:
            tail = "; its own tests still run (they may read its text)" if changed.same_code and own_items else ""
            no_code_change.append(f"{changed.path}: {changed.note}{tail}")
        if changed.same_code and not own_items and not matches(changed.path, settings.full_run):
            continue  # the same code: no test, not even a conftest.py's, can tell
        reason = unseen_change(changed, impact, test_files, settings, unlisted)
        if reason:
            selection = full_run(collected, reason)
            selection.ignored, selection.no_code_change = ignored, no_code_change
            return selection
        relevant.append(changed)
    by_path = {changed.path: changed for changed in relevant}
    at_import = import_time_lines(impact)
    for changed in relevant:
        if changed.path.endswith(".py") and changed.blocks and not changed.whole \
                and _overlap(_merged(at_import.get(changed.path, [])), changed.blocks):
            changed.blocks, changed.why_whole = WHOLE_FILE, "a changed function ran at import time"
    constants: dict[str, set[str]] = {}
    for changed in relevant:
        if not changed.names or changed.whole or changed.path not in impact.files:
            continue
        if mentions_of is None or changed.path in test_files:  # its own doctest or lint items may read them
            changed.blocks = WHOLE_FILE
            changed.why_whole = "a module-level constant changed" + (
                " in a file with its own tests" if mentions_of is not None else "")
            continue
        constants[changed.path] = set(changed.names)
    code = {changed.path: changed.blocks for changed in relevant if changed.blocks}
    module_level = {changed.path for changed in relevant if changed.path.endswith(".py") and not changed.same_code
                    and (changed.whole or changed.path not in impact.files)}
    importing = importers_of(module_level) if importers_of and module_level else set()
    if constants and mentions_of is not None:
        importing |= mentions_of(constants)
    selected: dict[str, list[str]] = {}
    reasons: dict[str, str] = {}
    deselected: list[str] = []
    for suite, ids in collected.items():
        chosen = []
        for nodeid in ids:
            key = f"{suite}::{nodeid}"
            reason = _reason(key, test_file_of(nodeid), impact, by_path, code, recent_failures, importing)
            if reason:
                reasons[key] = reason
                chosen.append(nodeid)
            else:
                deselected.append(key)
        selected[suite] = chosen
    return Selection(selected=selected, total=sum(len(ids) for ids in collected.values()), reasons=reasons,
                     deselected=deselected, ignored=ignored, no_code_change=no_code_change,
                     constants=[f"{path}: {', '.join(sorted(names))}" for path, names in sorted(constants.items())])


def _reason(key: str, test_file: str, impact: ImpactMap, by_path: Mapping[str, ChangedFile],
            code: Mapping[str, tuple[tuple[int, int], ...]], recent_failures: set[str],
            importing: set[str]) -> str | None:
    own = by_path.get(test_file)
    if own is not None:
        return "new_test_file" if own.kind == "added" else "modified_test_file"
    lines = impact.tests.get(key)
    if lines is None:
        return "no_map_entry"
    if test_file in importing:
        return "changed_code"
    for path, ranges in lines.items():
        blocks = code.get(path)
        if blocks and _overlap(ranges, blocks):
            return "changed_code"
    if key in recent_failures:
        return "recent_failure"
    return None


def _merged(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[list[int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return tuple((a, b) for a, b in merged)


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
