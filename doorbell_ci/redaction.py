"""Secrets never leave doorbell-ci: one Redactor, built from the environment, used at every exit.

Text reaches the outside world through many doors: the console, each suite's log, report.json,
report.html, summary.md, junit.xml, the PR comment and check run, the CLI's error line, and
files the suites write into the output folder themselves. One rule in one module is easy to
audit; each door calls it. The rule (also in docs/ENVIRONMENTS.md):

* the GitHub token variables (``TOKEN_VARIABLES``) hold secrets;
* so does any variable whose name ends in TOKEN, SECRET, PASSWORD, PASSWD, KEY or _PAT
  (any case), unless it is in ``NOT_SECRET_VARIABLES`` or its value is obviously not a secret
  (a number, a yes/no word, an absolute path that exists);
* a value shorter than ``MIN_SECRET_LENGTH`` characters is never treated as a secret, so that
  ``GITHUB_TOKEN=x`` in a test setup cannot turn every ``x`` of a report into ``***``.

Each secret is replaced by ``***``, and so are the forms it takes on the way out: its base64,
JSON-escaped and XML-escaped spellings, each line of a multi-line value, and, for a token-like
value (20+ characters, no spaces, not a path or URL), any run of 12+ of its characters: pytest
shows a long string as ``'ghp_1d5ADtVW...gGItGmXxhocvz'``. Suites never see
the GitHub token variables at all (:func:`without_github_tokens`): tests do not need write
access to the repository.
"""

from __future__ import annotations

import base64
import bisect
import errno
import functools
import html
import json
import os
import re
import stat
import sys
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from doorbell_ci import nofollow

MASK = "***"
MASK_BYTES = MASK.encode()
MIN_SECRET_LENGTH = 8
FRAGMENT_MIN = 12  # this many characters of a token-like secret in a row are a leak too (pytest abbreviates)
TOKEN_LIKE_LENGTH = 20  # from this length an unbroken secret is token-like (see _token_like)
_WINDOW = (FRAGMENT_MIN + 1) // 2  # aligned pieces this long: every FRAGMENT_MIN run contains one

# What GitHub and the action put a token in. Suites never receive these (without_github_tokens).
TOKEN_VARIABLES = (
    "GITHUB_TOKEN", "GH_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN", "DOORBELL_CI_GITHUB_TOKEN",
    "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "INPUT_GITHUB-TOKEN", "INPUT_GITHUB_TOKEN",
    "INPUT_TOKEN",
)
# Useless without the token, and they point at the runner's internal services: not for tests either.
RUNNER_SERVICE_VARIABLES = ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_RUNTIME_URL", "ACTIONS_CACHE_URL",
                            "ACTIONS_RESULTS_URL")
SECRET_SUFFIXES = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "_PAT")
# Names that match a suffix but hold an identity, not a secret: masking them would mangle reports.
NOT_SECRET_VARIABLES = frozenset({"DOORBELL_CI_REPORT_KEY", "GPG_KEY"})
_NOT_SECRET_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "none", "null", "undefined"})

_CHUNK = 1024 * 1024  # bytes read at a time when scrubbing a file


def is_secret_variable(name: str, value: str) -> bool:
    """The documented rule (module docstring) for one environment variable."""
    if len(value) < MIN_SECRET_LENGTH:
        return False
    upper = name.upper()
    if upper in TOKEN_VARIABLES:
        return True
    if upper in NOT_SECRET_VARIABLES or not upper.endswith(SECRET_SUFFIXES):
        return False
    stripped = value.strip()
    if stripped.lower() in _NOT_SECRET_WORDS or re.fullmatch(r"[-+]?[0-9.]+", stripped):
        return False
    return not (os.path.isabs(stripped) and os.path.exists(stripped))  # a key *file*'s path is not the key


def _spellings(value: str) -> set[str]:
    """The forms a secret takes in our outputs: as is, base64, JSON- and XML-escaped, line by line.

    Escapes a reader decodes (``&#103;``, ``\\u0067``, ``%67``...) in any mix are found by decoding
    the text (:func:`_decoded_layers`), not by listing spellings. base64 is listed, at each of
    its three alignments: the token after one or two other bytes encodes to different characters.
    """
    forms = {value, json.dumps(value)[1:-1], html.escape(value, quote=True), html.escape(value, quote=False)}
    forms |= _base64_forms(_to_bytes(value))
    for line in value.splitlines():  # a line-by-line log never holds a multi-line value whole
        forms.update({line.strip(), html.escape(line.strip())})
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _base64_forms(raw: bytes) -> set[str]:
    """base64 (standard and URL-safe) of ``raw`` at offsets 0, 1 and 2 modulo 3: the characters
    that encode only ``raw``'s bytes, whatever comes before or after it."""
    forms = {base64.b64encode(raw).decode()}
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        head = (shift * 4 + 2) // 3  # characters that also hold bits of the bytes before
        whole = (shift + len(raw)) // 3 * 4  # complete groups: the rest also holds what follows
        forms.add(encoded[head:whole])
    forms |= {form.replace("+", "-").replace("/", "_") for form in forms}
    return forms | {form.rstrip("=") for form in forms}


