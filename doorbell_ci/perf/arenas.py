"""Aligned pymalloc arenas in the counted process: an instruction count that does not depend on the heap layout.

Why (measured, docs/PERFORMANCE.md "Instruction counts"): CPython (3.10+, 64-bit) finds out whether a
freed block belongs to pymalloc with a radix tree over 1 MiB chunks of the address space, and the
test at its leaf, ``(tail < lo) || (tail >= hi && hi != 0)``, takes a different number of instructions
depending on whether the block lies below or above the 1 MiB boundary its arena straddles. Arenas come
from ``mmap`` at page, not 1 MiB, alignment, so *which* side a benchmark's hot pool falls on depends on
everything allocated before it: the checkout's path length, whether modules were compiled from source
or loaded from ``.pyc``, any change to any imported code. ``sum(range(2000))`` counted 329,828 or
322,861 instructions per call (2.1%, ~4 per freed int) depending on nothing but that.

An arena that starts on a 1 MiB boundary lies in one chunk, and every free in it takes the same path.
So the counted process installs an arena allocator (``PyObject_SetArenaAllocator``) whose arenas are
1 MiB-aligned: ``memalign(1 MiB, size)``, reached without a trampoline because the allocator's context
pointer is passed as the first argument (``alloc(ctx, size)`` = ``memalign(ctx, size)``). Freeing goes
through a few bytes of machine code, ``munmap(ptr, size)``: that is right for the arenas made before the
switch (the default allocator mmaps them) and returns a new arena's pages too (its malloc chunk is
then never reused: glibc believes it is still allocated, so nothing else can land on the unmapped
pages). Installed as early as possible (:func:`main` runs before pytest is imported); the few arenas
of interpreter start-up stay unaligned.
"""

from __future__ import annotations

import ctypes
import platform
import runpy
import sys

ALIGNMENT = 1 << 20  # the arena size of CPython 3.10+ on 64-bit (ARENA_BITS 20); older arenas are smaller

_PROT_RWX = 0x1 | 0x2 | 0x4
_MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20  # Linux, x86-64 and arm64 alike


class _ArenaAllocator(ctypes.Structure):  # PyObjectArenaAllocator
    _fields_ = [("ctx", ctypes.c_void_p), ("alloc", ctypes.c_void_p), ("free", ctypes.c_void_p)]


def _free_code(munmap: int) -> bytes | None:
    """``free(ctx, ptr, size)`` -> ``munmap(ptr, size)``: shift the arguments down one register, jump."""
    machine = platform.machine().lower()
    if machine in {"x86_64", "amd64"}:
        return (bytes.fromhex("4889f7" "4889d6")  # mov rdi, rsi; mov rsi, rdx
                + b"\x48\xb8" + munmap.to_bytes(8, "little")  # movabs rax, munmap
                + bytes.fromhex("ffe0"))  # jmp rax
    # arm64 (a Pi) would need its own few instructions and an instruction-cache flush after writing them;
    # not run anywhere yet, so not used: there the count keeps the layout effect (docs/PERFORMANCE.md)
    return None


_installed: _ArenaAllocator | None = None


def align() -> str | None:
    """Make every new pymalloc arena of this process 1 MiB-aligned; None when done, else why not."""
    global _installed
    if _installed is not None:
        return None
    if not sys.platform.startswith("linux") or sys.maxsize < 2**32:
        return "aligned arenas are set up on 64-bit Linux only"
    try:
        libc = ctypes.CDLL(None)
        memalign, munmap, mmap_ = libc.memalign, libc.munmap, libc.mmap
    except (OSError, AttributeError) as error:
        return f"no memalign/munmap in this C library ({error})"
    code = _free_code(ctypes.cast(munmap, ctypes.c_void_p).value or 0)
    if code is None:
        return f"aligned arenas: no free trampoline for {platform.machine()}"
    # the trampoline's page comes from libc's mmap, not Python's mmap object: it must outlive the
    # interpreter's own finalisation, which frees arenas after module objects are gone
    mmap_.restype = ctypes.c_void_p
    mmap_.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    page = mmap_(None, 4096, _PROT_RWX, _MAP_PRIVATE_ANONYMOUS, -1, 0)
    if not page or page == ctypes.c_void_p(-1).value:
        return "aligned arenas: cannot map an executable page"
    ctypes.memmove(page, code, len(code))
    allocator = _ArenaAllocator(ALIGNMENT, ctypes.cast(memalign, ctypes.c_void_p).value, page)
    ctypes.pythonapi.PyObject_SetArenaAllocator(ctypes.byref(allocator))  # copied by Python
    _installed = allocator
    return None


def main() -> None:
    """``python -m doorbell_ci.perf.arenas MODULE ARGS...``: align arenas, then run MODULE as ``-m`` would."""
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m doorbell_ci.perf.arenas MODULE [ARGS...]")
    align()  # not aligned (another platform): counted as before, the layout effect unremoved
    module = sys.argv[1]
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
