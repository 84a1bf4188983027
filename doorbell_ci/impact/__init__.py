"""Test impact analysis: run only the tests a change can break, from per-test coverage recorded earlier.

``impactmap`` (the file), ``record`` (coverage contexts -> map), ``changes`` (git diff -> changed
blocks), ``select`` (the rules, pure) and ``stage`` (the pipeline's side). Every report renders
``RunResult.impact`` through :func:`summary_line` (``summary``: the wording every report shares).
"""

from __future__ import annotations

from doorbell_ci.impact.summary import summary_line

CONTEXT_PREFIX = "doorbell-ci-fixture:"  # coverage context of a shared fixture's setup (plugin.py)
FIXTURES_ENV = "DOORBELL_CI_IMPACT_FIXTURES"  # where plugin.py lists each test's shared fixtures
LINES_SUFFIX = ".lines"  # plugin.py's per-test lines, next to the fixture lists: <file>.<worker>.lines
CONTEXTS_SUFFIX = ".contexts"  # why plugin.py recorded with coverage's contexts instead: <file>.<worker>.contexts
RECORDER_ENV = "DOORBELL_CI_IMPACT_RECORDER"  # "contexts": coverage's dynamic contexts, the slower way

__all__ = ["CONTEXT_PREFIX", "CONTEXTS_SUFFIX", "FIXTURES_ENV", "LINES_SUFFIX", "RECORDER_ENV", "summary_line"]
