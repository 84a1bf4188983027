"""What machine a run happened on: recorded in report.json and used to key baselines.

Performance numbers are only comparable between runs on the same kind of machine, and on a
Raspberry Pi only when the firmware did not throttle the CPU or see under-voltage during the
run. So besides OS, architecture, Python, CPU and memory this records the Pi model (from the
device tree), whether a camera and GPIO are present, and the firmware's throttled flags
sampled at the start and at the end of the run.

Every file is read below ``root`` (``/`` normally) so the detection can be tested against a
fake machine's files; every OS call goes through ``platform`` / ``psutil`` / ``os`` so tests
can simulate macOS and Windows by monkeypatching them.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from doorbell_ci.redaction import without_github_tokens

# /sys/devices/platform/soc/soc:firmware/get_throttled (and `vcgencmd get_throttled`) bits.
THROTTLE_FLAGS = {
    0: "under-voltage now",
    1: "ARM frequency capped now",
    2: "throttled now",
    3: "soft temperature limit now",
    16: "under-voltage occurred",
    17: "ARM frequency capping occurred",
    18: "throttling occurred",
    19: "soft temperature limit occurred",
}
_CURRENT_BITS = 0xF  # bits 0-3: the condition holds right now
_STICKY_BITS = 0xF0000  # bits 16-19: the condition happened since boot
_UNDER_VOLTAGE_BITS = 0x10001
THROTTLED_FILE = "sys/devices/platform/soc/soc:firmware/get_throttled"

# Device-tree model prefixes -> short label (the runner label and the baseline key use it).
_PI_MODELS = (
    (r"Raspberry Pi Compute Module (\d+)", "cm{}"),
    (r"Raspberry Pi Zero 2", "pizero2"),
    (r"Raspberry Pi Zero", "pizero"),
    (r"Raspberry Pi (\d+)", "pi{}"),
    (r"Raspberry Pi Model", "pi1"),
)
# video4linux devices a Pi always has (codecs, ISPs): their presence says nothing about a camera.
_NOT_A_CAMERA = re.compile(r"codec|isp|rpivid|hevc|pispbe|bcm2835-v4l2-(?:enc|dec)|mem2mem", re.IGNORECASE)
# ARM CPU part numbers (from /proc/cpuinfo on arm64, which has no "model name" line).
_ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
              "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0b": "Cortex-A76", "0xb76": "ARM1176"}


@dataclass(frozen=True)
class ThrottleSample:
    """One reading of the firmware's throttled flags (``None`` fields: nothing to read)."""

    value: int | None
    source: str  # the file or command it came from, or "" when unavailable


