"""Reading the Pi's throttled flags through ``vcgencmd`` (older Pi OS images have no sysfs file).

A real executable named vcgencmd, first on PATH, stands in for the Pi firmware tool.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from doorbell_ci import platforms

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="vcgencmd is only read on Linux"),
    pytest.mark.skipif(Path("/", platforms.THROTTLED_FILE).exists(), reason="this Pi has the sysfs file, read first"),
]


def fake_vcgencmd(folder: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    script = folder / "vcgencmd"
    script.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")


def test_vcgencmd_flags_are_read_when_sysfs_has_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_vcgencmd(tmp_path, 'test "$1" = get_throttled && echo "throttled=0x50005"', monkeypatch)
    sample = platforms.sample_throttle()
    assert sample == platforms.ThrottleSample(0x50005, "vcgencmd get_throttled")
    facts = platforms.throttle_facts(platforms.ThrottleSample(0x50000, "vcgencmd get_throttled"), sample)
    assert facts["throttled"] is True and facts["under_voltage"] is True


@pytest.mark.parametrize("body", ["echo 'VCHI initialization failed' >&2; exit 255", "echo 'throttled=banana'"])
def test_a_failing_vcgencmd_means_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    fake_vcgencmd(tmp_path, body, monkeypatch)
    assert platforms.sample_throttle().value is None


def test_no_vcgencmd_means_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert platforms.sample_throttle() == platforms.ThrottleSample(None, "")
