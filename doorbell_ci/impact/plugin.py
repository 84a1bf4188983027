"""A pytest plugin, loaded with ``-p doorbell_ci.impact.plugin`` while the impact map is recorded.

At every test boundary it takes the lines the test executed from coverage.py's in-memory data
(:class:`LineRecorder`) and writes them to ``<file>.<workerid>.lines``, one JSON line per stretch
of one test (or shared fixture, or "" for what runs outside any test); ``record`` reads them back.
Why not coverage's dynamic contexts, which this plugin used first: a context switch makes coverage
write the lines gathered so far to its SQLite file, reconnecting for every write, and on a suite of
hundreds of tiny tests (python-humanize/humanize, 784 tests) that write was most of the cost of
recording (docs/IMPACT.md "Recording cost"). Taking the lines from memory costs a set copy per
measured file a test touched, and the project's own coverage data is left exactly as it would be
without recording: the lines are handed back to coverage before it writes, under the project's
own contexts if it has any.

That needs coverage.py's collector internals (``Coverage._collector``, its ``data`` sets and
``flush_data``), so :func:`recorder_problem` checks them and the coverage version first; when
anything is not as expected (another coverage major version, the ``sysmon`` core, which stops
reporting a line once seen), or ``DOORBELL_CI_IMPACT_RECORDER=contexts`` is set, the plugin names
coverage's dynamic context after the running test instead, as before (``record`` reads the contexts
from the coverage data then). Both ways give the same map (tests/integration/test_impact_recorder.py).

A module-, class-, package- or session-scoped fixture is set up once, during the setup of the
first test that needs it, so per-test contexts would give its lines to that one test only; the
next hundred tests that use the same database fixture would look as if they never ran its code.
Its setup is recorded under a context of its own (``doorbell-ci-fixture:<baseid>::<name>``), and
for every test the shared fixtures it uses are written to the file named by
``DOORBELL_CI_IMPACT_FIXTURES`` (one JSON line a test; each xdist worker writes its own file,
``.<workerid>`` appended). ``record`` then gives every test the lines of every shared fixture it uses.

Code a test runs in another process (``subprocess``, ``multiprocessing``, ``os.fork``, ``os.system``)
is not measured, so its lines would be missing from the test's entry and a change there would
not select it. Every test (or shared fixture) that starts a process is written to
``<file>.<workerid>.spawned`` at once; ``record`` gives such tests no entry, so they always run.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from doorbell_ci.impact import CONTEXT_PREFIX, CONTEXTS_SUFFIX, FIXTURES_ENV, LINES_SUFFIX, RECORDER_ENV

_coverage_instance: list[Any] = []  # looked up once: Coverage.current() is the one pytest-cov started
_current: list[str] = [""]  # the test or shared fixture running now ("" between tests)
_spawned: set[str] = set()
_spawn_file: list[str] = []
_lines_file: list[str] = []  # where this process's LineRecorder writes (set by pytest_configure)
TESTED_COVERAGE = ((7, 0), (8, 0))  # the collector internals LineRecorder reads, checked on 7.x


def fixture_id(fixturedef: Any) -> str:
    return f"{getattr(fixturedef, 'baseid', '')}::{fixturedef.argname}"


def recorder_problem(cov: Any) -> str | None:
    """Why :class:`LineRecorder` cannot read ``cov``'s data (contexts are used instead); None if it can."""
    import coverage

    if os.environ.get(RECORDER_ENV, "") == "contexts":
        return f"{RECORDER_ENV}=contexts"
    try:
        version = tuple(int(part) for part in coverage.__version__.split(".")[:2])
    except ValueError:
        return f"coverage {coverage.__version__} is not a version this recorder knows"
    if not TESTED_COVERAGE[0] <= version < TESTED_COVERAGE[1]:
        return f"coverage {coverage.__version__} is outside {TESTED_COVERAGE}"
    collector = getattr(cov, "_collector", None)
    core = getattr(collector, "core", None)
    if not isinstance(getattr(collector, "data", None), dict) or not callable(getattr(collector, "flush_data", None)):
        return "coverage's collector has no in-memory data to read"
    if core is None:
        return "coverage's collector has no core this recorder knows (an older coverage 7)"
    if not getattr(core, "supports_dynamic_contexts", False) or not getattr(core, "systrace", False):
        return "coverage's core reports a line only once (sysmon)"
    if getattr(collector, "branch", False) and not isinstance(getattr(core, "packed_arcs", None), bool):
        return "coverage's arc encoding is unknown"
    return None


def _lines_of_arcs(arcs: Any, packed: bool) -> set[int]:
    """The lines of measured arcs, as coverage's ``contexts_by_lineno`` counts them (both ends, if > 0)."""
    lines = set()
    for arc in arcs:
        if packed:  # coverage's CTracer_record_pair: two 28-bit line numbers and their signs in one int
            first, second = arc & 0xFFFFFFF, (arc >> 28) & 0xFFFFFFF
            if arc & (1 << 56):
                first = -first
            if arc & (1 << 57):
                second = -second
        else:
            first, second = arc
        if first > 0:
            lines.add(first)
        if second > 0:
            lines.add(second)
    return lines


