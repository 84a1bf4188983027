"""Platform detection on a Pi 4, a Pi 5, an x86 Linux box, macOS and Windows.

Linux machines are fake roots (tests/fixtures/platforms); the OS calls a root cannot fake
(platform.system, machine, cpu_count, macOS's sysctl, psutil's memory) are monkeypatched.
"""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import psutil
import pytest

from doorbell_ci import platforms
from tests.fake_machines import fake_root, set_throttled

KEPT_KEYS = {"os", "os_release", "arch", "python", "python_implementation", "cpu_model", "cpu_count",
             "memory_bytes", "runner", "executable"}
NEW_KEYS = {"os_name", "pi_model", "pi_model_name", "runner_label", "throttled", "under_voltage",
            "throttle_flags", "throttle_source", "throttle_start", "throttle_end", "camera", "gpio"}
Memory = namedtuple("Memory", "total available")


def simulate(monkeypatch: pytest.MonkeyPatch, system: str, machine: str, cpus: int, release: str = "6.6.51") -> None:
    monkeypatch.setattr(platforms.platform, "system", lambda: system)
    monkeypatch.setattr(platforms.platform, "machine", lambda: machine)
    monkeypatch.setattr(platforms.platform, "release", lambda: release)
    monkeypatch.setattr(platforms.os, "cpu_count", lambda: cpus)


def test_raspberry_pi_4_with_camera_under_voltage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    simulate(monkeypatch, "Linux", "aarch64", 4)
    root = fake_root("pi4", tmp_path, monkeypatch)
    start = platforms.sample_throttle(root)
    facts = platforms.describe(root, throttle_start=start, environ={"RUNNER_NAME": "pi4-hall",
                                                                      "RUNNER_LABELS": "self-hosted,pi,pi4"})
    assert KEPT_KEYS | NEW_KEYS <= set(facts)
    assert facts["os"] == "linux" and facts["arch"] == "aarch64"
    assert facts["os_name"] == "Debian GNU/Linux 12 (bookworm)"
    assert facts["pi_model"] == "pi4"
    assert facts["pi_model_name"] == "Raspberry Pi 4 Model B Rev 1.4"  # the device tree's trailing NUL is gone
    assert facts["cpu_model"] == "ARM Cortex-A72"
    assert facts["cpu_count"] == 4
    assert facts["memory_bytes"] == 3884376 * 1024
    assert facts["camera"] is True  # unicam, not only the codec / ISP nodes
    assert facts["gpio"] is True
    assert facts["runner"] == "pi4-hall" and facts["runner_label"] == "self-hosted,pi,pi4"
    # 0x50005: under-voltage and throttled right now, so the run is not comparable
    assert facts["throttled"] is True and facts["under_voltage"] is True
    assert "under-voltage now" in facts["throttle_flags"] and "throttled now" in facts["throttle_flags"]
    assert facts["throttle_end"] == "0x50005"


def test_raspberry_pi_5_without_camera_not_throttled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    simulate(monkeypatch, "Linux", "aarch64", 4)
    root = fake_root("pi5", tmp_path, monkeypatch)
    facts = platforms.describe(root, throttle_start=platforms.sample_throttle(root), environ={"RUNNER_NAME": "pi5-a"})
    assert facts["pi_model"] == "pi5"
    assert facts["cpu_model"] == "ARM Cortex-A76"
    assert facts["memory_bytes"] == 8245296 * 1024
    assert facts["camera"] is False  # only the PiSP back end and the HEVC decoder
    assert facts["gpio"] is True
    assert facts["runner_label"] == "pi5-a"  # no RUNNER_LABELS: the runner's name
    assert facts["throttled"] is False and facts["under_voltage"] is False and facts["throttle_flags"] == []
    assert facts["throttle_source"] == "/sys/devices/platform/soc/soc:firmware/get_throttled"


def test_pi_that_throttles_during_the_run_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    simulate(monkeypatch, "Linux", "aarch64", 4)
    root = fake_root("pi5", tmp_path, monkeypatch)
    start = platforms.sample_throttle(root)
    set_throttled(root, "40000")  # throttling occurred since the start; not throttled at this moment
    facts = platforms.describe(root, throttle_start=start, environ={})
    assert facts["throttled"] is True and facts["under_voltage"] is False
    assert facts["throttle_flags"] == ["throttling occurred"]
    assert (facts["throttle_start"], facts["throttle_end"]) == ("0x0", "0x40000")


def test_throttling_before_the_run_does_not_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    simulate(monkeypatch, "Linux", "aarch64", 4)
    root = fake_root("pi5", tmp_path, monkeypatch, throttled="50000")  # under-voltage earlier since boot
    facts = platforms.describe(root, throttle_start=platforms.sample_throttle(root), environ={})
    assert facts["throttled"] is False


def test_x86_linux_box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    simulate(monkeypatch, "Linux", "x86_64", 8)
    root = fake_root("x86-linux", tmp_path, monkeypatch)
    facts = platforms.describe(root, throttle_start=platforms.sample_throttle(root), environ={})
    assert facts["os_name"] == "Ubuntu 24.04.1 LTS"
    assert facts["cpu_model"] == "Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz"
    assert facts["memory_bytes"] == 16303412 * 1024
    assert facts["pi_model"] is None and facts["pi_model_name"] is None
    assert facts["camera"] is False and facts["gpio"] is False
    assert facts["throttled"] is None  # no firmware flags: unknown, not "fine"
    assert facts["runner_label"] == ""


