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


def many_entries_zip(path: Path, entries: int, declared: int | None = None, zip64: bool = False,
                     file_size: int = 0) -> Path:
    """A zip whose central directory holds ``entries`` records (the end record may declare another count).

    zipfile.ZipFile() reads only the central directory when it opens a file, so the records need no
    file data behind them to cost the memory of one ZipInfo each.
    """
    record = struct.Struct(zipfile.structCentralDir)
    directory = bytearray()
    for index in range(entries):
        name = f"{index:08d}".encode()
        directory += record.pack(zipfile.stringCentralDir, 20, 3, 20, 0, 0, 0, 0, 0, 0, 0, file_size,
                                 len(name), 0, 0, 0, 0, 0o100644 << 16, 0) + name
    count = entries if declared is None else declared
    with open(path, "wb") as handle:
        handle.write(directory)
        end_of_directory = handle.tell()
        if zip64:
            handle.write(struct.pack(zipfile.structEndArchive64, zipfile.stringEndArchive64,
                                     zipfile.sizeEndCentDir64 - 12, 45, 45, 0, 0, count, count, len(directory), 0))
            handle.write(struct.pack(zipfile.structEndArchive64Locator, zipfile.stringEndArchive64Locator,
                                     0, end_of_directory, 1))
            handle.write(struct.pack(zipfile.structEndArchive, zipfile.stringEndArchive, 0, 0, 0xFFFF, 0xFFFF,
                                     0xFFFFFFFF, 0xFFFFFFFF, 0))
        else:
            handle.write(struct.pack(zipfile.structEndArchive, zipfile.stringEndArchive, 0, 0, min(count, 0xFFFF),
                                     min(count, 0xFFFF), len(directory), 0, 0))
    return path


PEAK_PROBE = (  # VmHWM starts afresh at exec: the extraction's own peak, not the pytest worker's
    "import sys\n"
    "from pathlib import Path\n"
    "from doorbell_ci.github.artifacts import safe_extract, UnsafeArchiveError\n"
    "def kib(field):\n"
    "    return next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith(field))\n"
    "before = kib('VmRSS:')\n"
    "try:\n"
    "    safe_extract(Path(sys.argv[1]), Path(sys.argv[2]))\n"
    "    print('extracted')\n"
    "except UnsafeArchiveError as error:\n"
    "    print(error)\n"
    "print((kib('VmHWM:') - before) // 1024)\n"
)


@pytest.mark.parametrize("form", ["counted", "zip64"])
def test_a_zip_of_760k_entries_is_refused_from_its_end_record_before_any_entry_is_built(tmp_path: Path,
                                                                                      form: str) -> None:
    """zipfile.ZipFile() used to build 760,000 ZipInfo objects (430 MiB) before the count was checked."""
    import subprocess
    import sys

    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory is read from /proc/self/status (VmHWM), which only Linux has")
    archive = many_entries_zip(tmp_path / "many.zip", 760_000, zip64=form == "zip64")
    done = subprocess.run([sys.executable, "-c", PEAK_PROBE, str(archive), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, check=True)
    message, peak_mib = done.stdout.splitlines()
    assert "entries, more than the 10000 allowed" in message  # a plain end record says 65535 at most
    assert int(peak_mib) < 20, f"extraction grew by {peak_mib} MiB"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("declared", [1, 0, 9])
def test_an_end_record_that_under_declares_the_count_is_caught_by_counting_the_records(
        tmp_path: Path, declared: int) -> None:
    """zipfile walks the directory by its byte size, not by the declared count: the records are counted."""
    archive = many_entries_zip(tmp_path / "liar.zip", 5_000, declared=declared)
    with pytest.raises(UnsafeArchiveError, match="more than the 1000 entries allowed"):
        safe_extract(archive, tmp_path / "out", max_files=1000)
    huge = many_entries_zip(tmp_path / "huge.zip", 760_000, declared=declared)
    with pytest.raises(UnsafeArchiveError, match="central directory of"):
        safe_extract(huge, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_declared_sizes_are_summed_from_the_central_directory_before_any_entry_is_built(tmp_path: Path) -> None:
    archive = many_entries_zip(tmp_path / "sizes.zip", 300, file_size=1024 * 1024)
    with pytest.raises(UnsafeArchiveError, match="more than 256 MiB"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()
