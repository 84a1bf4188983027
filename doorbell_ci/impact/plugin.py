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
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from doorbell_ci.impact import CONTEXT_PREFIX, FIXTURES_ENV

_coverage_instance: list[Any] = []  # looked up once: Coverage.current() is the one pytest-cov started


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


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    cov = _coverage()
    if cov is not None:
        _switch(cov, item.nodeid)
    yield
    if cov is not None and nextitem is None:
        _switch(cov, "")  # what runs after the last test (session teardown) belongs to no test


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Iterator[None]:
    cov = _coverage() if getattr(fixturedef, "scope", "function") != "function" else None
    previous = _switch(cov, CONTEXT_PREFIX + fixture_id(fixturedef)) if cov is not None else None
    try:
        yield
    finally:
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