def ranges_of(lines: set[int]) -> list[list[int]]:
    """``{1, 2, 3, 7}`` -> ``[[1, 3], [7, 7]]``: what the ``.lines`` file holds (line 0 and below dropped)."""
    spans: list[list[int]] = []
    for line in sorted(lines):
        if line < 1:
            continue
        if spans and spans[-1][1] == line - 1:
            spans[-1][1] = line
        else:
            spans.append([line, line])
    return spans


class LineRecorder:
    """Per-test lines taken from coverage's in-memory data, with no dynamic context and no SQLite write.

    coverage's tracer adds each executed line to a set per file (``collector.data``) and only adds
    what the set lacks, so a test's lines are what the sets hold after emptying them at the test's
    start. :meth:`switch` does that: it moves the sets' contents into this process's ``.lines``
    file under the context that was running, and keeps them in ``given`` (the union since
    coverage last wrote). Whenever coverage writes (``flush_data``: at its own context switches, and
    when it saves at the end), the wrapper around it first takes what the running context added and
    puts ``given`` back into the sets, so coverage writes exactly the lines it would have written
    without this recorder.
    """

    def __init__(self, cov: Any, path: str) -> None:
        self.collector = cov._collector
        self.branch = bool(getattr(self.collector, "branch", False))
        self.packed = bool(getattr(getattr(self.collector, "core", None), "packed_arcs", False))
        self.context = ""
        self.given: dict[str, set[Any]] = {}
        self.failed = False  # a write failed: the file must not claim to be complete
        # the names coverage's data has once pytest-cov has combined it (relative_files, and [paths]
        # aliases: an installed package's files mapped to the project's src/), as the contexts way had them
        mapped = getattr(self.collector, "cached_mapped_file", None) or (lambda name: name)
        make_aliases = getattr(cov, "_make_aliases", None)
        if callable(make_aliases):
            alias = make_aliases().map
            self.file_name = functools.cache(lambda name: alias(mapped(name)))
        else:
            self.file_name = mapped
        # "x": logs/ is emptied at each run's start, so a file that exists was made by this suite's own
        # process; this one is a flaky test's rerun (FileExistsError: it records nothing, see _coverage)
        self.handle = open(path, "x", encoding="utf-8")  # noqa: SIM115 - open for the whole session, closed in close()
        flush_data = self.collector.flush_data

        def flush_then_write() -> Any:
            if not self.handle.closed:  # after close() the sets already hold everything again
                try:
                    self.take()
                    self.handle.flush()
                except Exception:  # noqa: BLE001 - coverage's own save must go on whatever the recording does
                    self.failed = True
                self.give_back()
            return flush_data()

        self.collector.flush_data = flush_then_write  # this instance only: coverage's own writes go through it

    def take(self) -> None:
        """Move what the sets hold into the file, under the running context."""
        taken = {}
        try:
            for name, live in self.collector.data.copy().items():  # copy(): tracers in other threads add files
                if live:
                    snapshot = live.copy()
                    live.difference_update(snapshot)  # in place: the tracer holds these set objects
                    self.given.setdefault(name, set()).update(snapshot)  # first: coverage gets them back whatever
                    spans = ranges_of(_lines_of_arcs(snapshot, self.packed) if self.branch else snapshot)
                    if spans:
                        taken[self.file_name(name)] = spans
            if taken:
                self.handle.write(json.dumps({"context": self.context, "lines": taken}, separators=(",", ":")) + "\n")
        except Exception:
            self.failed = True
            raise

    def give_back(self) -> None:
        data = self.collector.data
        for name, values in self.given.items():
            data.setdefault(name, set()).update(values)
        self.given = {}

    def switch(self, context: str) -> str:
        self.take()
        previous, self.context = self.context, context
        return previous

    def close(self) -> None:
        """Whatever is still unwritten goes to the file and back to coverage (if it writes after this).

        The last line says the file is complete; ``record`` refuses a file without it (a worker that
        crashed, a full disk): lines missing from it would make tests that ran look as if they ran
        nothing measured, and such a test would never be selected.
        """
        try:
            self.take()
            if not self.failed:
                self.handle.write(json.dumps({"complete": True}) + "\n")
            self.handle.close()
        except Exception:  # noqa: BLE001 - no marker: the suite gets no map entries, never wrong ones
            self.failed = True
        finally:
            self.give_back()


def _coverage() -> Any:
    """What switches contexts: a :class:`LineRecorder`, or the Coverage object itself (contexts)."""
    if not _coverage_instance:
        try:
            import coverage

            cov = coverage.Coverage.current()
        except Exception:  # noqa: BLE001 - no coverage: nothing to name
            cov = None
        if cov is not None and _lines_file:
            problem = None
            try:
                problem = recorder_problem(cov)
                if problem is None:
                    cov = LineRecorder(cov, _lines_file[0])
            except FileExistsError:  # a rerun of one test (coverage from the project's own addopts): not ours
                cov = None
            except Exception as error:  # noqa: BLE001 - the .lines file cannot be opened: contexts, as before
                problem = f"{type(error).__name__}: {error}"
            if problem is not None:
                _say_contexts(problem)
        _coverage_instance.append(cov)
    return _coverage_instance[0]


