"""What machine a run happened on: recorded in report.json and used to key baselines."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

import psutil


def describe() -> dict[str, Any]:
    """Facts about this machine that explain differences between runs."""
    memory = psutil.virtual_memory().total
    return {
        "os": platform.system().lower(),
        "os_release": platform.release(),
        "arch": platform.machine().lower(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": memory,
        "runner": os.environ.get("RUNNER_NAME", ""),
        "executable": sys.executable,
    }


def _cpu_model() -> str:
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if line.lower().startswith(("model name", "hardware", "cpu model")):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
    return platform.processor() or platform.machine()