def _to_bytes(text: str) -> bytes:
    """UTF-8 as the bytes really were: os.environ keeps undecodable bytes as lone surrogates."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _token_like(value: str) -> bool:
    """Whether pieces of ``value`` are masked too: a long unbroken string such as a GitHub token (40
    or 93 characters). A passphrase or a path would share 12-character runs with ordinary text."""
    return len(value) >= TOKEN_LIKE_LENGTH and not any(c.isspace() for c in value) \
        and not value.startswith(("/", "~", ".")) and "://" not in value


@functools.cache
def _field_names(kind: type) -> tuple[str, ...]:
    """The fields of a dataclass type (none for anything else), looked up once per type."""
    return tuple(item.name for item in fields(kind)) if is_dataclass(kind) else ()


class _Needles:
    """What to look for, in one type (str for text, bytes for files and pipes)."""

    def __init__(self, spellings: list[Any], values: list[Any]) -> None:
        self.spellings = tuple(spellings)  # longest first: a secret that contains another is masked whole
        # Aligned pieces of each value: a fragment of FRAGMENT_MIN or more characters (pytest shows
        # 'ghp_1d5ADtVW...gGItGmXxhocvz' for a long string) always contains one piece whole.
        self.windows = tuple((value[start:start + _WINDOW], value, start) for value in values
                             if len(value) >= FRAGMENT_MIN for start in range(0, len(value) - _WINDOW + 1, _WINDOW))
        # a probe that contains another one adds nothing (a value is found through its windows)
        candidates = list(dict.fromkeys([*(w for w, _, _ in self.windows), *self.spellings]))
        self.probes = tuple(c for c in candidates if not any(o != c and o in c for o in candidates))
        # one alternation: re scans the text once, ~3x faster than a substring test per probe
        separator = b"|" if self.probes and isinstance(self.probes[0], bytes) else "|"
        self._probe = re.compile(separator.join(re.escape(p) for p in self.probes)) if self.probes else None

    def spans(self, text: Any) -> list[tuple[int, int]]:
        """Sorted, merged ``(start, end)`` ranges of ``text`` that hold a secret or a fragment of one."""
        found: list[tuple[int, int]] = []
        for secret in self.spellings:
            index = text.find(secret)
            while index >= 0:
                found.append((index, index + len(secret)))
                index = text.find(secret, index + len(secret))
        for window, value, offset in self.windows:
            index = text.find(window)
            while index >= 0:
                start, end, first = index, index + len(window), offset
                while start > 0 and first > 0 and text[start - 1:start] == value[first - 1:first]:
                    start, first = start - 1, first - 1
                while end < len(text) and first + end - start < len(value) \
                        and text[end:end + 1] == value[first + end - start:first + end - start + 1]:
                    end += 1
                if end - start >= FRAGMENT_MIN:
                    found.append((start, end))
                index = text.find(window, index + 1)
        return merge_spans(found)

    def mask(self, text: Any, spans: list[tuple[int, int]], mask: Any, same_length: bool = False) -> Any:
        pieces = []
        position = 0
        for start, end in spans:
            pieces += [text[position:start], mask[:1] * (end - start) if same_length else mask]
            position = end
        pieces.append(text[position:])
        return text[:0].join(pieces)

    def hit(self, text: Any) -> bool:
        return self._probe is not None and self._probe.search(text) is not None


class Redactor:
    """Replaces every known secret, and any fragment of 12+ characters of one, with ``***``.

    Cheap on purpose (it sees every output line): a few substring tests per line, the slow path
    only when one hits, and a no-op when the environment holds no secret (most developers' machines).
    """

    def __init__(self, values: set[str] | frozenset[str] = frozenset()) -> None:
        self.values = tuple(sorted(v for v in values if len(v) >= MIN_SECRET_LENGTH))  # for ::add-mask::
        spellings: set[str] = set()
        for value in self.values:
            spellings |= _spellings(value)
        self.spellings = tuple(sorted(spellings, key=lambda s: (-len(s), s)))
        token_like = [value for value in self.values if _token_like(value)]
        self._text = _Needles(list(self.spellings), token_like)
        self._bytes = _Needles([_to_bytes(s) for s in self.spellings], [_to_bytes(v) for v in token_like])
        self.max_length = max((len(s) for s in self._bytes.spellings), default=0)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Redactor:
        environ = os.environ if environ is None else environ
        return cls({value for name, value in environ.items() if is_secret_variable(name, value)})

    def __bool__(self) -> bool:
        return bool(self.spellings)

    def redact(self, text: str) -> str:
        needles = self._text
        if not needles.hit(text):
            return text
        return needles.mask(text, needles.spans(text), MASK)

    def redact_bytes(self, data: bytes, same_length: bool = False) -> bytes:
        """``same_length`` masks with as many ``*`` as there were bytes (binary files keep their offsets)."""
        needles = self._bytes
        if not needles.hit(data):
            return data
        return needles.mask(data, needles.spans(data), MASK_BYTES, same_length)

    def contains(self, data: bytes) -> bool:
        return self._bytes.hit(data) and bool(self._bytes.spans(data))

    def redact_object(self, value: Any) -> Any:
        """Redact every string inside dataclasses, lists and dicts (keys too), in place where mutable.

        In place because the caller keeps using the object: the CLI prints the RunResult whose
        reports were just written, and it must print the redacted one.
        """
        if not self:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, list):
            value[:] = [self.redact_object(item) for item in value]
            return value
        if isinstance(value, tuple):
            return tuple(self.redact_object(item) for item in value)
        if isinstance(value, dict):
            items = [(self.redact_object(k), self.redact_object(v)) for k, v in value.items()]
            value.clear()
            value.update(items)
            return value
        names = _field_names(type(value))
        for name in names:  # a dataclass (a RunResult holds 100,000 TestResults: keep this loop lean)
            current = getattr(value, name)
            if type(current) is str:
                if self._text.hit(current):
                    object.__setattr__(value, name, self.redact(current))
            elif current is not None and not isinstance(current, (int, float, Enum)):
                object.__setattr__(value, name, self.redact_object(current))
        return value  # numbers, enums, None, paths: nothing a secret could hide in

    def stream(self, same_length: bool = False) -> StreamRedactor:
        return StreamRedactor(self, same_length)


class StreamRedactor:
    """Redacts a byte stream fed in pieces, so a secret split across two pieces is still caught.

    Each ``feed`` returns what is safe to pass on and holds back the last ``max_length - 1``
    bytes (more if a secret or fragment runs into them), which may be the start of a secret that
    ends in the next piece; ``final=True`` releases everything.
    """

    def __init__(self, redactor: Redactor, same_length: bool = False) -> None:
        self.redactor = redactor
        self.same_length = same_length
        self._carry = b""

    def feed(self, data: bytes, final: bool = False) -> bytes:
        redactor = self.redactor
        if not redactor:
            return data
        buffer = self._carry + data if self._carry else data
        if final:
            self._carry = b""
            return redactor.redact_bytes(buffer, self.same_length)
        cut = max(len(buffer) - (redactor.max_length - 1), 0)
        needles = redactor._bytes
        spans = needles.spans(buffer) if needles.hit(buffer) else []
        for start, end in spans:
            if end > cut:  # may go on in the next piece: decided then, whole
                cut = min(cut, start)
                break
        self._carry = buffer[cut:]
        return needles.mask(buffer[:cut], [s for s in spans if s[1] <= cut], MASK_BYTES, self.same_length)


_cache_lock = threading.Lock()
_cached: tuple[tuple[tuple[str, str], ...], Redactor] | None = None


def current() -> Redactor:
    """The Redactor for this process's environment, rebuilt only when a secret variable changes.

    Hot loops (each output line) hold on to the object; this lookup costs a pass over os.environ.
    """
    global _cached
    key = tuple(sorted((name, value) for name, value in os.environ.items() if is_secret_variable(name, value)))
    with _cache_lock:
        if _cached is None or _cached[0] != key:
            _cached = (key, Redactor({value for _, value in key}))
        return _cached[1]


def without_github_tokens(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment a suite inherits: everything but the GitHub token and runner-service variables."""
    dropped = {name.upper() for name in TOKEN_VARIABLES + RUNNER_SERVICE_VARIABLES}
    return {name: value for name, value in environ.items() if name.upper() not in dropped}



# --- escapes a file's reader decodes ---------------------------------------------------------

# One escape each: XML/HTML character references (decimal, hex, leading zeros, the ';' optional as
# HTML allows), HTML named entities, JSON/JavaScript/Python \\uXXXX and \\UXXXXXXXX, Python and C
# \\xHH and octal \\ooo, backslash-escaped characters, percent-encoding. A secret may mix them.
_ESCAPE = re.compile(
    rb"&(?:#0*[0-9]{1,7};?|#[xX]0*[0-9a-fA-F]{1,6};?|[A-Za-z][A-Za-z0-9]{1,31};)"
    rb"|\\(?:u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|[0-7]{3}|[\\/\"'nrtbf])|%[0-9a-fA-F]{2}")
_BACKSLASHED = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}
DECODE_ROUNDS = 3  # &amp;#103; is '&#103;' after one round, 'g' after two


