"""Recording: which lines each test executed, from ``plugin.py``'s per-test lines or coverage's contexts.

The suites run with ``plugin.py``, which writes each test's lines to ``.lines`` files (one per
xdist worker) or, when it cannot read coverage's in-memory data, names coverage's dynamic context
after the running test (``tests/test_x.py::test_a``; pytest-cov's ``--cov-context=test`` adds
``|setup``, ``|run``, ``|teardown``, which are dropped when a project uses it). Both name the same
contexts, so both give the same map: a function-scoped fixture's lines
belong to the test that set it up. A
shared fixture (module scope and wider) runs once for many tests, so ``plugin`` records
its lines under a context of its own and lists the tests that use it; each of them gets them.
pytest-cov combines the data of xdist workers into the suite's own file (``COVERAGE_FILE`` is per
suite), and the Docker environment mounts the project at its own path, so every measured path is
a host path and is made project-relative here.

Lines run outside any test (imports during collection, the empty context) tie to no test; they
are kept under the key ``suite::`` (an empty node id): a changed function that ran at import
time (``TABLE = build_table()``) changes what every importer sees. Their files count as measured
(``files``), which is what tells a changed module the map knows from one it never saw.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from doorbell_ci.impact import CONTEXT_PREFIX
from doorbell_ci.impact.changes import sha1_of
from doorbell_ci.impact.impactmap import ImpactMap, to_ranges

PHASES = ("|run", "|setup", "|teardown")


@dataclass
class Recording:
    """What the suites' coverage data say, before it becomes a map."""

    lines: dict[str, dict[str, set[int]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(set)))
    measured: set[str] = field(default_factory=set)  # project-relative paths measured in any context
    # "suite::fixture id" -> path -> lines of a shared fixture's setup; "suite::nodeid" -> its shared fixtures
    fixture_lines: dict[str, dict[str, set[int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set)))
    uses: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    uses_unknown: set[str] = field(default_factory=set)  # suites whose fixture lists are missing
    spawned: set[str] = field(default_factory=set)  # "suite::nodeid" of tests that started a process
    spawned_fixtures: set[str] = field(default_factory=set)  # "suite::fixture id" of shared fixtures that did
    suites: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def test_of(context: str) -> str | None:
    """``tests/a.py::test_x|run`` -> ``tests/a.py::test_x``; "" for the empty (outside any test) context.

    None for a shared fixture's context (see ``plugin``).
    """
    if context.startswith(CONTEXT_PREFIX):
        return None
    for phase in PHASES:
        if context.endswith(phase):
            return context[: -len(phase)]
    return context


test_of.__test__ = False  # type: ignore[attr-defined] - a name pytest would otherwise collect


def project_path(measured: str, project: Path) -> str | None:
    """A measured file as a project-relative posix path; None for a file outside the project."""
    try:
        return Path(measured).resolve().relative_to(project).as_posix()
    except (ValueError, OSError):
        return None


def _add(recording: Recording, suite: str, context: str, path: str, lines: Iterable[int]) -> None:
    test = test_of(context)
    if test is not None:
        recording.lines[f"{suite}::{test}"][path].update(lines)
    elif context.startswith(CONTEXT_PREFIX):
        recording.fixture_lines[f"{suite}::{context[len(CONTEXT_PREFIX):]}"][path].update(lines)


def read_lines_files(recording: Recording, suite: str, files: list[Path], project: Path) -> None:
    """The per-test lines ``plugin.LineRecorder`` wrote (one file per xdist worker) into ``recording``.

    Each line is ``{"context": ..., "lines": {measured file: [[first, last], ...]}}``, a context
    named as in coverage's contexts (a test's node id, a shared fixture's, "" outside tests); one
    context can have many lines (a test resumes after a shared fixture's setup); the last line is
    ``{"complete": true}``. Raises OSError or ValueError on a file that cannot be read, is not
    that, or lacks the last line (a worker that crashed), so the suite gets no entries rather than
    partial ones.
    """
    import json

    paths: dict[str, str | None] = {}
    read = Recording()
    for file in files:
        complete = False
        with file.open(encoding="utf-8") as handle:
            for number, text in enumerate(handle, 1):
                if complete:
                    raise ValueError(f"{file.name} goes on after its end (line {number})")
                try:
                    record = json.loads(text)
                    if record == {"complete": True}:
                        complete = True
                        continue
                    context, per_file = record["context"], record["lines"]
                    if not isinstance(context, str) or not isinstance(per_file, dict):
                        raise TypeError("not a context and its lines")
                    for measured, spans in per_file.items():
                        if measured not in paths:
                            paths[measured] = project_path(measured, project)
                        path = paths[measured]
                        if path is None:
                            continue
                        lines: list[int] = []
                        for first, last in spans:
                            lines.extend(range(int(first), int(last) + 1))
                        _add(read, suite, context, path, lines)
                except (ValueError, KeyError, TypeError) as error:
                    raise ValueError(f"{file.name} line {number} is not a context and its lines ({error})") from None
        if not complete:
            raise ValueError(f"{file.name} is incomplete (its process ended before the recording was written out)")
    for key, per_file in read.lines.items():
        for path, lines in per_file.items():
            recording.lines[key][path] |= lines
    for key, per_file in read.fixture_lines.items():
        for path, lines in per_file.items():
            recording.fixture_lines[key][path] |= lines


