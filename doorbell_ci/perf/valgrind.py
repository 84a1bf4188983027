"""Instruction counts under Valgrind's callgrind: switched on around the benchmark body only.

Why callgrind and client requests: a count of the whole process (``cachegrind``) includes interpreter
start-up, imports and pytest's collection, so the per-call figure would depend on the loop count.
Callgrind can be started with instrumentation off (``--instr-atstart=no``) and told by the program
itself, through Valgrind's *client requests*, to zero its counters, count, and dump them. Those
requests are a magic instruction sequence that does nothing on a real CPU and that Valgrind's JIT
recognises; Python cannot emit them, and Valgrind's headers are macros with no library behind them,
so the ~40 bytes of machine code are written into an executable page and called through ctypes
(x86-64 and arm64, the sequences of valgrind.h). Without Valgrind the same code returns its default:
:func:`running_on_valgrind` is then 0 and nothing is counted.

Callgrind's ``Ir`` is the number of guest instructions executed: it does not depend on the clock,
the load on the machine or a throttled CPU, which is why it is comparable on a busy runner or a hot Pi.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

_TOOL_BASE = (ord("C") << 24) | (ord("T") << 16)  # VG_USERREQ_TOOL_BASE('C','T'): callgrind ("calltree")
DUMP_STATS, ZERO_STATS, TOGGLE_COLLECT, DUMP_STATS_AT, START_INSTRUMENTATION, STOP_INSTRUMENTATION = (
    _TOOL_BASE + offset for offset in range(6))
RUNNING_ON_VALGRIND = 0x1001

# long request(unsigned long args[6], long default): the client-request sequence of valgrind.h.
_AMD64 = bytes.fromhex(
    "4889f8"  # mov rax, rdi          (rax = &args)
    "4889f2"  # mov rdx, rsi          (rdx = default)
    "48c1c703" "48c1c70d" "48c1c73d" "48c1c733"  # rol rdi 3, 13, 61, 51: the preamble (a no-op: 128 bits)
    "4887db"  # xchg rbx, rbx         (the request: rdx = request(rax))
    "4889d0"  # mov rax, rdx
    "c3"      # ret
)
_ARM64_WORDS = (
    0xAA0103E3,  # mov x3, x1          (default)
    0xAA0003E4,  # mov x4, x0          (&args)
    0x93CC0D8C, 0x93CC358C, 0x93CCCD8C, 0x93CCF58C,  # ror x12, x12, #3, #13, #51, #61: the preamble
    0xAA0A014A,  # orr x10, x10, x10   (the request: x3 = request(x4))
    0xAA0303E0,  # mov x0, x3
    0xD65F03C0,  # ret
)
_ARM64 = b"".join(word.to_bytes(4, "little") for word in _ARM64_WORDS)
_CODE = {"x86_64": _AMD64, "amd64": _AMD64, "aarch64": _ARM64, "arm64": _ARM64}

_request: Callable[[ctypes.Array[ctypes.c_ulong], int], int] | None = None
_page: mmap.mmap | None = None


class ValgrindError(Exception):
    """Valgrind or its client requests are not usable here (the message says why, in one line)."""


def _function() -> Callable[[ctypes.Array[ctypes.c_ulong], int], int]:
    global _request, _page
    if _request is not None:
        return _request
    code = _CODE.get(platform.machine().lower())
    if code is None:
        raise ValgrindError(f"instruction counts are supported on x86-64 and arm64, not {platform.machine()}")
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, AttributeError) as error:  # a kernel or policy that refuses writable+executable pages
        raise ValgrindError(f"cannot map the client-request code executable ({error})") from None
    page.write(code)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    prototype = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.POINTER(ctypes.c_ulong), ctypes.c_long)
    _page, _request = page, prototype(address)
    return _request


def client_request(request: int, arg1: int = 0, default: int = 0) -> int:
    """Issue one Valgrind client request; outside Valgrind this returns ``default``."""
    args = (ctypes.c_ulong * 6)(request, arg1, 0, 0, 0, 0)
    return int(_function()(args, default))


def running_on_valgrind() -> int:
    """0 on a real CPU, the Valgrind nesting depth under Valgrind."""
    return client_request(RUNNING_ON_VALGRIND)


_TOTALS = re.compile(rb"^(?:totals|summary):\s+(\d+)", re.MULTILINE)


def read_total(path: Path) -> int:
    """The ``Ir`` total of one callgrind dump file, from its last line.

    Only the tail is read: a dump is tens of kilobytes, and reading it whole inside the measured
    process moved the allocator's state enough to change the next window's count by ~3% every
    other window (measured: 157.5k/153.1k alternating; 153.1k steady with the tail read).
    """
    with path.open("rb") as stream:
        stream.seek(0, os.SEEK_END)
        stream.seek(max(0, stream.tell() - 256))
        tail = stream.read()
    match = _TOTALS.search(tail)
    if match is None:
        raise ValgrindError(f"{path.name}: no 'totals:' line (not a callgrind dump?)")
    return int(match.group(1))


def callgrind_argv(output_pattern: str) -> list[str]:
    """The Valgrind command line a measured process runs under (instrumentation off until asked for)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise ValgrindError("valgrind is not on PATH (install it: apt-get install valgrind)")
    return [valgrind, "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=yes", "--cache-sim=no",
            "--branch-sim=no",
            f"--callgrind-out-file={output_pattern}", "--quiet"]


_usable: tuple[bool, str] | None = None


def usable(timeout: float = 60.0) -> tuple[bool, str]:
    """:func:`check`, once per process (it starts Python under Valgrind, a few seconds)."""
    global _usable
    if _usable is None:
        _usable = check(timeout)
    return _usable


def check(timeout: float = 60.0) -> tuple[bool, str]:
    """Whether instruction counting works here: Valgrind runs Python and counts a client-request window.

    Not just ``which valgrind``: an old Valgrind that cannot run this Python, a kernel refusing the
    executable page, or an architecture without the request sequence all fail here, with the reason.
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return False, "valgrind is not installed (apt-get install valgrind)"
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="doorbell-ci-valgrind-") as folder:
        script = ("from doorbell_ci.perf import valgrind as v\n"
                  "print(v.running_on_valgrind())\n")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[2]),
                                                                         os.environ.get("PYTHONPATH")]))}
        try:
            completed = subprocess.run(  # noqa: S603 - argv list
                [*callgrind_argv(str(Path(folder) / "out.%p")), sys.executable, "-c", script],
                capture_output=True, text=True, timeout=timeout, env=env, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            return False, f"valgrind did not run Python ({error})"
        if completed.returncode != 0 or completed.stdout.strip() != "1":
            last = (completed.stderr.strip().splitlines() or [completed.stdout.strip() or "no output"])[-1]
            return False, f"valgrind cannot count this Python's instructions ({last[:200]})"
    version = subprocess.run([valgrind, "--version"], capture_output=True, text=True, check=False).stdout.strip()  # noqa: S603
    return True, f"{version} counts instructions (callgrind, client requests on {platform.machine()})"
