"""Fake machine roots (a Pi 4, a Pi 5, an x86 Linux box) built from tests/fixtures/platforms.

The firmware's throttled file lives in a folder named ``soc:firmware``, which Windows cannot
check out, so the fixture keeps it at the top of the root and :func:`fake_root` moves it into
place in a copy under tmp_path (on Windows, where ``:`` is not allowed in a file name at all,
the caller's monkeypatch points ``platforms.THROTTLED_FILE`` somewhere legal instead).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from doorbell_ci import platforms

FIXTURES = Path(__file__).parent / "fixtures" / "platforms"


def fake_root(name: str, destination: Path, monkeypatch: pytest.MonkeyPatch | None = None,
              throttled: str | None = None) -> Path:
    """Copy fixture root ``name`` to ``destination``; ``throttled`` overrides its get_throttled text."""
    root = destination / name
    shutil.copytree(FIXTURES / name, root)
    source = root / "get_throttled"
    if throttled is not None:
        source.write_text(throttled + "\n", encoding="ascii")
    if source.exists():
        relative = platforms.THROTTLED_FILE
        if os.name == "nt":
            assert monkeypatch is not None, "pass monkeypatch: Windows needs a file name without ':'"
            relative = "sys/firmware-get_throttled"
            monkeypatch.setattr(platforms, "THROTTLED_FILE", relative)
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        source.replace(target)
    return root


def set_throttled(root: Path, text: str) -> None:
    """Change what the fake firmware reports (between the start and the end of a run)."""
    (root / platforms.THROTTLED_FILE).write_text(text + "\n", encoding="ascii")
