"""A pytest plugin, loaded with ``-p doorbell_ci.impact.plugin`` while the impact map is recorded.

It names coverage.py's dynamic context after the test that is running, once per test (pytest-cov's
``--cov-context=test`` switches at setup, call and teardown; the phases are of no use to the map).
The cost is the same either way: on 2,000 one-line tests both took about 1.4x the CPU of plain
coverage, almost all of it coverage.py writing each test's lines to its SQLite file when the
context switches (it reconnects for every write). Naming the contexts here keeps their form ours,
whatever pytest-cov does, and lets the shared fixtures below have contexts of their own.

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

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from doorbell_ci.impact import CONTEXT_PREFIX, FIXTURES_ENV

_coverage_instance: list[Any] = []  # looked up once: Coverage.current() is the one pytest-cov started
_current: list[str] = [""]  # the test or shared fixture running now ("" between tests)
_spawned: set[str] = set()
_spawn_file: list[str] = []


def fixture_id(fixturedef: Any) -> str:
    return f"{getattr(fixturedef, 'baseid', '')}::{fixturedef.argname}"


def _coverage() -> Any:
    if not _coverage_instance:
        try:
            import coverage

            _coverage_instance.append(coverage.Coverage.current())
        except Exception:  # noqa: BLE001 - no coverage: nothing to name
            _coverage_instance.append(None)
    return _coverage_instance[0]


def _switch(cov: Any, context: str) -> Any:
    try:
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
        _watch_process_starts()


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
        with open(f"{target}.{worker}", "w", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
    except OSError:
        pass  # the map then lacks the shared fixtures' lines for these tests (they are not selected by them)
