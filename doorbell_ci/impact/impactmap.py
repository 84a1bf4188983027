"""impact.json.gz: which lines of which files each test executed, at one recorded commit.

gzip JSON, schema ``doorbell-ci.impact`` version 1::

    {"schema": "doorbell-ci.impact", "version": 1,
     "commit": "<sha>", "dirty": false, "platform_key": "...", "created_at": "...",
     "suites": ["unit", ...],
     "files": [["src/pkg/a.py", "<sha1 of the bytes>"], ...],
     "tests": {"unit::tests/unit/test_a.py::test_x": {"0": "1-4,9,12-20"}, ...}}

The key ``suite::`` (an empty node id) holds the lines each suite ran outside any test (imports
during collection): a changed function that ran at import time changes what every importer sees.
``files`` is a list so that the per-test keys can be its indexes; line ranges are the compact
``1-4,9`` text form (gzip does the rest). The map travels in the results artifact of another
run, so the reader treats it like any artifact: bounded before it is decompressed, refused with
one line (:class:`ImpactMapError`) unless every field is exactly this shape. A refused map costs
the run its selection (a full run, with the reason), never its results.
"""

from __future__ import annotations

import errno
import gzip
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doorbell_ci import atomic, nofollow
from doorbell_ci.errors import ReportError

FILENAME = "impact.json.gz"
SCHEMA = "doorbell-ci.impact"
VERSION = 1
MAX_COMPRESSED_BYTES = 64 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024
MAX_TESTS = 1_000_000
MAX_FILES = 200_000
MAX_TEXT = 10_000  # a test key, a path: longer is not ours
MAX_LINE = 10_000_000
_RANGES = re.compile(r"[0-9]{1,8}(-[0-9]{1,8})?(,[0-9]{1,8}(-[0-9]{1,8})?)*")
_SHA1 = re.compile(r"[0-9a-f]{40}")
_COMMIT = re.compile(r"[0-9a-f]{0,64}")


class ImpactMapError(ReportError):
    """An impact map that is not ours, too big, or damaged: refused with one line."""


@dataclass
class ImpactMap:
    commit: str  # the recorded tree's HEAD ("" outside git)
    dirty: bool  # the tree had changes to tracked files when it was recorded
    platform_key: str
    created_at: str
    suites: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # project-relative posix path -> sha1 of its bytes
    # "suite::nodeid" -> {path: ((first, last), ...)}; paths are keys of ``files``
    tests: dict[str, dict[str, tuple[tuple[int, int], ...]]] = field(default_factory=dict)


# --- line ranges ---------------------------------------------------------------------------------


def to_ranges(lines: Any) -> tuple[tuple[int, int], ...]:
    """Sorted, merged ``(first, last)`` ranges of the line numbers in ``lines``."""
    ranges: list[list[int]] = []
    for line in sorted(set(lines)):
        if ranges and line == ranges[-1][1] + 1:
            ranges[-1][1] = line
        else:
            ranges.append([line, line])
    return tuple((first, last) for first, last in ranges)


def ranges_text(ranges: tuple[tuple[int, int], ...]) -> str:
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def parse_ranges(text: str) -> tuple[tuple[int, int], ...]:
    """``1-4,9`` -> ((1, 4), (9, 9)); ValueError for anything else (reversed, zero, unsorted)."""
    if not isinstance(text, str) or not _RANGES.fullmatch(text):
        raise ValueError("line ranges must look like 1-4,9")
    ranges = []
    previous = 0
    for part in text.split(","):
        first, _, last = part.partition("-")
        a, b = int(first), int(last or first)
        if not 0 < a <= b <= MAX_LINE or a <= previous:
            raise ValueError(f"line ranges out of order or out of bounds: {part}")
        ranges.append((a, b))
        previous = b
    return tuple(ranges)


# --- writing -------------------------------------------------------------------------------------


def to_json(impact: ImpactMap) -> dict[str, Any]:
    index = {path: position for position, path in enumerate(impact.files)}
    return {
        "schema": SCHEMA, "version": VERSION,
        "commit": impact.commit, "dirty": impact.dirty, "platform_key": impact.platform_key,
        "created_at": impact.created_at, "suites": list(impact.suites),
        "files": [[path, sha] for path, sha in impact.files.items()],
        "tests": {key: {str(index[path]): ranges_text(ranges) for path, ranges in per_file.items()}
                  for key, per_file in impact.tests.items()},
    }