def read_suite(recording: Recording, suite: str, data_file: Path, project: Path,
               lines_files: Iterable[Path] = ()) -> None:
    """Add one suite's coverage data (``data_file``, pytest-cov's combined file) to ``recording``.

    With ``lines_files`` (``plugin.LineRecorder``'s), the per-test lines come from them and the
    coverage data only says which files were measured; without, from the data's dynamic contexts.
    """
    from coverage import CoverageData
    from coverage.exceptions import CoverageException

    lines_files = list(lines_files)
    try:
        data = CoverageData(basename=str(data_file))
        data.read()
        if lines_files:
            read_lines_files(recording, suite, lines_files, project)
            measured = (project_path(name, project) for name in data.measured_files())
            recording.measured.update(path for path in measured if path is not None)
            recording.suites.append(suite)
            return
        contexts = data.measured_contexts()
        if contexts <= {""}:
            recording.notices.append(f"impact: {suite}'s coverage data has no per-test contexts (was "
                                     "--cov-context=test overridden?); its tests have no map entry")
            return
        for measured in data.measured_files():
            path = project_path(measured, project)
            if path is None:
                continue
            recording.measured.add(path)
            for line, tests in data.contexts_by_lineno(measured).items():
                if line < 1:  # coverage's line 0: an empty module's "executed" marker, not a line
                    continue
                for context in tests:
                    _add(recording, suite, context, path, (line,))
    except (CoverageException, OSError, ValueError) as error:  # sqlite3.DatabaseError is not an OSError
        recording.notices.append(f"impact: {suite}'s coverage data could not be read ({error}); "
                                 "its tests have no map entry")
    except Exception as error:  # noqa: BLE001 - sqlite3 errors on a damaged file: the run keeps its results
        recording.notices.append(f"impact: {suite}'s coverage data could not be read ({type(error).__name__}: "
                                 f"{error}); its tests have no map entry")
    else:
        recording.suites.append(suite)


def read_fixture_uses(recording: Recording, suite: str, files: Iterable[Path]) -> None:
    """The shared fixtures each test uses, from ``plugin``'s files (one per xdist worker).

    Without them (none written, one unreadable), every test of the suite gets the lines of every
    shared fixture of the suite: less precise, never blind.
    """
    import json

    files = list(files)
    if not files:
        recording.uses_unknown.add(suite)
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            recording.notices.append(f"impact: {path.name} could not be read ({error.strerror or error}); "
                                     f"every test of {suite} counts as using every shared fixture")
            recording.uses_unknown.add(suite)
            continue
        for line in text.splitlines()[:5_000_000]:
            try:
                entry = json.loads(line)
                test, fixtures = entry["test"], entry["fixtures"]
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(test, str) and isinstance(fixtures, list):
                recording.uses[f"{suite}::{test}"].update(f"{suite}::{f}" for f in fixtures if isinstance(f, str))


def read_spawned(recording: Recording, suite: str, files: Iterable[Path]) -> None:
    """Tests and shared fixtures that started a process (``plugin``): what ran there was not measured."""
    import json

    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            recording.notices.append(f"impact: {path.name} could not be read ({error.strerror or error}); "
                                     f"the tests of {suite} get no map entry")
            recording.spawned.add(f"{suite}::*")
            continue
        for line in text.splitlines()[:1_000_000]:
            try:
                who = json.loads(line)["spawned"]
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(who, str) and who.startswith(CONTEXT_PREFIX):
                recording.spawned_fixtures.add(f"{suite}::{who[len(CONTEXT_PREFIX):]}")
            elif isinstance(who, str):
                recording.spawned.add(f"{suite}::{who}")


def build_map(recording: Recording, project: Path, commit: str, dirty: bool, platform_key: str,
              ran: Iterable[str] = (), unsure: Iterable[str] = ()) -> ImpactMap:
    """The map: every measured file with its sha1 now, every test's lines as ranges.

    ``ran`` are the ``suite::nodeid`` of tests that passed or failed in a suite whose data was
    read: one that executed no measured line gets an empty entry (nothing measured can break
    it) instead of none (which would select it every time). ``unsure`` (skipped, errored, cut
    short) get no entry: what they executed is not what they would execute, so they always run.
    """
    ran = list(ran)
    finished = set(ran)
    files: dict[str, str] = {}
    for path in sorted(recording.measured):
        try:
            files[path] = sha1_of((project / path).read_bytes())
        except OSError:
            continue  # generated and removed during the run: not a file a change can name
    for suite in recording.uses_unknown:
        shared = [fixture for fixture in [*recording.fixture_lines, *recording.spawned_fixtures]
                  if fixture.startswith(f"{suite}::")]
        for key in [*recording.lines, *ran]:
            if key.startswith(f"{suite}::") and not key.endswith("::"):
                recording.uses[key].update(shared)
    for key, fixtures in recording.uses.items():  # a shared fixture's lines count for every test that uses it
        if key not in recording.lines and key not in finished:
            continue
        per_test = recording.lines[key]
        for fixture in fixtures:
            for path, lines in recording.fixture_lines.get(fixture, {}).items():
                per_test[path] |= lines
    tests: dict[str, dict[str, tuple[tuple[int, int], ...]]] = {}
    for key in sorted(recording.lines):
        per_file = recording.lines[key]
        tests[key] = {path: to_ranges(lines) for path, lines in sorted(per_file.items()) if path in files}
    for key in ran:
        tests.setdefault(key, {})
    for key in unsure:
        tests.pop(key, None)
    for key in list(tests):  # started a process, itself or through a shared fixture: lines went unmeasured
        suite = key.split("::", 1)[0]
        if key.endswith("::"):
            continue
        if key in recording.spawned or f"{suite}::*" in recording.spawned \
                or recording.spawned_fixtures.intersection(recording.uses.get(key, ())):
            del tests[key]
    return ImpactMap(commit=commit, dirty=dirty, platform_key=platform_key,
                     created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                     suites=sorted(recording.suites), files=files, tests=tests)
