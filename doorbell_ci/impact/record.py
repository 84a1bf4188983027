"""Recording: which lines each test executed, from coverage.py data with per-test dynamic contexts.

The suites run with pytest-cov's ``--cov-context=test``, so every line coverage measures is
tagged with the test that ran it: ``tests/test_x.py::test_a|run`` (``|setup``, ``|teardown`` for
its fixtures). The phase is dropped: a fixture's lines belong to the test that set it up.
pytest-cov combines the data of xdist workers into the suite's own file (``COVERAGE_FILE`` is per
suite), and the Docker environment mounts the project at its own path, so every measured path is
a host path and is made project-relative here.

Lines run outside any test (imports during collection, the empty context) tie to no test; the
files they belong to still count as measured (``files``), which is what tells a changed module
the map knows from one it never saw.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from doorbell_ci.impact.changes import sha1_of
from doorbell_ci.impact.impactmap import ImpactMap, to_ranges

PHASES = ("|run", "|setup", "|teardown")


@dataclass
class Recording:
    """What the suites' coverage data say, before it becomes a map."""

    lines: dict[str, dict[str, set[int]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(set)))
    measured: set[str] = field(default_factory=set)  # project-relative paths measured in any context
    suites: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def test_of(context: str) -> str | None:
    """``tests/a.py::test_x|run`` -> ``tests/a.py::test_x``; None for the empty (outside any test) context."""
    for phase in PHASES:
        if context.endswith(phase):
            return context[: -len(phase)] or None
    return context or None


test_of.__test__ = False  # type: ignore[attr-defined] - a name pytest would otherwise collect


def project_path(measured: str, project: Path) -> str | None:
    """A measured file as a project-relative posix path; None for a file outside the project."""
    try:
        return Path(measured).resolve().relative_to(project).as_posix()
    except (ValueError, OSError):
        return None


def read_suite(recording: Recording, suite: str, data_file: Path, project: Path) -> None:
    """Add one suite's coverage data (``data_file``, pytest-cov's combined file) to ``recording``."""
    from coverage import CoverageData
    from coverage.exceptions import CoverageException

    try:
        data = CoverageData(basename=str(data_file))
        data.read()
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
                for context in tests:
                    test = test_of(context)
                    if test is not None:
                        recording.lines[f"{suite}::{test}"][path].add(line)
    except (CoverageException, OSError, ValueError) as error:  # sqlite3.DatabaseError is not an OSError
        recording.notices.append(f"impact: {suite}'s coverage data could not be read ({error}); "
                                 "its tests have no map entry")
    except Exception as error:  # noqa: BLE001 - sqlite3 errors on a damaged file: the run keeps its results
        recording.notices.append(f"impact: {suite}'s coverage data could not be read ({type(error).__name__}: "
                                 f"{error}); its tests have no map entry")
    else:
        recording.suites.append(suite)


def build_map(recording: Recording, project: Path, commit: str, dirty: bool, platform_key: str,
              ran: Iterable[str] = (), unsure: Iterable[str] = ()) -> ImpactMap:
    """The map: every measured file with its sha1 now, every test's lines as ranges.

    ``ran`` are the ``suite::nodeid`` of tests that passed or failed in a suite whose data was
    read: one that executed no measured line gets an empty entry (nothing measured can break
    it) instead of none (which would select it every time). ``unsure`` (skipped, errored, cut
    short) get no entry: what they executed is not what they would execute, so they always run.
    """
    files: dict[str, str] = {}
    for path in sorted(recording.measured):
        try:
            files[path] = sha1_of((project / path).read_bytes())
        except OSError:
            continue  # generated and removed during the run: not a file a change can name
    tests: dict[str, dict[str, tuple[tuple[int, int], ...]]] = {}
    for key in sorted(recording.lines):
        per_file = recording.lines[key]
        tests[key] = {path: to_ranges(lines) for path, lines in sorted(per_file.items()) if path in files}
    for key in ran:
        tests.setdefault(key, {})
    for key in unsure:
        tests.pop(key, None)
    return ImpactMap(commit=commit, dirty=dirty, platform_key=platform_key,
                     created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                     suites=sorted(recording.suites), files=files, tests=tests)