@functools.lru_cache(maxsize=4096)
def _decode_escape(token: bytes) -> bytes | None:
    """The bytes one escape stands for (UTF-8 for a character), or None if it is not one."""
    try:
        if token.startswith(b"&#"):
            digits = token[2:].rstrip(b";")
            number = int(digits[1:], 16) if digits[:1] in (b"x", b"X") else int(digits)
            return chr(number).encode("utf-8", "surrogatepass")
        if token.startswith(b"&"):
            text = html.unescape(token.decode("ascii"))
            return None if text == token.decode("ascii") else text.encode("utf-8", "surrogatepass")
        if token.startswith(b"%"):
            return bytes([int(token[1:], 16)])
        kind = token[1:2]
        if kind in (b"u", b"U"):
            return chr(int(token[2:], 16)).encode("utf-8", "surrogatepass")
        if kind == b"x":
            return bytes([int(token[2:], 16)])
        if kind.isdigit():
            return bytes([int(token[1:], 8) & 0xFF])
        return _BACKSLASHED.get(kind, kind)
    except (ValueError, OverflowError):
        return None


class _Layer:
    """One round of decoding: the decoded bytes and where each escape came from."""

    def __init__(self, data: bytes) -> None:
        pieces: list[bytes] = []
        self.out_starts: list[int] = []  # where each decoded escape starts in ``decoded``
        self.escapes: list[tuple[int, int, int]] = []  # (length decoded, source start, source end)
        position = length = 0
        for match in _ESCAPE.finditer(data):
            decoded = _decode_escape(match.group())
            if decoded is None:
                continue
            start, end = match.span()
            pieces.append(data[position:start])
            length += start - position
            self.out_starts.append(length)
            self.escapes.append((len(decoded), start, end))
            pieces.append(decoded)
            length += len(decoded)
            position = end
        pieces.append(data[position:])
        self.decoded = b"".join(pieces) if self.escapes else data

    def source(self, position: int, end: bool) -> int:
        """The source offset of decoded ``position`` (for an exclusive ``end``, of ``position - 1``, plus 1)."""
        probe = position - 1 if end else position
        index = bisect.bisect_right(self.out_starts, probe) - 1
        if index < 0:
            return position
        out_start = self.out_starts[index]
        length, source_start, source_end = self.escapes[index]
        if probe < out_start + length:  # inside an escape: the whole escape
            return source_end if end else source_start
        return source_end + (position - out_start - length)