def test_macos(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    simulate(monkeypatch, "Darwin", "arm64", 10, release="23.5.0")
    monkeypatch.setattr(platforms.platform, "mac_ver", lambda: ("14.5", ("", "", ""), "arm64"))
    monkeypatch.setattr(platforms.psutil, "virtual_memory", lambda: Memory(17179869184, 0))
    seen: list[list[str]] = []

    def sysctl(argv: list[str]) -> str:
        seen.append(argv)
        return "Apple M1 Pro"

    monkeypatch.setattr(platforms, "_command_output", sysctl)
    # a root full of Pi files must be ignored on another OS
    facts = platforms.describe(fake_root("pi4", tmp_path, monkeypatch), environ={"RUNNER_NAME": "mac-mini"})
    assert facts["os"] == "darwin" and facts["os_name"] == "macOS 14.5" and facts["arch"] == "arm64"
    assert facts["cpu_model"] == "Apple M1 Pro" and seen == [["sysctl", "-n", "machdep.cpu.brand_string"]]
    assert facts["cpu_count"] == 10 and facts["memory_bytes"] == 17179869184
    assert facts["pi_model"] is None and facts["gpio"] is False and facts["camera"] is None
    assert facts["throttled"] is None


def test_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    simulate(monkeypatch, "Windows", "AMD64", 8, release="11")
    monkeypatch.setattr(platforms.platform, "win32_ver", lambda: ("11", "10.0.22631", "SP0", "Multiprocessor Free"))
    monkeypatch.setattr(platforms.platform, "processor",
                        lambda: "Intel64 Family 6 Model 140 Stepping 1, GenuineIntel")
    monkeypatch.setattr(platforms.psutil, "virtual_memory", lambda: Memory(34359738368, 0))
    facts = platforms.describe(environ={"RUNNER_NAME": "GitHub Actions 12", "RUNNER_LABELS": "",
                                        "RUNNER_ENVIRONMENT": "github-hosted"})
    assert facts["os"] == "windows" and facts["os_name"] == "Windows 11 10.0.22631"
    assert facts["arch"] == "amd64"
    assert facts["cpu_model"] == "Intel64 Family 6 Model 140 Stepping 1, GenuineIntel"
    assert facts["memory_bytes"] == 34359738368
    assert facts["pi_model"] is None and facts["camera"] is None and facts["gpio"] is False
    assert facts["throttled"] is None and facts["runner"] == "GitHub Actions 12"
    assert facts["runner_label"] == "github-hosted"  # the same key for every hosted Windows runner


@pytest.mark.parametrize(("model", "label"), [
    ("Raspberry Pi 5 Model B Rev 1.0", "pi5"),
    ("Raspberry Pi 4 Model B Rev 1.5", "pi4"),
    ("Raspberry Pi 3 Model B Plus Rev 1.3", "pi3"),
    ("Raspberry Pi 400 Rev 1.0", "pi400"),
    ("Raspberry Pi Compute Module 4 Rev 1.0", "cm4"),
    ("Raspberry Pi Zero 2 W Rev 1.0", "pizero2"),
    ("Raspberry Pi Zero W Rev 1.1", "pizero"),
    ("Raspberry Pi Model B Rev 2", "pi1"),
    ("Pine64 RockPro64", None),
    ("", None),
])
def test_pi_model_labels(model: str, label: str | None) -> None:
    assert platforms.pi_model(model) == label


@pytest.mark.parametrize(("start", "end", "throttled", "under_voltage"), [
    (None, None, None, None),
    (0x0, 0x0, False, False),
    (0x50000, 0x50000, False, False),  # old, sticky flags only
    (0x50000, 0x50005, True, True),  # happening now
    (0x0, 0x10000, True, True),  # under-voltage since the start
    (None, 0x80000, True, False),  # no start reading: any flag at the end counts
    (0x4, None, True, False),  # throttled at the start, end unreadable
    (0x0, 0x8, True, False),  # soft temperature limit right now
])
def test_throttle_decision(start: int | None, end: int | None, throttled: bool | None,
                           under_voltage: bool | None) -> None:
    facts = platforms.throttle_facts(platforms.ThrottleSample(start, "test"), platforms.ThrottleSample(end, "test"))
    assert facts["throttled"] is throttled and facts["under_voltage"] is under_voltage


def test_unreadable_throttle_value_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = fake_root("pi5", tmp_path, monkeypatch, throttled="garbage")
    assert platforms.sample_throttle(root).value is None


def test_real_machine_description_has_every_key() -> None:
    facts = platforms.describe()
    assert KEPT_KEYS | NEW_KEYS <= set(facts)
    assert facts["cpu_count"] == psutil.cpu_count() or facts["cpu_count"] is None
    assert facts["memory_bytes"] > 0


def test_html_report_shows_the_platform_readably(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from doorbell_ci.reports import html
    from doorbell_ci.results import RunResult

    simulate(monkeypatch, "Linux", "aarch64", 4)
    root = fake_root("pi4", tmp_path, monkeypatch)
    facts = platforms.describe(root, throttle_start=platforms.sample_throttle(root), environ={})
    run = RunResult(run_id="r1", project=str(tmp_path), started_at="2026-01-01T00:00:00+00:00",
                    finished_at="2026-01-01T00:00:01+00:00", duration=1.0, suites=[], platform=facts)
    page = html.render(run)
    assert "<th>platform.pi_model</th><td>pi4</td>" in page
    assert "<th>platform.memory_bytes</th><td>3.7 GiB</td>" in page
    assert "<th>platform.throttle_flags</th><td>under-voltage now, throttled now</td>" in page
    assert "not comparable" in page
    assert "<th>platform.runner_label</th><td></td>" in page
    assert "['" not in page  # lists are joined, never shown as Python reprs
