"""atomic.py: a file is replaced whole or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from doorbell_ci import atomic


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("old", encoding="utf-8")

    class Unwritable:
        def __str__(self) -> str:
            raise RuntimeError("cannot render")

    with pytest.raises(TypeError):
        atomic.write_text(path, Unwritable())  # type: ignore[arg-type]
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_an_interrupt_inside_the_block_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt), atomic.replacing(path) as handle:
        handle.write("half of the new")
        raise KeyboardInterrupt
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["baseline.json"]


def test_new_files_get_the_mode_open_would_give_and_a_mode_can_be_kept(tmp_path: Path) -> None:
    """mkstemp makes 0600 files; a report a web server or another user must read needs the usual mode."""
    made = tmp_path / "sub" / "summary.md"
    atomic.write_text(made, "text")
    plain = tmp_path / "plain"
    plain.write_text("x", encoding="utf-8")
    assert stat.S_IMODE(made.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    kept = tmp_path / "kept.bin"
    with atomic.replacing(kept, binary=True, mode=0o640) as handle:
        handle.write(b"\x00\x01")
    assert kept.read_bytes() == b"\x00\x01"
    if os.name == "posix":
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640


def test_text_is_utf8_with_newlines_and_survives_a_lone_surrogate(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    atomic.write_text(path, "caf\u00e9\nbad \udcff\n")
    assert path.read_bytes() == "caf\u00e9\nbad ?\n".encode()