def _say_contexts(problem: str) -> None:
    """Why this process records with coverage's contexts, for the run's notices (``<file>.<worker>.contexts``)."""
    try:
        with open(_lines_file[0][: -len(LINES_SUFFIX)] + CONTEXTS_SUFFIX, "x", encoding="utf-8") as handle:
            handle.write(problem[:500] + "\n")
    except OSError:
        pass


def _switch(cov: Any, context: str) -> Any:
    try:
        if isinstance(cov, LineRecorder):
            return cov.switch(context)
        return cov.switch_context(context)  # coverage 7.16+ returns the previous context
    except Exception:  # noqa: BLE001 - not started, or a core without dynamic contexts (sysmon)
        return None


def _note_spawn() -> None:
    """A process is being started by whatever runs now: said once per test or fixture, written at once."""
    who = _current[-1]
    if not who or who in _spawned or not _spawn_file:
        return
    _spawned.add(who)
    try:
        with open(_spawn_file[0], "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"spawned": who}) + "\n")
    except OSError:
        pass


def _watch(owner: Any, name: str) -> None:
    original = getattr(owner, name, None)
    if original is None or getattr(original, "_doorbell_ci_watched", False):
        return

    def watched(*args: Any, **kwargs: Any) -> Any:
        _note_spawn()
        return original(*args, **kwargs)

    watched._doorbell_ci_watched = True  # type: ignore[attr-defined]
    setattr(owner, name, watched)


def _watch_process_starts() -> None:
    """Every way a test starts a process: subprocess, multiprocessing (fork, or _posixsubprocess), os."""
    import subprocess

    _watch(subprocess.Popen, "_execute_child")  # subprocess bound fork_exec at import: watched one level up
    try:
        import _posixsubprocess

        _watch(_posixsubprocess, "fork_exec")  # multiprocessing's spawn and forkserver look it up each time
    except ImportError:  # Windows
        pass
    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system", "spawnv", "spawnve", "spawnvp",
                 "spawnvpe", "execv", "execve", "execvp", "execvpe"):
        _watch(os, name)


def pytest_configure(config: pytest.Config) -> None:
    target = os.environ.get(FIXTURES_ENV)
    if target:
        worker = getattr(config, "workerinput", {}).get("workerid", "main")
        _spawn_file.append(f"{target}.{worker}.spawned")
        _lines_file.append(f"{target}.{worker}{LINES_SUFFIX}")
        _watch_process_starts()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _coverage_instance and isinstance(_coverage_instance[0], LineRecorder):
        _coverage_instance[0].close()


@pytest.hookimpl(hookwrapper=True)  # old-style, like the others: a project's pytest may be older than 8
def pytest_runtestloop(session: pytest.Session) -> Iterator[None]:
    """Coverage has started by now in every process: the xdist controller, which runs no test but
    imports the conftest files, records its lines (all outside any test) too."""
    _coverage()
    yield


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    cov = _coverage()
    if cov is not None:
        _switch(cov, item.nodeid)
    _current[:] = [item.nodeid]
    yield
    _current[:] = [""]
    if cov is not None and nextitem is None:
        _switch(cov, "")  # what runs after the last test (session teardown) belongs to no test


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Iterator[None]:
    shared = getattr(fixturedef, "scope", "function") != "function"
    cov = _coverage() if shared else None
    previous = _switch(cov, CONTEXT_PREFIX + fixture_id(fixturedef)) if cov is not None else None
    if shared:
        _current.append(CONTEXT_PREFIX + fixture_id(fixturedef))
    try:
        yield
    finally:
        if shared:
            _current.pop()
        if cov is not None:
            item = getattr(request, "_pyfuncitem", None)  # back to the test's own context
            _switch(cov, previous or (item.nodeid if item is not None else ""))


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    target = os.environ.get(FIXTURES_ENV)
    if not target:
        return
    worker = getattr(config, "workerinput", {}).get("workerid", "main")
    lines = []
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        shared = []
        for definitions in (getattr(info, "name2fixturedefs", None) or {}).values():
            # every definition: an override that requests the fixture it overrides runs both
            shared.extend(fixture_id(d) for d in definitions if getattr(d, "scope", "function") != "function")
        if shared:
            lines.append(json.dumps({"test": item.nodeid, "fixtures": sorted(shared)}))
    try:
        # "x": a flaky test's rerun (logs/ is emptied at each run's start) must not replace the suite's list
        with open(f"{target}.{worker}", "x", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
    except FileExistsError:
        pass
    except OSError:
        pass  # the map then lacks the shared fixtures' lines for these tests (they are not selected by them)
