"""Fixtures shared by several suites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.github_double import GitHubDouble, require_spec
from tests.tooling import time_scale

# Under emulation (qemu-user, DOORBELL_CI_TIME_SCALE > 1) and a busy machine, generating inputs and running one
# example take several times longer than Hypothesis's wall-clock checks allow (measured in the arm64 root: 9
# inputs in 3.7 s, "Input generation is slow"): the same properties are checked, without those time limits.
if time_scale() > 1:
    settings.register_profile("emulated", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("emulated")


@pytest.fixture
def double() -> Iterator[GitHubDouble]:
    """GitHub's REST API, served from its own OpenAPI description (skips or fails without it)."""
    fake = GitHubDouble(require_spec())
    fake.start()
    yield fake
    fake.stop()
