"""Child process of ``measure.measure_peak_memory``: call one function, print the OS's peak RSS.

A fresh interpreter so the high-water mark belongs to this call alone. ``ru_maxrss`` is kept by the
kernel for the whole life of the process, so a 50 MB block that lives 10 ms still shows, where a
100 ms psutil poll would usually miss it. On Linux the same mark is read from ``VmHWM`` in
/proc/self/status, because ``ru_maxrss`` there survives exec and starts at the parent's size.
Windows has no ``getrusage``; psutil's ``peak_wset`` is the kernel-kept high-water mark there.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import pickle
import sys
from pathlib import Path
from typing import Any


def peak_rss_bytes() -> int:
    """The kernel's high-water mark of this process's resident memory, in bytes."""
    if sys.platform.startswith("linux"):
        # VmHWM belongs to this process image; ru_maxrss on Linux also counts the parent's memory at fork
        # time (it survives exec), so a fresh child of a 120 MB test runner would start at 120 MB.
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    if sys.platform == "win32":
        import psutil

        return int(psutil.Process().memory_info().peak_wset)
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB on Linux


def _load(module_name: str, qualname: str, module_file: str | None) -> Any:
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        if not module_file:
            raise
        spec = importlib.util.spec_from_file_location(module_name, module_file)
        if spec is None or spec.loader is None:
            raise
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def main(spec_path: str) -> int:
    # The file was written by our own parent process a moment ago, in a private temp folder.
    module_name, qualname, module_file, parent_path, packed_args = pickle.loads(Path(spec_path).read_bytes())  # noqa: S301
    sys.path[:0] = [entry for entry in parent_path if entry not in sys.path]
    func = _load(module_name, qualname, module_file)
    args = pickle.loads(packed_args)  # noqa: S301 - after sys.path is set, so the arguments' classes import
    before = peak_rss_bytes()
    func(*args)
    print(json.dumps({"peak_bytes": peak_rss_bytes(), "before_call_bytes": before}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