def describe(root: Path = Path("/"), throttle_start: ThrottleSample | None = None,
             environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Facts about this machine that explain differences between runs.

    Called at the end of a run; ``throttle_start`` is the reading taken when the run began,
    so ``throttled`` says whether the Pi throttled or saw under-voltage *during* the run.
    """
    environ = dict(os.environ) if environ is None else environ
    system = platform.system().lower()
    linux = system == "linux"
    throttle_end = sample_throttle(root) if linux else ThrottleSample(None, "")
    pi_model_name = _device_tree_model(root) if linux else ""
    facts: dict[str, Any] = {
        "os": system,
        "os_release": platform.release(),
        "os_name": _os_name(system, root),
        "arch": platform.machine().lower(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "cpu_model": _cpu_model(system, root),
        "cpu_count": os.cpu_count(),
        "memory_bytes": _memory_bytes(system, root),
        "runner": environ.get("RUNNER_NAME", ""),
        "runner_label": runner_label(environ),
        "executable": sys.executable,
        "pi_model": pi_model(pi_model_name),
        "pi_model_name": pi_model_name or None,
        "camera": _camera(root) if linux else None,
        "gpio": _gpio(root) if linux else False,
    }
    facts.update(throttle_facts(throttle_start, throttle_end))
    return facts


def runner_label(environ: dict[str, str]) -> str:
    """The labels the runner was registered with (runner-setup writes RUNNER_LABELS), else its name.

    A GitHub-hosted runner's name changes from job to job ("GitHub Actions 12"), and baselines are
    keyed by this label, so every hosted runner is simply ``github-hosted``.
    """
    labels = environ.get("RUNNER_LABELS", "").strip()
    if labels:
        return labels
    if environ.get("RUNNER_ENVIRONMENT", "").strip() == "github-hosted":
        return "github-hosted"
    return environ.get("RUNNER_NAME", "").strip()


def pi_model(model_name: str) -> str | None:
    """``Raspberry Pi 5 Model B Rev 1.0`` -> ``pi5``; None for anything that is not a Pi."""
    for pattern, label in _PI_MODELS:
        match = re.match(pattern, model_name)
        if match:
            return label.format(*match.groups()).lower()
    return None


def sample_throttle(root: Path = Path("/")) -> ThrottleSample:
    """Read the firmware's throttled flags from sysfs, else ``vcgencmd``; value None when neither exists."""
    path = root / THROTTLED_FILE
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        text = None
    if text is not None:
        return ThrottleSample(_parse_hex(text), "/" + THROTTLED_FILE)
    if root == Path("/") and sys.platform.startswith("linux"):
        return _vcgencmd_throttled()
    return ThrottleSample(None, "")


def _vcgencmd_throttled() -> ThrottleSample:
    """``vcgencmd get_throttled`` prints ``throttled=0x50005`` (older Pi OS images have no sysfs file)."""
    vcgencmd = shutil.which("vcgencmd")
    if vcgencmd is None:
        return ThrottleSample(None, "")
    try:
        completed = subprocess.run([vcgencmd, "get_throttled"], capture_output=True, text=True,  # noqa: S603
                                   timeout=5, check=False, env=without_github_tokens(os.environ))
    except (OSError, subprocess.TimeoutExpired):
        return ThrottleSample(None, "")
    if completed.returncode != 0:
        return ThrottleSample(None, "")
    return ThrottleSample(_parse_hex(completed.stdout.strip().partition("=")[2]), "vcgencmd get_throttled")


def _parse_hex(text: str) -> int | None:
    try:
        return int(text, 16)
    except ValueError:
        return None


def throttle_facts(start: ThrottleSample | None, end: ThrottleSample) -> dict[str, Any]:
    """Whether the CPU was throttled (or under-voltage) during the run, and the flags behind it.

    The sticky bits (16-19) count since boot, so a bit already set at the start proves nothing
    about this run; a bit that appeared since the start, or a "now" bit (0-3) at either end does.
    With no start reading, any flag at the end counts: unknown is treated as not comparable.
    """
    start_value = start.value if start is not None else None
    end_value = end.value
    if end_value is None and start_value is None:
        return {"throttled": None, "under_voltage": None, "throttle_flags": [], "throttle_source": None,
                "throttle_start": None, "throttle_end": None}
    values = [v for v in (start_value, end_value) if v is not None]
    current = 0
    for value in values:
        current |= value & _CURRENT_BITS
    if start_value is not None and end_value is not None:
        new_sticky = (end_value & ~start_value) & _STICKY_BITS
    else:
        new_sticky = values[-1] & _STICKY_BITS
    during = current | new_sticky
    return {
        "throttled": bool(during),
        "under_voltage": bool(during & _UNDER_VOLTAGE_BITS),
        "throttle_flags": [name for bit, name in THROTTLE_FLAGS.items() if during & (1 << bit)],
        "throttle_source": end.source or (start.source if start is not None else None),
        "throttle_start": None if start_value is None else hex(start_value),
        "throttle_end": None if end_value is None else hex(end_value),
    }


def _device_tree_model(root: Path) -> str:
    for relative in ("proc/device-tree/model", "sys/firmware/devicetree/base/model"):
        try:
            return (root / relative).read_bytes().rstrip(b"\x00\n").decode("utf-8", errors="replace")
        except OSError:
            continue
    return ""


def _camera(root: Path) -> bool:
    """A video4linux device that is not one of the Pi's built-in codecs / ISPs (CSI or USB camera)."""
    try:
        devices = sorted((root / "sys/class/video4linux").iterdir())
    except OSError:
        return False
    for device in devices:
        try:
            name = (device / "name").read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
        if name and not _NOT_A_CAMERA.search(name):
            return True
    return False


def _gpio(root: Path) -> bool:
    """The GPIO character devices (libgpiod / lgpio) the sample project's gpio module uses."""
    try:
        return any(entry.name.startswith("gpiochip") for entry in (root / "dev").iterdir())
    except OSError:
        return False


def _os_name(system: str, root: Path) -> str:
    """A human name: the distribution on Linux, the product version on macOS and Windows."""
    if system == "linux":
        release = _key_values(root / "etc/os-release", "=")
        return release.get("PRETTY_NAME") or release.get("NAME") or "Linux"
    if system == "darwin":
        version = platform.mac_ver()[0]
        return f"macOS {version}".strip()
    if system == "windows":
        release, version, _, _ = platform.win32_ver()
        return f"Windows {release} {version}".strip()
    return platform.platform()


def _key_values(path: Path, separator: str) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    pairs = (line.partition(separator) for line in lines if separator in line)
    return {key.strip(): value.strip().strip('"') for key, _, value in pairs}


def _cpu_model(system: str, root: Path) -> str:
    if system == "linux":
        info = _key_values(root / "proc/cpuinfo", ":")
        for key in ("model name", "Hardware", "cpu model"):
            if info.get(key):
                return info[key]
        part = info.get("CPU part", "").lower()
        if part in _ARM_PARTS:
            return f"ARM {_ARM_PARTS[part]}"
    elif system == "darwin":
        brand = _command_output(["sysctl", "-n", "machdep.cpu.brand_string"])
        if brand:
            return brand
    return platform.processor() or platform.machine()


def _memory_bytes(system: str, root: Path) -> int:
    if system == "linux":
        total = _key_values(root / "proc/meminfo", ":").get("MemTotal", "")
        if total.endswith("kB") and total[:-2].strip().isdigit():
            return int(total[:-2].strip()) * 1024
    return int(psutil.virtual_memory().total)


def _command_output(argv: list[str]) -> str:
    """One line from a small read-only system command; empty when it is missing or fails."""
    executable = shutil.which(argv[0])
    if executable is None:
        return ""
    try:
        completed = subprocess.run([executable, *argv[1:]], capture_output=True, text=True,  # noqa: S603
                                   timeout=5, check=False, env=without_github_tokens(os.environ))
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return completed.stdout.strip() if completed.returncode == 0 else ""
