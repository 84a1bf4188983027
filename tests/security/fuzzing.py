"""What the fuzz tests share: how many examples to try, hostile text, and a zip writer that can lie.

Example counts stay modest so the security suite stays quick in CI (about 200 per test).
``HYPOTHESIS_PROFILE=fuzz`` multiplies them by 100 for a long local session::

    HYPOTHESIS_PROFILE=fuzz python -m pytest tests/security/test_fuzz_*.py -p no:cacheprovider

The zip writer builds archives byte by byte because ``zipfile`` refuses to write what an attacker
would: NUL bytes in names, CRCs and sizes that lie, encrypted or unknown compression flags.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PROFILE_ENV = "HYPOTHESIS_PROFILE"
LONG_SESSION_FACTOR = 100


def fuzz_settings(examples: int = 200) -> settings:
    """Settings for one fuzz test: ``examples`` by default, 100 times more under HYPOTHESIS_PROFILE=fuzz."""
    factor = LONG_SESSION_FACTOR if os.environ.get(PROFILE_ENV) == "fuzz" else 1
    return settings(
        max_examples=examples * factor,
        deadline=None,  # the machine is shared: a slow example is not a failure
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def one_in(draw: st.DrawFn, chances: int) -> bool:
    """True about once in ``chances`` draws (a middle value: hypothesis favours the bounds), False when shrunk."""
    return draw(st.integers(0, chances - 1)) == chances // 2


# Text that has broken parsers before: markup, controls, surrogates' neighbours, huge numbers, non-ASCII digits.
HOSTILE_WORDS = [
    "", " ", "-", "--rootdir=/", ";rm -rf /", "$(id)", "`id`", "..", "../..", "/etc/passwd", "C:\\x",
    "\\\\server\\share", "\x00", "a\x00b", "\r\n", "\x1b[31m", "<script>alert(1)</script>", "&amp;",
    "nan", "NaN", "inf", "-inf", "1e400", "-1", "0", "²", "٣", "é", "\u202e", "\ufeff",
    "${{ secrets.GITHUB_TOKEN }}", "@everyone",
]
LONG_WORDS = ["9" * 5000, "x" * 70_000]
HOSTILE_TEXT = st.one_of(st.text(max_size=40), st.sampled_from(HOSTILE_WORDS + LONG_WORDS))


# --- zip archives, byte by byte ------------------------------------------------------------------

STORED, DEFLATED = 0, 8
SYMLINK_MODE = 0o120777
FILE_MODE = 0o100644
ENCRYPTED_FLAG = 0x1
UTF8_FLAG = 0x800


@dataclass(frozen=True)
class RawEntry:
    """One archive entry as it will be written, lies included."""

    name: bytes
    data: bytes = b""
    method: int = STORED
    crc: int | None = None  # None: the true CRC-32
    declared_size: int | None = None  # None: the true size (the central directory's "uncompressed size")
    mode: int = FILE_MODE  # Unix mode in the upper 16 bits of the external attributes
    flags: int = 0


def build_zip(entries: list[RawEntry], comment: bytes = b"") -> bytes:
    """A zip file of ``entries``: local headers, data, central directory, end record (no zip64)."""
    body = bytearray()
    central = bytearray()
    for entry in entries:
        payload = _compress(entry.data) if entry.method == DEFLATED else entry.data
        crc = zlib.crc32(entry.data) if entry.crc is None else entry.crc
        size = len(entry.data) if entry.declared_size is None else entry.declared_size
        offset = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, entry.flags, entry.method, 0, 0x21, crc,
                            len(payload), size, len(entry.name), 0)
        body += entry.name + payload
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x0314, 20, entry.flags, entry.method, 0, 0x21,
                               crc, len(payload), size, len(entry.name), 0, 0, 0, 0, entry.mode << 16, offset)
        central += entry.name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(body),
                      len(comment))
    return bytes(body + central + end + comment)


def _compress(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()