def _decoded_layers(data: bytes) -> Iterator[_Layer]:
    """Successive decodings of ``data`` while any escape is left (at most ``DECODE_ROUNDS``)."""
    for _ in range(DECODE_ROUNDS):
        layer = _Layer(data)
        if not layer.escapes:
            return
        yield layer
        data = layer.decoded


# The escapes of every JUnit file (pytest writes a quote, an apostrophe or a newline like this):
# replaced at C speed before the regular expression sees the rest. Each becomes a character that
# starts no escape, so the result is the same as decoding them one by one.
_COMMON_ENTITIES = ((b"&quot;", b'"'), (b"&apos;", b"'"), (b"&lt;", b"<"), (b"&gt;", b">"), (b"&#10;", b"\n"),
                    (b"&#13;", b"\r"), (b"&#9;", b"\t"))


def _quick_decode(data: bytes) -> tuple[bytes, bool] | None:
    """One round of decoding without the map back to the source, or None if ``data`` has no escape;
    the flag says whether an escape produced the start of another (``&amp;#103;``), so another
    round could find more."""
    decoded = data
    if b"&" in data:
        for entity, character in _COMMON_ENTITIES:
            decoded = decoded.replace(entity, character)
    nested = False

    def decode(match: re.Match[bytes]) -> bytes:
        nonlocal nested
        value = _decode_escape(match.group())
        if value is None:
            return match.group()
        nested = nested or any(start in value for start in (b"&", b"\\", b"%"))
        return value

    if b"&" in decoded or b"\\" in decoded or b"%" in decoded:
        decoded = _ESCAPE.sub(decode, decoded)
    return None if decoded == data else (decoded, nested)


def _encoded_hit(needles: _Needles, data: bytes) -> bool:
    """Whether a secret shows once the escapes are decoded (the common case, no secret, made cheap)."""
    for _ in range(DECODE_ROUNDS):
        decoded = _quick_decode(data)
        if decoded is None:
            return False
        data, nested = decoded
        if needles.hit(data):
            return True
        if not nested:
            return False
    return False


def _secret_spans(needles: _Needles, data: bytes) -> list[tuple[int, int]]:
    """Spans of ``data`` holding a secret as is, or encoded in escapes its reader would decode."""
    found = needles.spans(data) if needles.hit(data) else []
    if not _encoded_hit(needles, data):
        return found
    layers: list[_Layer] = []
    for layer in _decoded_layers(data):
        layers.append(layer)
        if needles.hit(layer.decoded):
            for start, end in needles.spans(layer.decoded):
                for back in reversed(layers):
                    start, end = back.source(start, end=False), back.source(end, end=True)
                found.append((start, end))
    if not layers:
        return found
    return merge_spans(found)



def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``(start, end)`` spans sorted, with overlapping or touching ones joined: one mask per secret."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged

# --- files -----------------------------------------------------------------------------------

