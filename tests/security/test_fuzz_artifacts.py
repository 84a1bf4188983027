"""Fuzzing ``github.artifacts.safe_extract``: only ArtifactError escapes, nothing lands outside the folder.

The archives are structured, not random bytes: entries named with ``..``, absolute and drive
paths, backslashes, NUL bytes, very long and duplicate names, symlink modes, lying CRCs and
sizes, encryption and unknown-compression flags, nested zips; then some are damaged byte by byte.
Each example runs in a sandbox holding a file next to the destination; after the extraction the
sandbox must be exactly as before outside the destination, and hold no symbolic link anywhere.

Example counts: see tests/security/fuzzing.py (``HYPOTHESIS_PROFILE=fuzz`` for a long session).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from doorbell_ci.github.artifacts import ArtifactError, UnsafeArchiveError, safe_extract
from tests.security.fuzzing import (
    DEFLATED,
    ENCRYPTED_FLAG,
    FILE_MODE,
    STORED,
    SYMLINK_MODE,
    UTF8_FLAG,
    RawEntry,
    build_zip,
    fuzz_settings,
)

_PARTS = st.sampled_from(["a", "b", "baselines", "x.json", "..", ".", "", "C:", "c:x", "\\", "..\\..", "é", "a\x00b",
                          "x" * 300, " ", "~", "$HOME", "%2e%2e"])
_NAMES = st.one_of(
    st.lists(_PARTS, min_size=1, max_size=4).map("/".join),
    st.lists(_PARTS, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts)),
    st.lists(_PARTS, min_size=1, max_size=3).map("\\".join),
    st.text(min_size=1, max_size=12),
    st.sampled_from(["a/", "a/b/", "./a", "a//b", "/".join(["d" * 200] * 25), "../" * 40 + "etc/passwd"]),
).map(lambda name: name.encode("utf-8", "surrogatepass"))


@st.composite
def _entries(draw: st.DrawFn, depth: int = 0) -> RawEntry:
    name = draw(st.one_of(_NAMES, st.binary(min_size=1, max_size=16)))  # raw bytes: not UTF-8, cp437 names
    data = draw(st.binary(max_size=600))
    if depth == 0 and draw(st.booleans()) and draw(st.booleans()):
        data = build_zip(draw(st.lists(_entries(depth=1), max_size=3)))  # a zip in the zip: a file like any other
    return RawEntry(
        name=name,
        data=data,
        method=draw(st.sampled_from([STORED, DEFLATED, DEFLATED, 12, 14, 99])),
        crc=draw(st.one_of(st.none(), st.none(), st.integers(0, 2**32 - 1))),
        declared_size=draw(st.one_of(st.none(), st.none(), st.integers(0, 2**32 - 1))),
        mode=draw(st.sampled_from([FILE_MODE, FILE_MODE, SYMLINK_MODE, 0o040755, 0])),
        flags=draw(st.sampled_from([0, 0, UTF8_FLAG, ENCRYPTED_FLAG])),
    )


@st.composite
def _archives(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["raw", "raw", "zipfile", "damaged", "garbage"]))
    if kind == "garbage":
        return draw(st.binary(max_size=300))
    if kind == "zipfile":  # what a real upload step writes, with the methods zipfile knows
        buffer = io.BytesIO()
        method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]))
        names = draw(st.lists(st.sampled_from(["a", "b/c", "b/", "d.json", "a", "../e", "/f"]), max_size=5))
        with zipfile.ZipFile(buffer, "w", method) as bundle:
            for name in names:
                bundle.writestr(name, draw(st.binary(max_size=300)))
        archive = buffer.getvalue()
    else:
        archive = build_zip(draw(st.lists(_entries(), max_size=6)), comment=draw(st.binary(max_size=8)))
    if kind == "damaged" and archive:
        mutable = bytearray(archive)
        for _ in range(draw(st.integers(1, 8))):
            mutable[draw(st.integers(0, len(mutable) - 1))] = draw(st.integers(0, 255))
        archive = bytes(mutable[: draw(st.integers(len(mutable) // 2, len(mutable)))])
    return archive


def _snapshot(root: Path, skip: Path) -> dict[str, str]:
    """Every path under ``root`` but ``skip``, with a digest of each file (or its kind)."""
    seen: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if here == skip or skip in here.parents:
            continue
        for name in dirs + files:
            path = here / name
            if path == skip:
                continue
            if path.is_symlink():
                seen[str(path)] = "link"
            elif path.is_file():
                seen[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                seen[str(path)] = "dir"
    return seen


def _links(root: Path) -> list[Path]:
    return [Path(folder) / name for folder, dirs, files in os.walk(root) for name in dirs + files
            if (Path(folder) / name).is_symlink()]


@fuzz_settings(300)
@given(archive=_archives(), max_files=st.integers(1, 8), max_total_bytes=st.integers(0, 4096))
@example(archive=build_zip([RawEntry(b"a"), RawEntry(b"a", b"2")]), max_files=8, max_total_bytes=4096)
@example(archive=build_zip([RawEntry(b"a", b"1"), RawEntry(b"a/b", b"2")]), max_files=8, max_total_bytes=4096)
@example(archive=build_zip([RawEntry(b"a", b"x" * 10, method=99)]), max_files=8, max_total_bytes=4096)
@example(archive=build_zip([RawEntry(b"a", b"x" * 10, flags=ENCRYPTED_FLAG)]), max_files=8, max_total_bytes=4096)
@example(archive=build_zip([RawEntry(b"\xff\xfe", flags=UTF8_FLAG)]), max_files=8, max_total_bytes=4096)
@example(archive=build_zip([RawEntry(b".", b"1")]), max_files=8, max_total_bytes=4096)
@example(archive=build_zip([RawEntry(b"a", b"1")]).replace(b"PK\x01\x02\x14\x03\x14", b"PK\x01\x02\x14\x03\x40"),
         max_files=8, max_total_bytes=4096)  # "needs zip version 6.4": zipfile raised NotImplementedError
def test_only_artifact_errors_escape_and_nothing_lands_outside(archive: bytes, max_files: int,
                                                               max_total_bytes: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        sandbox = Path(scratch)
        (sandbox / "outside.txt").write_text("untouched\n")
        (sandbox / "baseline.zip").write_bytes(archive)
        destination = sandbox / "dest"
        before = _snapshot(sandbox, destination)
        try:
            written = safe_extract(sandbox / "baseline.zip", destination, max_files=max_files,
                                   max_total_bytes=max_total_bytes)
        except ArtifactError as error:
            event(f"refused: {type(error).__name__}")
            # all or nothing: no file (and no staging folder) is left behind
            assert not destination.exists() or not any(destination.iterdir())
        else:
            event("extracted")
            _check_extracted(archive, destination, written, max_files, max_total_bytes)
        assert _snapshot(sandbox, destination) == before
        assert _links(sandbox) == []


def _check_extracted(archive: bytes, destination: Path, written: list[Path], max_files: int,
                     max_total_bytes: int) -> None:
    """What a successful extraction promises: regular files inside, the archive's bytes, within the caps."""
    root = destination.resolve()
    on_disk = {path for path in destination.rglob("*") if path.is_file()}
    assert set(written) == on_disk
    assert len(written) <= max_files
    assert sum(path.stat().st_size for path in written) <= max_total_bytes
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        expected = {_key(info.filename): bundle.read(info) for info in bundle.infolist() if not info.is_dir()}
    for path in written:
        assert path.resolve().is_relative_to(root) and not path.is_symlink()
        assert path.read_bytes() == expected[_key(path.relative_to(destination).as_posix())]
    assert len(written) == len(expected)


def _key(name: str) -> tuple[str, ...]:
    """An entry's path as the extractor reads it: backslashes are separators, empty and '.' parts vanish."""
    return tuple(part for part in name.replace("\\", "/").split("/") if part not in ("", "."))


def test_the_fuzzer_does_reach_both_outcomes(tmp_path: Path) -> None:
    """The strategies are not all refusals: a plain archive from the same builder extracts."""
    archive = tmp_path / "ok.zip"
    archive.write_bytes(build_zip([RawEntry(b"baselines/a.json", b"{}", method=DEFLATED), RawEntry(b"b", b"1")]))
    written = safe_extract(archive, tmp_path / "out")
    assert sorted(path.relative_to(tmp_path / "out").as_posix() for path in written) == ["b", "baselines/a.json"]
    bad = tmp_path / "bad.zip"
    bad.write_bytes(build_zip([RawEntry(b"../a", b"1")]))
    with pytest.raises(UnsafeArchiveError, match="'..'"):
        safe_extract(bad, tmp_path / "out2")
