"""File operations that never follow a link out of a tree doorbell-ci owns.

The output folder and the per-run temp tree are written by the tests, so any entry in them
may be a symbolic link (to ``/etc/shadow``, to the runner's credentials, to another user's
file), a hard link to a file outside, a FIFO that blocks a reader, or a folder swapped for a
link between our check and our use. Everything here works relative to an open directory
descriptor (``dir_fd``), opens with ``O_NOFOLLOW`` and checks the opened object with ``fstat``,
so the name is looked up once, in a folder we already hold, and a link is never followed:

* :func:`walk` is ``os.fwalk`` without following links: each folder is opened through its
  parent's descriptor, so a folder swapped for a link mid-walk is not entered;
* :func:`open_regular` opens a regular file only (a link, FIFO, socket or device is refused
  without blocking);
* :func:`replace_at` writes a new file and renames it over the old name: a hard link to a file
  outside keeps its old content (rewriting in place would change the outside file);
* :func:`make_owner_accessible` gives a folder ``u+rwx`` through an ``O_PATH`` descriptor, so a
  folder swapped for a link never has its target's mode changed.

``os.fwalk`` and ``dir_fd`` exist on Linux and macOS; on Windows (no ``fwalk``) :func:`walk`
falls back to ``os.walk`` and checks each entry with ``lstat``, which leaves a race window
(documented in docs/SECURITY.md).
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

HAS_DIR_FD = hasattr(os, "fwalk") and os.open in os.supports_dir_fd
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_O_PATH = getattr(os, "O_PATH", 0)


def walk(top: str | os.PathLike[str]) -> Iterator[tuple[str, list[str], list[str], int | None]]:
    """``(path, folders, other entries, dir_fd)`` for every folder under ``top``, links never entered.

    ``other entries`` holds everything that is not a real folder: files, links (to folders too),
    FIFOs, sockets, devices. Folders the caller removes from ``folders`` are not entered. Folders
    we own but cannot read (a test's ``chmod 000``) are given ``u+rwx`` first so they are walked.
    ``dir_fd`` is None on the ``os.walk`` fallback (names are then joined to ``path``).
    """
    if not HAS_DIR_FD:
        for path, folders, files in os.walk(top, followlinks=False):
            linked = [name for name in folders if os.path.islink(os.path.join(path, name))]
            folders[:] = [name for name in folders if name not in linked]
            yield path, folders, files + linked, None
        return
    for path, folders, files, dir_fd in os.fwalk(top, follow_symlinks=False):
        # fwalk lists a link to a folder among the folders (it is not entered): it is an entry here
        linked = [name for name in folders if not _is_real_folder(name, dir_fd)]
        folders[:] = [name for name in folders if name not in linked]
        for name in folders:
            make_owner_accessible(name, dir_fd)
        yield path, folders, files + linked, dir_fd


def _is_real_folder(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def lstat(name: str, dir_fd: int | None, path: str) -> os.stat_result:
    return os.stat(name, dir_fd=dir_fd, follow_symlinks=False) if dir_fd is not None \
        else os.lstat(os.path.join(path, name))


def open_regular(name: str, dir_fd: int | None, path: str) -> tuple[BinaryIO, os.stat_result]:
    """Open a regular file for reading, never through a link and never blocking on a FIFO.

    Raises ``OSError`` (``ELOOP`` for a link, ``EINVAL`` for anything not a regular file).
    """
    flags = os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC | _O_BINARY
    fd = os.open(name, flags, dir_fd=dir_fd) if dir_fd is not None else os.open(os.path.join(path, name), flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(22, "not a regular file", os.path.join(path, name))
        if _O_NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), info
    except BaseException:
        os.close(fd)
        raise


class TooLarge(Exception):  # noqa: N818 - a size, not a failure of the system call
    """The file is bigger than the caller's limit (``size`` in bytes, as it was or as read)."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def read_bounded(path: Path, max_bytes: int) -> bytes:
    """Every byte of the regular file ``path``, never following a link, never waiting on a FIFO.

    For files the tests or an artifact may have written (history.json, impact.json.gz): over
    ``max_bytes`` (by its size, or by what was read if it grew meanwhile) raises :class:`TooLarge`
    without reading more than one byte past the limit; OSError as ``open_regular`` raises it.
    """
    handle, _ = open_regular(path.name, None, str(path.parent))
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise TooLarge(size)
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLarge(len(data))
    return data


def unlink(name: str, dir_fd: int | None, path: str) -> None:
    """Remove the entry itself (a link is removed, never its target)."""
    if dir_fd is not None:
        os.unlink(name, dir_fd=dir_fd)
    else:
        os.unlink(os.path.join(path, name))


@contextmanager
def replace_at(name: str, dir_fd: int | None, path: str, mode: int) -> Iterator[BinaryIO]:
    """Yield a new file that replaces ``name`` (in the folder ``dir_fd``) when the block ends cleanly.

    A new inode, renamed over the name: a hard link to an outside file is left pointing at the
    old content. ``mode`` is masked to permission bits: a set-uid file a test wrote is never
    recreated set-uid by a root doorbell-ci.
    """
    temp = f".{name[:32]}.{secrets.token_hex(4)}.doorbell-ci-tmp"  # 32 characters: at most 128 bytes
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
    fd = os.open(temp, flags, 0o600, dir_fd=dir_fd) if dir_fd is not None \
        else os.open(os.path.join(path, temp), flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), mode & 0o777)
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if dir_fd is not None:
            os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        else:
            os.replace(os.path.join(path, temp), os.path.join(path, name))
    except BaseException:
        try:
            unlink(temp, dir_fd, path)
        except OSError:
            pass
        raise


def make_owner_readable(name: str, dir_fd: int | None, path: str = "") -> None:
    """Give the regular file ``name`` ``u+r`` if we own it (a test's ``chmod 000``); never a link's target."""
    _add_owner_bits(name, dir_fd, path, stat.S_ISREG, 0o400)


def make_owner_accessible(name: str, dir_fd: int | None, path: str = "") -> None:
    """Give the folder ``name`` ``u+rwx`` if we own it and it lacks them; never a link's target.

    On Linux the folder is opened with ``O_PATH | O_NOFOLLOW`` (no read right needed), checked
    with ``fstat`` and changed through ``/proc/self/fd``, so the mode change lands on the very
    folder that was checked. Elsewhere it is ``lstat`` then ``chmod`` (a race window). Root needs
    no rights, so nothing is changed for root.
    """
    _add_owner_bits(name, dir_fd, path, stat.S_ISDIR, 0o700)


def _add_owner_bits(name: str, dir_fd: int | None, path: str, kind: Callable[[int], bool], bits: int) -> None:
    if not hasattr(os, "geteuid") or os.geteuid() == 0:
        return
    try:
        info = lstat(name, dir_fd, path)
        if not kind(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & bits == bits:
            return
        mode = stat.S_IMODE(info.st_mode) | bits
        if _O_PATH and dir_fd is not None and os.path.isdir("/proc/self/fd"):
            fd = os.open(name, _O_PATH | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=dir_fd)
            try:
                if kind(os.fstat(fd).st_mode):
                    os.chmod(f"/proc/self/fd/{fd}", mode)
            finally:
                os.close(fd)
        else:
            target = os.path.join(path, name)
            if not os.path.islink(target):
                os.chmod(target, mode)
    except OSError:
        pass  # not ours to change, or gone: the walk reports what it could not read