# Compressed containers: their bytes hide what they hold. Those we can open are scanned inside
# (and withheld if a secret is found: masking would break their checksums); the others are withheld.
_ARCHIVE_MAGIC = {b"PK\x03\x04": "zip", b"PK\x05\x06": "zip", b"\x1f\x8b": "gzip", b"BZh": "bzip2",
                  b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd", b"7z\xbc\xaf\x27\x1c": "7z",
                  b"Rar!\x1a\x07": "rar", b"\x04\x22\x4d\x18": "lz4", b"\x1f\x9d": "compress"}
ARCHIVE_MAX_BYTES = 256 * 1024 * 1024  # decompressed, all members together
ARCHIVE_MAX_MEMBERS = 10_000
_HOLD = 64 * 1024  # bytes held back at a cut inside a line: an encoded secret may run across it


def _is_binary(head: bytes) -> bool:
    return b"\0" in head[:8192]


def _archive_kind(head: bytes) -> str | None:
    return next((kind for magic, kind in _ARCHIVE_MAGIC.items() if head.startswith(magic)), None)


def _redacted_pieces(read: Callable[[int], bytes], redactor: Redactor,
                     same_length: bool) -> Iterator[tuple[bytes, bool]]:
    """``(bytes to write, whether they changed)`` for a file read in pieces cut at line ends.

    Escapes are decoded per piece, so a piece never ends inside a line unless the line is over
    ``_CHUNK`` long; then ``_HOLD`` bytes are held back (and more if a secret runs into them).
    """
    needles = redactor._bytes
    buffer = b""
    while True:
        chunk = read(_CHUNK)
        buffer += chunk
        if not chunk:
            cut = len(buffer)
        else:
            newline = buffer.rfind(b"\n")
            cut = newline + 1 if newline >= 0 else max(len(buffer) - _HOLD, 0)
        spans = _secret_spans(needles, buffer)
        for start, end in spans:
            if start < cut < end:
                cut = start
                break
        kept = [span for span in spans if span[1] <= cut]
        out = needles.mask(buffer[:cut], kept, MASK_BYTES, same_length) if kept else buffer[:cut]
        buffer = buffer[cut:]
        yield out, bool(kept)
        if not chunk:
            return


def _archive_secret(handle: BinaryIO, kind: str, redactor: Redactor) -> str | None:
    """Why the archive cannot be published (a secret inside, or it cannot be read), else None."""
    import bz2
    import gzip
    import lzma
    import zipfile

    budget = [ARCHIVE_MAX_BYTES]

    def holds_secret(stream: BinaryIO) -> str | None:
        def read(size: int) -> bytes:
            data = stream.read(min(size, budget[0] + 1))
            budget[0] -= len(data)
            if budget[0] < 0:
                raise ValueError(f"it unpacks to more than {ARCHIVE_MAX_BYTES // (1024 * 1024)} MiB")
            return data

        head = stream.peek(8)[:8] if hasattr(stream, "peek") else b""
        if _archive_kind(head):
            return "it holds another compressed archive, which is not scanned"
        if any(changed for _, changed in _redacted_pieces(read, redactor, True)):
            return "it holds a secret"
        return None

    try:
        if kind == "zip":
            with zipfile.ZipFile(handle) as archive:
                members = archive.infolist()
                if len(members) > ARCHIVE_MAX_MEMBERS:
                    return f"it holds more than {ARCHIVE_MAX_MEMBERS} files"
                for member in members:
                    if member.flag_bits & 0x1:
                        return f"{member.filename!r} is encrypted and cannot be scanned"
                    with archive.open(member) as stream:
                        reason = holds_secret(stream)  # type: ignore[arg-type]
                    if reason:
                        return f"{member.filename!r}: {reason}"
            return None
        openers: dict[str, Callable[[], Any]] = {"gzip": lambda: gzip.GzipFile(fileobj=handle),
                                                 "bzip2": lambda: bz2.BZ2File(handle),
                                                 "xz": lambda: lzma.LZMAFile(handle)}
        if kind not in openers:
            return f"it is {kind} data, which doorbell-ci cannot scan for secrets"
        with openers[kind]() as stream:
            return holds_secret(stream)
    except Exception as error:  # noqa: BLE001 - damaged in any way: it cannot be vouched for, so it is withheld
        return f"it cannot be scanned ({type(error).__name__}: {error})"


def file_contains_secret(path: Path, redactor: Redactor) -> bool:
    """Whether the file holds a secret, as is or in escapes its reader would decode."""
    with open(path, "rb") as handle:
        return any(changed for _, changed in _redacted_pieces(handle.read, redactor, False))


def scrub_file(path: Path, redactor: Redactor) -> bool:
    """Rewrite ``path`` with every secret masked (a new file renamed over it); True if it changed.

    A text file gets ``***``; a binary one (a coverage SQLite database) gets one ``*`` per byte of
    the secret so its internal offsets stay valid. Compressed archives are not rewritten:
    :func:`scrub_output` withholds them.
    """
    if not redactor:
        return False
    outcome = _scrub_entry(path.name, None, str(path.parent), redactor)
    return outcome == "changed"


