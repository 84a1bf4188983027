"""Unit-suite fixtures, including the switch behind the opt-in failures (see README)."""

from __future__ import annotations

import os

import pytest

from doorbell.faces import DEFAULT_TOLERANCE


@pytest.fixture
def configured_tolerance() -> float:
    """The tolerance the face tests run with.

    With DOORBELL_SAMPLE_FAIL=1 it is a bad value (1.7), so every test using it fails the same
    way inside faces.validate_tolerance: the demo's "one cause, several failures" case.
    """
    return 1.7 if os.environ.get("DOORBELL_SAMPLE_FAIL") == "1" else DEFAULT_TOLERANCE
