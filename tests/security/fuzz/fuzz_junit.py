"""libFuzzer harness for ``results.read_junit``: only CollectError may escape, and results stay finite."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).parent))
from _harness import run, scratch  # noqa: E402

with atheris.instrument_imports():
    from doorbell_ci.errors import CollectError
    from doorbell_ci.results import read_junit

PATH = scratch("junit") / "junit-unit.xml"


def test_one_input(data: bytes) -> None:
    PATH.write_bytes(data)
    try:
        results = read_junit(PATH, "unit")
    except CollectError:
        return
    for result in results:
        assert math.isfinite(result.duration) and result.duration >= 0, result
        assert result.line is None or result.line >= 0, result


if __name__ == "__main__":
    run(test_one_input)
