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
import functools
import html
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from doorbell_ci import atomic

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
    """The forms a secret takes in our outputs: as is, base64, JSON- and XML-escaped, line by line."""
    encoded = base64.b64encode(_to_bytes(value)).decode()
    forms = {value, encoded, encoded.rstrip("="), json.dumps(value)[1:-1],
             html.escape(value, quote=True), html.escape(value, quote=False)}
    for line in value.splitlines():  # a line-by-line log never holds a multi-line value whole
        forms.update({line.strip(), html.escape(line.strip())})
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


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
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

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


# --- files -----------------------------------------------------------------------------------


def _is_binary(head: bytes) -> bool:
    return b"\0" in head[:8192]


def _copy_redacted(source: BinaryIO, target: BinaryIO, redactor: Redactor, same_length: bool) -> None:
    stream = redactor.stream(same_length)
    while chunk := source.read(_CHUNK):
        target.write(stream.feed(chunk))
    target.write(stream.feed(b"", final=True))


def file_contains_secret(path: Path, redactor: Redactor) -> bool:
    """Stream the file, keeping enough overlap between chunks to see a secret that spans two."""
    overlap = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            window = overlap + chunk
            if redactor.contains(window):
                return True
            overlap = window[-(redactor.max_length - 1):] if redactor.max_length > 1 else b""
    return False


def scrub_file(path: Path, redactor: Redactor) -> bool:
    """Rewrite ``path`` with every secret masked, atomically (temp file + rename); True if it changed.

    A text file gets ``***``; a binary one (a coverage SQLite database) gets one ``*`` per byte of
    the secret so its internal offsets stay valid.
    """
    if not redactor or not file_contains_secret(path, redactor):
        return False
    with open(path, "rb") as handle:
        binary = _is_binary(handle.read(8192))
    mode = path.stat().st_mode & 0o7777
    with open(path, "rb") as source, atomic.replacing(path, binary=True, mode=mode) as target:
        _copy_redacted(source, target, redactor, same_length=binary)
    return True


def scrub_tree(folder: Path, redactor: Redactor | None = None) -> list[Path]:
    """Scrub every regular file under ``folder`` (the suites wrote some of them); symlinks are not
    followed, so nothing outside the folder is ever rewritten. Returns the files that changed."""
    redactor = current() if redactor is None else redactor
    changed: list[Path] = []
    if not redactor:
        return changed
    for root, _dirs, files in os.walk(folder, followlinks=False):
        for name in files:
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                continue
            try:
                if scrub_file(path, redactor):
                    changed.append(path)
            except OSError:
                continue  # unreadable or read-only: its leak, if any, is caught by nothing we write
    return changed


# --- the console -----------------------------------------------------------------------------


class RedactingStream:
    """A text stream that masks secrets in everything written to it (stdout / stderr of the CLI).

    Our own ``::add-mask::`` commands pass unchanged: they are how the Actions runner learns what
    to hide, and the runner hides the line itself. Only the exact command for a known secret does:
    a test named ``::add-mask::<token>`` gets no free pass.
    """

    def __init__(self, stream: TextIO, redactor: Redactor) -> None:
        from doorbell_ci.github.actions import escape_data

        self._stream = stream
        self._redactor = redactor
        self._mask_commands = frozenset(f"::add-mask::{escape_data(secret)}" for secret in redactor.spellings)

    def write(self, text: str) -> int:
        if text not in self._mask_commands:
            text = self._redactor.redact(text)
        return self._stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def redacting_console(redactor: Redactor | None = None) -> Iterator[None]:
    """While inside, sys.stdout and sys.stderr mask secrets (tracebacks, notices, every print)."""
    redactor = current() if redactor is None else redactor
    if not redactor:
        yield
        return
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
