"""Fixtures shared by several suites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.github_double import GitHubDouble, require_spec


@pytest.fixture
def double() -> Iterator[GitHubDouble]:
    """GitHub's REST API, served from its own OpenAPI description (skips or fails without it)."""
    fake = GitHubDouble(require_spec())
    fake.start()
    yield fake
    fake.stop()
