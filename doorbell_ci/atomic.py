"""Atomic file writes, the one way doorbell-ci replaces a file another process may read.

A temp file in the same folder is written, flushed to disk and renamed over the target, so a
reader (a later stage, a person, the next run) sees the old file or the new one, never half of
one: not after a crash, a SIGKILL, a full disk or a read-only folder. report.json, the other
reports, baselines and the perf fixture's samples go through here. Files rewritten by redaction
live in a tree the tests wrote and go through ``nofollow.replace_at`` instead (no link followed).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def _umask_mode() -> int:
    """The mode a plain open() would give a new file: mkstemp's 0600 would hide reports from a web server."""
    umask = os.umask(0o022)  # read once, at import, before any thread exists
    os.umask(umask)
    return 0o666 & ~umask


NEW_FILE_MODE = _umask_mode()


@contextmanager
def replacing(path: Path, binary: bool = False, mode: int | None = None,
              durable: bool = True) -> Iterator[IO[Any]]:
    """Yield a handle on a temp file next to ``path``; when the block ends without an error it
    replaces ``path``; on any error (or interrupt) the temp file is removed and ``path`` is untouched.

    Text is UTF-8 with ``\\n`` line ends, and a lone surrogate (a test id made from undecodable
    bytes) is replaced rather than losing the file. ``mode`` defaults to what open() would give.
    ``durable=False`` skips the fsync before the rename: for files made again from report.json
    (``doorbell-ci report DIR``), where a power cut may cost the file's content but a reader still
    never sees half of one. Each fsync is 3-18 ms of wall time on this VM's disk, seven of them a run.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        handle = (os.fdopen(fd, "wb") if binary
                  else os.fdopen(fd, "w", encoding="utf-8", errors="replace", newline="\n"))
        with handle:
            os.chmod(temp, NEW_FILE_MODE if mode is None else mode)
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def write_text(path: Path, text: str, durable: bool = True) -> None:
    """Replace ``path`` with ``text`` atomically (``durable``: see :func:`replacing`)."""
    with replacing(path, durable=durable) as handle:
        handle.write(text)
