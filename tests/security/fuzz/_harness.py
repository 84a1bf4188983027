"""What the libFuzzer harnesses share: start-up, a scratch folder, and the one place atheris is called.

Each harness (``fuzz_<reader>.py``) is a script run as ``python tests/security/fuzz/fuzz_junit.py
-runs=2000 CORPUS``; any exception other than the reader's documented one, or a failed assertion,
is a crash that libFuzzer reports with the input that caused it (``crash-<sha1>``).
tests/security/test_fuzz_harnesses.py runs each one for a bounded number of inputs in CI.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris


def scratch(prefix: str) -> Path:
    """A private folder for the inputs the harness writes (one file per input, overwritten)."""
    return Path(tempfile.mkdtemp(prefix=f"doorbell-fuzz-{prefix}-"))


def run(test_one_input: Callable[[bytes], None]) -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