@dataclass
class Scrubbed:
    """What :func:`scrub_output` did: files rewritten, entries removed so they are never published."""

    changed: list[Path] = field(default_factory=list)
    removed: list[tuple[Path, str]] = field(default_factory=list)  # (path, why)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    # regular files at the top left unscanned (``leave``), by name: their (device, inode, mtime, size)
    left: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)

    def notices(self, folder: Path) -> list[str]:
        def name(path: Path) -> str:
            try:
                return str(path.relative_to(folder))
            except ValueError:
                return str(path)

        lines = [f"{name(path)}: removed from {folder}, not published: {why}" for path, why in self.removed]
        lines += [f"{name(path)}: could not be scanned for secrets ({why})" for path, why in self.unreadable]
        return lines


def _scrub_entry(name: str, dir_fd: int | None, folder: str, redactor: Redactor) -> str | None:
    """Scrub one regular file in the folder ``dir_fd``: ``"changed"``, ``None``, or why to withhold it."""
    handle, info = nofollow.open_regular(name, dir_fd, folder)
    with handle:
        head = handle.read(8192)
        kind = _archive_kind(head)
        handle.seek(0)
        if kind is not None:
            return _archive_secret(handle, kind, redactor)
        binary = _is_binary(head)
        if not any(changed for _, changed in _redacted_pieces(handle.read, redactor, binary)):
            return None
        handle.seek(0)
        with nofollow.replace_at(name, dir_fd, folder, info.st_mode) as target:
            for piece, _ in _redacted_pieces(handle.read, redactor, binary):
                target.write(piece)
    return "changed"