def encode(impact: ImpactMap) -> bytes:
    """The compressed file; ImpactMapError when it is over a bound (the map is then not written)."""
    if len(impact.tests) > MAX_TESTS:
        raise ImpactMapError(f"impact map not written: {len(impact.tests):,} tests, over the {MAX_TESTS:,} limit")
    if len(impact.files) > MAX_FILES:
        raise ImpactMapError(f"impact map not written: {len(impact.files):,} files, over the {MAX_FILES:,} limit")
    raw = json.dumps(to_json(impact), separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace")
    if len(raw) > MAX_UNCOMPRESSED_BYTES:
        raise ImpactMapError(f"impact map not written: {len(raw):,} bytes of JSON, over the "
                             f"{MAX_UNCOMPRESSED_BYTES // (1024 * 1024)} MB limit")
    packed = gzip.compress(raw, compresslevel=6, mtime=0)
    if len(packed) > MAX_COMPRESSED_BYTES:
        raise ImpactMapError(f"impact map not written: {len(packed):,} bytes compressed, over the "
                             f"{MAX_COMPRESSED_BYTES // (1024 * 1024)} MB limit")
    return packed


def write_map(impact: ImpactMap, path: Path) -> int:
    """Write ``impact`` to ``path`` (a file, or the folder for impact.json.gz) atomically; returns its size."""
    path = path / FILENAME if path.is_dir() else path
    packed = encode(impact)
    with atomic.replacing(path, binary=True) as handle:
        handle.write(packed)
    return len(packed)


def combine(maps: list[ImpactMap]) -> ImpactMap:
    """One map from the shards (or suites run as separate jobs) of one recorded commit.

    Shards of one run hold disjoint tests; the same test in two maps (a suite run twice) gets the
    union of its lines. Maps of different commits, trees or platforms describe different code:
    ImpactMapError, the merged run then has no map (a notice), never a wrong one.
    """
    if not maps:
        raise ImpactMapError("no impact map to combine")
    first = maps[0]
    for other in maps[1:]:
        if (other.commit, other.dirty, other.platform_key) != (first.commit, first.dirty, first.platform_key):
            raise ImpactMapError(f"impact maps of different runs cannot be combined: {first.commit[:12]} on "
                                 f"{first.platform_key} and {other.commit[:12]} on {other.platform_key}")
        for path, sha in other.files.items():
            if first.files.get(path, sha) != sha:
                raise ImpactMapError(f"impact maps disagree on the text of {path}: not recorded from one tree")
    files: dict[str, str] = {}
    tests: dict[str, dict[str, set[int]]] = {}
    for impact in maps:
        files.update(impact.files)
        for key, per_file in impact.tests.items():
            merged = tests.setdefault(key, {})
            for path, ranges in per_file.items():
                merged.setdefault(path, set()).update(line for a, b in ranges for line in range(a, b + 1))
    return ImpactMap(commit=first.commit, dirty=first.dirty, platform_key=first.platform_key,
                     created_at=max(m.created_at for m in maps),
                     suites=sorted({suite for m in maps for suite in m.suites}),
                     files=dict(sorted(files.items())),
                     tests={key: {path: to_ranges(lines) for path, lines in sorted(per_file.items())}
                            for key, per_file in sorted(tests.items())})


# --- reading -------------------------------------------------------------------------------------


def _refuse(source: str, why: str) -> ImpactMapError:
    return ImpactMapError(f"{source} is not a usable doorbell-ci impact map: {why}")


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _decompress(packed: bytes, source: str) -> bytes:
    """gunzip with a bound on the output: a small file that inflates to gigabytes is refused early."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(packed, MAX_UNCOMPRESSED_BYTES + 1)
    except zlib.error as error:
        raise _refuse(source, f"not gzip ({error})") from None
    if len(raw) > MAX_UNCOMPRESSED_BYTES:
        raise _refuse(source, f"it inflates to more than {MAX_UNCOMPRESSED_BYTES // (1024 * 1024)} MB")
    if not inflater.eof:
        raise _refuse(source, "the gzip stream is cut short")
    return raw


def read_map(path: Path) -> ImpactMap:
    """The map in ``path`` (the file, or the folder holding impact.json.gz); ImpactMapError if unusable."""
    path = path / FILENAME if path.is_dir() else path
    source = str(path)
    try:
        # it may come from an artifact or a folder the tests wrote: never follow a link, never wait on a FIFO
        packed = nofollow.read_bounded(path, MAX_COMPRESSED_BYTES)
    except nofollow.TooLarge as big:
        limit = MAX_COMPRESSED_BYTES // (1024 * 1024)
        raise _refuse(source, f"{big.size:,} bytes, over the {limit} MB limit") from None
    except FileNotFoundError:
        raise ImpactMapError(f"{source} does not exist") from None
    except OSError as error:
        why = "it is a symbolic link" if error.errno == errno.ELOOP else error.strerror or str(error)
        raise ImpactMapError(f"{source} could not be read: {why}") from None
    raw = _decompress(packed, source)
    try:
        document = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:  # bad JSON and bad UTF-8 are ValueErrors
        raise _refuse(source, f"not JSON ({str(error)[:200]})") from None
    return parse(document, source)


def _text(value: Any, what: str, source: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise _refuse(source, f"{what} must be a string of at most {limit:,} characters")
    return value


def parse(document: Any, source: str = "impact map") -> ImpactMap:
    """Check ``document`` field by field against version 1; the first problem is the error."""
    if not isinstance(document, dict):
        raise _refuse(source, "not a JSON object")
    if document.get("schema") != SCHEMA:
        raise _refuse(source, f"schema is {str(document.get('schema'))[:60]!r}, expected {SCHEMA!r}")
    if document.get("version") != VERSION or isinstance(document.get("version"), bool):
        raise _refuse(source, f"version {str(document.get('version'))[:20]!r} is not {VERSION} (written by a "
                              "different doorbell-ci: record a new map)")
    expected = {"schema", "version", "commit", "dirty", "platform_key", "created_at", "suites", "files", "tests"}
    if set(document) != expected:
        odd = sorted(set(document) ^ expected)
        raise _refuse(source, f"unexpected or missing keys: {', '.join(str(k)[:40] for k in odd[:5])}")
    commit = _text(document["commit"], "commit", source, 64)
    if not _COMMIT.fullmatch(commit):
        raise _refuse(source, "commit must be a hexadecimal git sha")
    if not isinstance(document["dirty"], bool):
        raise _refuse(source, "dirty must be true or false")
    platform_key = _text(document["platform_key"], "platform_key", source, 200)
    created_at = _text(document["created_at"], "created_at", source, 64)
    suites = document["suites"]
    if not isinstance(suites, list) or len(suites) > 1000 or not all(isinstance(s, str) and s for s in suites):
        raise _refuse(source, "suites must be a list of suite names")
    files_list = document["files"]
    if not isinstance(files_list, list) or len(files_list) > MAX_FILES:
        raise _refuse(source, f"files must be a list of at most {MAX_FILES:,} [path, sha1] pairs")
    files: dict[str, str] = {}
    for entry in files_list:
        if not (isinstance(entry, list) and len(entry) == 2):
            raise _refuse(source, "each files entry must be [path, sha1]")
        path = _text(entry[0], "a file path", source)
        if not _is_relative_posix(path):
            raise _refuse(source, f"file path {path[:80]!r} is not a project-relative path")
        if not isinstance(entry[1], str) or not _SHA1.fullmatch(entry[1]):
            raise _refuse(source, f"file {path[:80]!r} has no sha1")
        if path in files:
            raise _refuse(source, f"file {path[:80]!r} is listed twice")
        files[path] = entry[1]
    paths = list(files)
    tests_doc = document["tests"]
    if not isinstance(tests_doc, dict) or len(tests_doc) > MAX_TESTS:
        raise _refuse(source, f"tests must be an object of at most {MAX_TESTS:,} tests")
    tests: dict[str, dict[str, tuple[tuple[int, int], ...]]] = {}
    for key, per_file in tests_doc.items():
        _text(key, "a test key", source)
        if "::" not in key:
            raise _refuse(source, f"test key {key[:80]!r} is not suite::nodeid")
        if not isinstance(per_file, dict):
            raise _refuse(source, f"test {key[:80]!r} must map file indexes to line ranges")
        lines: dict[str, tuple[tuple[int, int], ...]] = {}
        for index_text, ranges in per_file.items():
            if not index_text.isascii() or not index_text.isdigit() or int(index_text) >= len(paths):
                raise _refuse(source, f"test {key[:80]!r} names file index {index_text[:20]!r}, not in files")
            try:
                lines[paths[int(index_text)]] = parse_ranges(ranges)
            except ValueError as error:
                raise _refuse(source, f"test {key[:80]!r}: {error}") from None
        tests[key] = lines
    return ImpactMap(commit=commit, dirty=document["dirty"], platform_key=platform_key, created_at=created_at,
                     suites=list(suites), files=files, tests=tests)


def _is_relative_posix(path: str) -> bool:
    if not path or path.startswith("/") or "\\" in path or "\x00" in path or re.match(r"[A-Za-z]:", path):
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))
