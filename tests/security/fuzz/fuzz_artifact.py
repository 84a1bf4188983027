"""libFuzzer harness for ``github.artifacts.safe_extract``: only ArtifactError may escape, nothing lands outside."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).parent))
from _harness import run, scratch  # noqa: E402

with atheris.instrument_imports():
    from doorbell_ci.github.artifacts import ArtifactError, safe_extract

SANDBOX = scratch("artifact")
ARCHIVE = SANDBOX / "baseline.zip"
DESTINATION = SANDBOX / "dest"


def test_one_input(data: bytes) -> None:
    ARCHIVE.write_bytes(data)
    shutil.rmtree(DESTINATION, ignore_errors=True)
    try:
        written = safe_extract(ARCHIVE, DESTINATION, max_files=64, max_total_bytes=1024 * 1024)
    except ArtifactError:
        written = []
    assert sorted(os.listdir(SANDBOX)) in (["baseline.zip"], ["baseline.zip", "dest"]), os.listdir(SANDBOX)
    root = DESTINATION.resolve()
    for folder, dirs, files in os.walk(DESTINATION):
        for name in dirs + files:
            path = Path(folder) / name
            assert not path.is_symlink() and path.resolve().is_relative_to(root), path
    assert all(path.is_file() for path in written)


if __name__ == "__main__":
    run(test_one_input)
