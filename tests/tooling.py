"""Skip-or-fail for tests that need an external tool (Docker engine, Chromium, Prism, act).

On a developer's machine a missing tool skips the test with the reason. In CI, where
scripts/setup.sh installs every tool, ``DOORBELL_CI_REQUIRE_TOOLS=1`` turns the same
situation into a failure, so a broken install can never hide behind a green run.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_ENV = "DOORBELL_CI_REQUIRE_TOOLS"


def tools_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes"}


def require_tool(name: str, available: bool, why: str) -> None:
    """Skip (or, with DOORBELL_CI_REQUIRE_TOOLS=1, fail) the calling test when ``name`` is missing."""
    if available:
        return
    message = f"{name} is not available: {why}"
    if tools_required():
        pytest.fail(f"{message} ({REQUIRE_ENV}=1, so this is a failure, not a skip)")
    pytest.skip(message)


def time_scale() -> float:
    """How much slower than native this machine runs Python: 1, or DOORBELL_CI_TIME_SCALE (scripts/arm64.sh
    sets 4 under qemu user-mode emulation). Wall-clock budgets in tests are multiplied by it."""
    try:
        return max(1.0, float(os.environ.get("DOORBELL_CI_TIME_SCALE", "1")))
    except ValueError:
        return 1.0