def _kind_of(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link (its target, outside doorbell-ci's control, would be uploaded)"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device or other special file"


def scrub_output(folder: Path, redactor: Redactor | None = None, leave: Collection[str] = (),
                 only: Collection[str] | None = None) -> Scrubbed:
    """Make everything under ``folder`` fit to publish: every regular file, at any depth, hidden or
    not, text or binary, has its secrets masked (also when written in escapes its reader decodes);
    a compressed archive is scanned inside and withheld if it holds a secret or cannot be read;
    links, FIFOs, sockets and devices are removed (an artifact upload follows links). Nothing
    outside ``folder`` is read, followed or changed (see :mod:`doorbell_ci.nofollow`).

    ``leave``: names of regular files directly in ``folder`` that the caller replaces right
    afterwards with files it redacted itself (the reports of this run replace the previous run's):
    not read, only noted in ``left`` so that :func:`scrub_left` scans any of them that was not
    replaced after all. At 50,000 tests they are 70 MB, 1.2-1.6 s of CPU to scan. ``only``: the
    names directly in ``folder`` to scrub, and nothing else.
    """
    redactor = current() if redactor is None else redactor
    done = Scrubbed()
    if folder.is_symlink():  # resolved when the run was configured: a test replaced it since
        done.unreadable.append((folder, "the output folder was replaced by a symbolic link during the run; "
                                        "nothing in it was scanned: do not publish it"))
        return done
    if not folder.is_dir():
        return done
    try:
        top = True
        for path, folders, entries, dir_fd in nofollow.walk(folder):
            if only is not None:  # the top folder's named entries, nothing below it
                entries = [name for name in entries if name in only] if top else []
                folders[:] = []
            leaving = leave if top else ()
            top = False
            for name in entries:
                where = Path(path) / name
                try:
                    info = nofollow.lstat(name, dir_fd, path)
                    if not stat.S_ISREG(info.st_mode):
                        nofollow.unlink(name, dir_fd, path)
                        done.removed.append((where, _kind_of(info.st_mode)))
                        continue
                    if name in leaving:
                        done.left[name] = _identity(info)
                        continue
                    if not redactor:
                        continue
                    try:
                        outcome = _scrub_entry(name, dir_fd, path, redactor)
                    except OSError:
                        raise
                    except Exception as error:  # noqa: BLE001 - a file we cannot scan is not published
                        outcome = f"it could not be scanned ({type(error).__name__}: {error})"
                    if outcome == "changed":
                        done.changed.append(where)
                    elif outcome is not None:
                        nofollow.unlink(name, dir_fd, path)
                        done.removed.append((where, outcome))
                except OSError as error:
                    reason = error.strerror or str(error)
                    if error.errno in (errno.ELOOP, errno.EINVAL):  # swapped for a link or a FIFO since the lstat
                        reason = "replaced by a link or special file while it was scanned"
                    elif error.errno in (errno.EACCES, errno.EPERM):  # a test's chmod 000: ours to read again
                        nofollow.make_owner_readable(name, dir_fd, path)
                        try:
                            outcome = _scrub_entry(name, dir_fd, path, redactor)
                        except Exception:  # noqa: BLE001 - still unreadable: withheld below
                            outcome = f"it cannot be read ({reason})"
                        if outcome is None or outcome == "changed":
                            done.changed += [where] if outcome else []
                            continue
                        reason = outcome
                    try:  # what cannot be scanned is not published
                        nofollow.unlink(name, dir_fd, path)
                        done.removed.append((where, reason))
                    except OSError:
                        done.unreadable.append((where, reason))
    except OSError as error:  # e.g. a test made the output folder itself unreadable: what was not reached is unscanned
        done.unreadable.append((folder, f"the output folder could not be walked ({error.strerror or error}); "
                                        "what was not reached was not scanned: do not publish it"))
    return done


def scrub_left(folder: Path, scrubbed: Scrubbed, redactor: Redactor | None = None) -> Scrubbed:
    """Scrub the files :func:`scrub_output` left (``leave``) that are still the files it saw.

    The caller replaces them atomically (a new inode); one it could not replace (a report that
    failed to be written) is still the earlier file, which a test may have written into, and is
    scanned now like every other file.
    """
    unchanged = []
    for name, seen in scrubbed.left.items():
        try:
            info = os.lstat(folder / name)
        except OSError:
            continue  # gone: nothing to publish
        if not stat.S_ISREG(info.st_mode) or _identity(info) == seen:
            unchanged.append(name)
    if not unchanged:
        return Scrubbed()
    return scrub_output(folder, redactor, only=unchanged)


def _identity(info: os.stat_result) -> tuple[int, int, int, int]:
    return (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)


def scrub_tree(folder: Path, redactor: Redactor | None = None) -> list[Path]:
    """:func:`scrub_output`, returning only the files that changed."""
    return scrub_output(folder, redactor).changed


# --- the console -----------------------------------------------------------------------------


# --- workflow commands ---------------------------------------------------------------------------
#
# The Actions runner reads each line of a step's stdout and stderr and obeys two command forms
# (actions/runner, src/Runner.Common/ActionCommand.cs, tried in this order by
# src/Runner.Worker/ActionCommandManager.cs for every line):
#
# * TryParseV2: the line, after TrimStart() (every char.IsWhiteSpace character), starts with
#   "::"; the command name runs to the next "::" or space;
# * TryParse (legacy): "##[" anywhere in the line; the name runs to the next "]" or space.
#
# Lines are split by StreamReader.ReadLine: at "\n", "\r" and "\r\n", so a "\r" inside a test's
# line starts a new runner line. Both matches are .NET's culture-sensitive StartsWith/IndexOf,
# which on Linux (ICU) skip "ignorable" characters such as U+200B or U+00AD: a zero-width space
# between the two colons is no defence there. Command names are compared case-insensitively and
# ``stop-commands`` registers any word as the command that resumes: every name is dangerous.
#
# So untrusted text is made inert by changing one character of each match into a visible
# full-width look-alike the runner does not match: the second ':' of a line-leading "::" becomes
# U+FF1A and the '[' of "##[" becomes U+FF3B, where "line-leading" and "between" allow any run of
# whitespace, control and format characters (more than the runner skips, never less).
_SKIPPED = ("\\x00-\\x20\\x7f-\\xa0\\xad\\u034f\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u0890-\\u0891\\u08e2"
            "\\u115f-\\u1160\\u1680\\u180b-\\u180f\\u2000-\\u200f\\u2028-\\u202f\\u205f-\\u2064\\u2066-\\u206f"
            "\\u3000\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0\\ufff9-\\ufffb\\U000110bd\\U000110cd"
            "\\U00013430-\\U00013438\\U0001bca0-\\U0001bca3\\U0001d173-\\U0001d17a\\U000e0001"
            "\\U000e0020-\\U000e007f\\U000e0100-\\U000e01ef")  # whitespace, Cc, Cf, Z*, fillers, selectors
_SKIP = f"[{_SKIPPED}]"
_V2_COMMAND = re.compile(f"(?:^|(?<=[\\r\\n]))({_SKIP}*:{_SKIP}*):")
_LEGACY_COMMAND = re.compile(f"(#{_SKIP}*#{_SKIP}*)\\[")
_BLANK_LINE = re.compile(f"{_SKIP}*")
_ONE_COLON_LINE = re.compile(f"{_SKIP}*:{_SKIP}*")
_TRAILING_HASHES = re.compile(f"(?:#{_SKIP}*){{1,2}}$")


def neutralise_commands(text: str, carried: str = "") -> str:
    """``text`` with every workflow command the Actions runner would parse made inert.

    ``carried`` stands for the line ``text`` continues (see :class:`CommandNeutraliser`); by
    default ``text`` starts a line. Plain text is returned as is.
    """
    if ":" not in text and "[" not in text:
        return text
    joined = carried + text
    body = joined.rstrip("\r\n")  # a line break that ends the text starts nothing
    if "\r" in body or "\n" in body:
        joined = _V2_COMMAND.sub(_inert_colon, joined)
    elif _V2_COMMAND.match(joined):  # one line: only its start can hold the "::" form
        joined = _V2_COMMAND.sub(_inert_colon, joined, count=1)
    if "#" in joined:
        joined = _LEGACY_COMMAND.sub(_inert_bracket, joined)
    return joined[len(carried):]


def _inert_colon(match: re.Match[str]) -> str:
    return match.group(1) + "\uff1a"


def _inert_bracket(match: re.Match[str]) -> str:
    return match.group(1) + "\uff3b"


class CommandNeutraliser:
    """:func:`neutralise_commands` for text written in pieces: a command split across two writes
    (``print(a, b)`` writes ``a``, ``" "``, ``b``) is still found.

    Only a short summary of the current line is kept: ``""`` (only skippable characters so far),
    ``":"`` (and one colon), or ``"x"`` plus the one or two ``#`` it ends with.
    """

    def __init__(self) -> None:
        self.carried = ""

    def __call__(self, text: str) -> str:
        out = neutralise_commands(text, self.carried)
        if out.endswith("\n"):  # the usual write: a whole line
            self.carried = ""
            return out
        cut = max(out.rfind("\n"), out.rfind("\r"))
        self.carried = _summary(out[cut + 1:] if cut >= 0 else self.carried + out)
        return out

    def at_line_start(self) -> bool:
        return self.carried == ""


def _summary(tail: str) -> str:
    if _BLANK_LINE.fullmatch(tail):
        return ""
    if _ONE_COLON_LINE.fullmatch(tail):
        return ":"
    hashes = _TRAILING_HASHES.search(tail)
    return "x" + ("#" * min(hashes.group().count("#"), 2) if hashes else "")


class RedactingStream:
    """A text stream that masks secrets and makes workflow commands inert in everything written to
    it (stdout / stderr of the CLI): test names, messages, notices and tracebacks all pass here.

    doorbell-ci's own commands go through :meth:`write_command` (``github.actions.command`` uses
    it): masked but not neutralised. Our ``::add-mask::`` commands pass unmasked: they are how the
    runner learns what to hide, and it hides the line itself. Only the exact command for a known
    secret does: a test named ``::add-mask::<token>`` gets no free pass.
    """

    def __init__(self, stream: TextIO, redactor: Redactor) -> None:
        self._stream = stream
        self._redactor = redactor
        self._neutralise = CommandNeutraliser()
        self._mask_commands = frozenset(f"::add-mask::{_escape_command_data(secret)}"
                                        for secret in redactor.spellings)

    def write(self, text: str) -> int:
        return self._stream.write(self._neutralise(self._redactor.redact(text)))

    def write_command(self, line: str) -> None:
        """One workflow command of doorbell-ci's own, on a line of its own."""
        if not self._neutralise.at_line_start():
            self._stream.write("\n")
        if line not in self._mask_commands:
            line = self._redactor.redact(line)
        self._stream.write(line + "\n")
        self._neutralise.carried = ""
        self._stream.flush()

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _escape_command_data(text: str) -> str:
    """@actions/core's escaping of a command's data (the same as ``github.actions.escape_data``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


@contextmanager
def redacting_console(redactor: Redactor | None = None) -> Iterator[None]:
    """While inside, sys.stdout and sys.stderr mask secrets and neutralise workflow commands
    (tracebacks, notices, every print), also when no secret is known."""
    redactor = current() if redactor is None else redactor
    saved = sys.stdout, sys.stderr
    sys.stdout = RedactingStream(sys.stdout, redactor)  # type: ignore[assignment]
    sys.stderr = RedactingStream(sys.stderr, redactor)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def mask_in_actions(redactor: Redactor | None = None, stream: TextIO | None = None) -> int:
    """Under GitHub Actions, ``::add-mask::`` each secret spelling so the runner hides it in the job log
    too (a suite's output reaches the log before our own redaction could see a new spelling).
    Returns how many masks were sent."""
    from doorbell_ci.github import actions

    if not actions.in_actions():
        return 0
    redactor = current() if redactor is None else redactor
    sent = 0
    for secret in redactor.spellings:
        if "\n" not in secret and "\r" not in secret:
            actions.add_mask(secret, stream)
            sent += 1
    return sent


def redacted_pieces(read: Callable[[], bytes], redactor: Redactor | None = None) -> Iterator[bytes]:
    """``iter(read, b"")`` with every secret masked: a suite's output, as the runner reads it.

    ``read`` returns a line or a piece of a long one; a secret cut across two pieces is still
    caught (the piece is held back until the secret could be complete).
    """
    redactor = current() if redactor is None else redactor
    if not redactor:
        yield from iter(read, b"")
        return
    stream = redactor.stream()
    for piece in iter(read, b""):
        out = stream.feed(piece, final=piece.endswith(b"\n"))
        if out:
            yield out
    rest = stream.feed(b"", final=True)
    if rest:
        yield rest
