"""Hostile baseline artifacts: path escapes, absolute paths, symlinks, decompression bombs, too many files."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from doorbell_ci.github.artifacts import ArtifactError, UnsafeArchiveError, safe_extract

GIB = 1024 * 1024 * 1024


def write_zip(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        for info, data in entries:
            bundle.writestr(info, data)
    return path


def bomb_zip(path: Path, unpacked: int = GIB) -> Path:
    """A real zip whose one entry inflates to ``unpacked`` zero bytes, built from ~1 MiB of deflate data.

    After a full flush a deflate stream's blocks no longer refer back, so the compressed form of one
    MiB of zeros can be repeated; nothing near 1 GB is ever held in memory or written to disk.
    """
    chunk = bytes(1024 * 1024)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeats = unpacked // len(chunk)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(repeats):
        crc = zlib.crc32(chunk, crc)
    compressed_size = len(segment) * repeats + len(tail)
    name = b"baseline.json"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, compressed_size, unpacked,
                        len(name), 0) + name
    with open(path, "wb") as handle:
        handle.write(local)
        for _ in range(repeats):
            handle.write(segment)
        handle.write(tail)
        central_offset = handle.tell()
        central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, compressed_size,
                              unpacked, len(name), 0, 0, 0, 0, 0, 0) + name
        handle.write(central)
        handle.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), central_offset, 0))
    return path


def test_the_bomb_is_a_genuine_1_gib_zip(tmp_path: Path) -> None:
    archive = bomb_zip(tmp_path / "bomb.zip")
    assert archive.stat().st_size < 8 * 1024 * 1024
    with zipfile.ZipFile(archive) as bundle:
        (info,) = bundle.infolist()
        assert info.file_size == GIB
        with bundle.open(info) as stream:
            assert stream.read(1024 * 1024) == bytes(1024 * 1024)  # it really inflates


def test_a_1_gib_decompression_bomb_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    archive = bomb_zip(tmp_path / "bomb.zip")
    destination = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError, match="decompression bomb"):
        safe_extract(archive, destination)
    assert not destination.exists() or list(destination.rglob("*")) == []


def test_the_size_cap_counts_all_entries_together(tmp_path: Path) -> None:
    """Many entries each under the cap must not add up past it."""
    archive = write_zip(tmp_path / "a.zip", [(f"f{i}.json", b"0" * 4000) for i in range(5)])
    with pytest.raises(UnsafeArchiveError):
        safe_extract(archive, tmp_path / "out", max_total_bytes=10_000)
    assert list((tmp_path / "out").rglob("*")) == []


@pytest.mark.parametrize("name", ["../escape.json", "baselines/../../escape.json", "..\\escape.json"])
def test_entries_climbing_out_with_dotdot_are_refused(tmp_path: Path, name: str) -> None:
    archive = write_zip(tmp_path / "a.zip", [("ok.json", b"{}"), (name, b"pwned")])
    destination = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchiveError, match=r"\.\."):
        safe_extract(archive, destination)
    assert not (tmp_path / "deep" / "escape.json").exists() and not (tmp_path / "escape.json").exists()
    assert not (destination / "ok.json").exists()  # all or nothing


@pytest.mark.parametrize("name", ["/etc/doorbell-pwned", "C:/Windows/pwned", "\\\\server\\share\\pwned"])
def test_absolute_paths_are_refused(tmp_path: Path, name: str) -> None:
    info = zipfile.ZipInfo("placeholder")
    info.filename = name  # ZipInfo() would strip the leading slash; an attacker's tool would not
    archive = write_zip(tmp_path / "a.zip", [(info, b"pwned")])
    with pytest.raises(UnsafeArchiveError, match="absolute"):
        safe_extract(archive, tmp_path / "out")


def test_symlink_entries_are_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("baselines/linked.json")
    link.create_system = 3  # unix
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = write_zip(tmp_path / "a.zip", [(link, b"/etc/passwd")])
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "baselines" / "linked.json").exists()


def test_too_many_files_are_refused(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "a.zip", [(f"f{i}", b"") for i in range(30)])
    with pytest.raises(UnsafeArchiveError, match="30 entries"):
        safe_extract(archive, tmp_path / "out", max_files=20)


def test_a_file_that_is_not_a_zip_is_a_clear_error(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    archive.write_bytes(b"<html>rate limited</html>")
    with pytest.raises(ArtifactError, match="not a readable zip"):
        safe_extract(archive, tmp_path / "out")


def test_a_well_formed_baseline_is_extracted(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("baselines/Linux-X64.json", '{"schema": 1}')
        bundle.writestr("report.json", "{}")
    archive = tmp_path / "good.zip"
    archive.write_bytes(buffer.getvalue())
    written = safe_extract(archive, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == [
        "baselines/Linux-X64.json", "report.json"]
    assert (tmp_path / "out" / "baselines" / "Linux-X64.json").read_text() == '{"schema": 1}'
