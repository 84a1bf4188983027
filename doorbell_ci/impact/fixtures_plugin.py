"""A pytest plugin, loaded with ``-p doorbell_ci.impact.fixtures_plugin`` while recording the impact map.

A module-, class-, package- or session-scoped fixture is set up once, during the setup of the
first test that needs it, so per-test coverage contexts give its lines to that one test only; the
next hundred tests that use the same database fixture would look as if they never ran its code.
This plugin records those lines under a context of the fixture's own
(``doorbell-ci-fixture:<baseid>::<name>``) and writes, for every test, the shared fixtures it
uses (``DOORBELL_CI_IMPACT_FIXTURES``, one JSON line per test; xdist workers each write their own
file). ``record`` then gives every test the lines of every shared fixture it uses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

ENV_VAR = "DOORBELL_CI_IMPACT_FIXTURES"
CONTEXT_PREFIX = "doorbell-ci-fixture:"


def fixture_id(fixturedef: Any) -> str:
    return f"{getattr(fixturedef, 'baseid', '')}::{fixturedef.argname}"


def _coverage() -> Any:
    try:
        import coverage
    except ImportError:
        return None
    return coverage.Coverage.current()


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Iterator[None]:
    cov = _coverage() if getattr(fixturedef, "scope", "function") != "function" else None
    previous = None
    if cov is not None:
        try:
            previous = cov.switch_context(CONTEXT_PREFIX + fixture_id(fixturedef))  # coverage 7.16+ returns it
        except Exception:  # noqa: BLE001 - coverage not started, or a core without dynamic contexts
            cov = None
    try:
        yield
    finally:
        if cov is not None:
            item = getattr(request, "_pyfuncitem", None)  # back to the test's context, as pytest-cov names it
            cov.switch_context(previous or (f"{item.nodeid}|setup" if item is not None else ""))


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    target = os.environ.get(ENV_VAR)
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
        pass  # the map then lacks the shared fixtures' lines for these tests; record() says so
