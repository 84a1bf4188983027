"""The output folder: doorbell-ci only ever empties a folder it made.

Each run (and ``doorbell-ci merge``) empties the result folders (``junit/``, ``logs/``,
``coverage/``, ``perf/``, ``shards/``) inside the output folder and overwrites the reports at its
top. Pointed at a folder of the project (``output_dir = "tests"``, ``"src/app"``) that removed the
project's own files. So a folder becomes ours only when it is new or empty, and is then marked with
:data:`MARKER`; a folder holding anything else, without the marker, is refused before anything is
removed. Results folders written before the marker existed are recognised by their report.json.

``config.py`` additionally refuses an output folder that is, holds, or lies inside a folder the
project uses (:func:`overlap`), with a message naming the ``output_dir`` setting.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from doorbell_ci.errors import ConfigError

MARKER = ".doorbell-ci-output"
MARKER_TEXT = (
    "This folder was made by doorbell-ci for its results. Each run empties its junit/, logs/, coverage/\n"
    "and perf/ folders and rewrites the reports; keep nothing else here.\n"
)
_REPORT_SIGNATURE = re.compile(rb'"schema"\s*:\s*"doorbell-ci/report"')  # json_report writes it first


def is_ours(folder: Path) -> bool:
    """The folder carries our marker (a regular file, not a link someone placed)."""
    try:
        return stat.S_ISREG(os.lstat(folder / MARKER).st_mode)
    except OSError:
        return False


def is_empty(folder: Path) -> bool:
    """True for a folder that does not exist yet or holds nothing."""
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except FileNotFoundError:
        return True
    except NotADirectoryError:
        return False
    except OSError:  # a name too long to exist is empty; a folder we may not list is not
        return not os.path.lexists(folder)


def _earlier_results(folder: Path) -> bool:
    """A results folder of a doorbell-ci version from before the marker: it holds our report.json."""
    try:
        with open(folder / "report.json", "rb") as stream:
            return _REPORT_SIGNATURE.search(stream.read(256)) is not None
    except OSError:
        return False


def usable(folder: Path) -> bool:
    """doorbell-ci may write into ``folder`` and empty its result folders."""
    return is_empty(folder) or is_ours(folder) or _earlier_results(folder)


def claim(folder: Path, label: str = "output folder") -> None:
    """Create ``folder`` (or adopt an empty one, or our earlier results) and mark it; refuse any other."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ConfigError(f"cannot use {folder} as the {label}: it is a file, not a folder; "
                          "pass --output-dir with a folder")
    if not usable(folder):
        raise ConfigError(
            f"{label} {folder} already holds files doorbell-ci did not write (it has no {MARKER} file), and a run "
            "empties junit/, logs/, coverage/ and perf/ in it: choose a new or empty folder such as test-results")
    folder.mkdir(parents=True, exist_ok=True)
    if not is_ours(folder):
        (folder / MARKER).write_text(MARKER_TEXT, encoding="utf-8")


def clear(folder: Path, names: Iterable[str], recreate: bool = True) -> None:
    """Empty the result folders ``names`` inside a folder :func:`claim` marked; never follow a link."""
    if not is_ours(folder):  # claim() always runs first: this is the last line of defence
        raise ConfigError(f"{folder} is not a doorbell-ci output folder (no {MARKER} file); nothing was removed")
    for name in names:
        target = folder / name
        if target.is_symlink() or target.is_file():
            target.unlink()  # a link is removed, never what it points to
        elif target.is_dir():
            shutil.rmtree(target)
        if recreate:
            target.mkdir()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISDIR(info.st_mode) else None


def _lineage(path: Path) -> list[Path]:
    return [path, *path.parents]


def overlap(output: Path, used: Sequence[tuple[Path, str]]) -> list[tuple[str, Path, str]]:
    """How the resolved ``output`` folder meets each folder the project uses: ("is" | "holds" | "inside", folder, what).

    Folders that exist are compared by device and inode, so a symlink, a bind mount or another
    spelling on a case-insensitive file system (``Tests/Unit`` for ``tests/unit`` on macOS or
    Windows) is still the same folder; folders that do not exist yet are compared by path
    (``os.path.normcase``: case-folded on Windows, exact elsewhere).
    """
    existing = next((p for p in _lineage(output) if os.path.exists(p)), None)  # the output, or its nearest parent
    own = _identity(output)
    lineage = _lineage(existing) if existing else []
    above = [identity for p in lineage if (identity := _identity(p)) and identity != own]
    found: list[tuple[str, Path, str]] = []
    for folder, what in used:
        relation = _relation(output, own, above, folder)
        if relation:
            found.append((relation, folder, what))
    return found


def _relation(output: Path, own: tuple[int, int] | None, above: list[tuple[int, int]], folder: Path) -> str | None:
    folder_id = _identity(folder)
    if folder_id is not None:
        if folder_id == own:
            return "is"
        if own is not None and any(_identity(parent) == own for parent in folder.parents):
            return "holds"
        if folder_id in above:
            return "inside"
    key_out, key_folder = Path(os.path.normcase(output)), Path(os.path.normcase(folder))
    if key_out == key_folder:
        return "is"
    if key_folder.is_relative_to(key_out):
        return "holds"
    if key_out.is_relative_to(key_folder):
        return "inside"
    return None
