"""Fuzzing ``results.read_junit`` through its public function: only CollectError escapes, nothing is resolved.

Documents are built from JUnit's own elements (testsuites, testsuite, testcase, failure, error,
skipped, system-out, properties...) with random attributes, text, nesting and character
references, behind random prologs: XML declarations of several encodings (sometimes not the
one used), BOMs, DOCTYPEs declaring internal entities, entity bombs, external entities that
name a secret file or a listening local port, external DTDs. Some are then cut short or
damaged byte by byte. Properties: the secret never appears in a result, the port never sees a
connection, every result's numbers are finite, and a valid file's counts equal its own
``tests``/``failures``/``errors``/``skipped`` attributes.

Example counts: see tests/security/fuzzing.py (``HYPOTHESIS_PROFILE=fuzz`` for a long session).
"""

from __future__ import annotations

import math
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from doorbell_ci.errors import CollectError
from doorbell_ci.results import MAX_TEXT, Counts, Outcome, TestResult, read_junit
from tests.security.fuzzing import HOSTILE_TEXT, fuzz_settings, one_in

SECRET = "doorbell-secret-4f1c9a"  # the content of the file external entities point at


@dataclass
class _Sentinels:
    """A file holding SECRET and a listening port: what an entity-resolving parser would read or call."""

    secret_file: Path
    listener: socket.socket

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/evil.dtd"

    def was_called(self) -> bool:
        try:
            connection, _ = self.listener.accept()
        except BlockingIOError:
            return False
        connection.close()
        return True


_SENTINELS: _Sentinels | None = None


def _sentinels() -> _Sentinels:
    """One per test process (hypothesis runs many examples in one test function, so no fixture)."""
    global _SENTINELS
    if _SENTINELS is None:
        secret = Path(tempfile.mkdtemp(prefix="doorbell-fuzz-")) / "secret.txt"
        secret.write_text(SECRET)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.setblocking(False)
        _SENTINELS = _Sentinels(secret, listener)
    return _SENTINELS


# --- structured hostile documents -----------------------------------------------------------------

_TAGS = st.sampled_from(["testsuites", "testsuite", "testsuite", "testcase", "testcase", "testcase", "failure",
                         "error", "skipped", "system-out", "system-err", "properties", "property", "rerunFailure",
                         "x:testcase", "TestCase", "a"])
_ATTRIBUTE_NAMES = st.sampled_from(["name", "classname", "time", "file", "line", "message", "type", "tests",
                                    "failures", "errors", "skipped", "filepath", "timestamp", "xmlns:x", "value"])
_ATTRIBUTE_VALUES = st.one_of(HOSTILE_TEXT, st.sampled_from(["12", " 7 ", "0", "1.5", "-0.0", "1e308", "pytest"]))
_TEXTS = st.one_of(
    st.just(""), HOSTILE_TEXT, st.sampled_from(["&amp;", "&#0;", "&#x10FFFF;", "&#x110000;", "&#65;", "&lt;tag&gt;",
                                                "<![CDATA[<script>]]>", "]]>", "&e;", "&unknown;", "\x01", "\ud7ff"]),
)


@dataclass
class _Element:
    tag: str
    attributes: list[tuple[str, str]]
    text: str
    raw_text: bool  # the text goes in unescaped: entity references, CDATA, stray markup
    children: list[_Element]

    def render(self) -> str:
        attributes = "".join(f" {name}={quoteattr(value)}" for name, value in self.attributes)
        text = self.text if self.raw_text else escape(self.text)
        inner = text + "".join(child.render() for child in self.children)
        return f"<{self.tag}{attributes}>{inner}</{self.tag}>" if inner else f"<{self.tag}{attributes}/>"


_ATTRIBUTES = st.dictionaries(_ATTRIBUTE_NAMES, _ATTRIBUTE_VALUES, max_size=3).map(lambda found: list(found.items()))
_RAW_TEXT = st.sampled_from([False, False, False, True])  # unescaped text: mostly not, or nothing would parse
_ELEMENTS = st.recursive(
    st.builds(_Element, _TAGS, _ATTRIBUTES, _TEXTS, _RAW_TEXT, st.just([])),
    lambda children: st.builds(_Element, _TAGS, _ATTRIBUTES, _TEXTS, _RAW_TEXT, st.lists(children, max_size=4)),
    max_leaves=25,
)
_ENCODINGS = ["utf-8", "UTF-8", "latin-1", "iso-8859-1", "utf-16", "utf-16-le", "ascii", "cp1252", "utf-32"]
_DECLARED_ONLY = ["doorbell-9", "UTF-4", "utf-7", "ebcdic"]  # unknown to Python, or not ASCII-compatible


def _raw(data: bytes) -> _Recipe:
    """Bytes as they are (latin-1 maps each byte to one character and back)."""
    return _Recipe(text=data.decode("latin-1"), codec="latin-1")


_SECRET_URI, _URL = "@secret-uri@", "@url@"  # filled in by _Recipe.materialise: draws must not depend on them
_LAUGHS = '<!ENTITY a "lol">' + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
_DOCTYPES = [
    "<!DOCTYPE testsuites>",  # no entity: harmless, may be read
    f'<!DOCTYPE testsuites [<!ENTITY e "{SECRET}">]>',
    f'<!DOCTYPE testsuites [<!ENTITY e SYSTEM "{_SECRET_URI}">]>',
    f'<!DOCTYPE testsuites [<!ENTITY e SYSTEM "{_URL}">]>',
    f'<!DOCTYPE testsuites [<!ENTITY % p SYSTEM "{_URL}"> %p;]>',
    f'<!DOCTYPE testsuites SYSTEM "{_URL}">',
    f"<!DOCTYPE testsuites [{_LAUGHS}]>",
]


@dataclass(frozen=True)
class _Recipe:
    """A hostile file to write: text, encoding, and the damage, as fractions of whatever length it ends up."""

    text: str
    codec: str
    bom: bool = False
    cut_at: float | None = None
    flips: tuple[tuple[float, int], ...] = ()

    @property
    def declares_entity(self) -> bool:
        return "<!ENTITY" in self.text

    def materialise(self, sentinels: _Sentinels) -> bytes:
        text = self.text.replace(_SECRET_URI, sentinels.secret_file.as_uri()).replace(_URL, sentinels.url)
        data = (b"\xef\xbb\xbf" if self.bom else b"") + text.encode(self.codec, errors="replace")
        if self.cut_at is not None:  # a killed pytest: cut mid-element
            data = data[: int(len(data) * self.cut_at)]
        mutable = bytearray(data)
        for where, value in self.flips if mutable else ():
            mutable[min(int(len(mutable) * where), len(mutable) - 1)] = value
        return bytes(mutable)


@st.composite
def _recipes(draw: st.DrawFn) -> _Recipe:
    root = draw(_ELEMENTS)
    tag = draw(st.sampled_from(["testsuites", "testsuite"])) if draw(st.integers(0, 3)) else root.tag
    children = list(root.children)
    if one_in(draw, 3):  # an entity used where a reader that resolved it would copy it into a result
        children.append(_Element("testcase", [("name", "t")], "", False,
                                 [_Element("failure", [("message", "m")], "&e;", True, [])]))
    body = _Element(tag, root.attributes, root.text, root.raw_text, children).render()
    doctype = draw(st.one_of(st.just(""), st.just(""), st.sampled_from(_DOCTYPES)))
    encoding = draw(st.sampled_from(_ENCODINGS + _DECLARED_ONLY))
    declaration = draw(st.sampled_from(["", f'<?xml version="1.0" encoding="{encoding}"?>', '<?xml version="1.0"?>',
                                        '<?xml version="1.1"?>', '<?xml-stylesheet href="x.xsl"?>']))
    if declaration.startswith("<?xml version"):
        if encoding in _DECLARED_ONLY or one_in(draw, 4):  # sometimes not the one declared
            codec = draw(st.sampled_from(_ENCODINGS))
        else:
            codec = encoding
    else:
        codec = "utf-8" if draw(st.integers(0, 3)) else draw(st.sampled_from(_ENCODINGS))
    return _Recipe(
        text=declaration + doctype + body,
        codec=codec,
        bom=one_in(draw, 10),
        cut_at=draw(st.floats(0, 1)) if one_in(draw, 8) else None,
        flips=tuple(draw(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4)))
        if one_in(draw, 8) else (),
    )


@fuzz_settings(300)
@given(recipe=st.one_of(_recipes(), _recipes(), _recipes(), st.binary(max_size=200).map(_raw)))
@example(recipe=_raw(b'<testsuite><testcase name="a" line="\xc2\xb2"/></testsuite>'))  # ValueError from int()
@example(recipe=_raw(b'<testsuite><testcase name="a" line="' + b"9" * 5000 + b'"/></testsuite>'))  # ValueError
@example(recipe=_raw(b'<testsuite><testcase name="a" time="nan"/></testsuite>'))  # NaN into report.json
def test_only_collect_errors_escape_and_no_entity_is_resolved(recipe: _Recipe) -> None:
    sentinels = _sentinels()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "junit-unit.xml"
        path.write_bytes(recipe.materialise(sentinels))
        try:
            results = read_junit(path, "unit")
        except CollectError as error:
            event("refused")
            assert "\n" not in str(error) and path.name in str(error)
            results = []
        else:
            event("read")
            assert not recipe.declares_entity, "a DTD declaring entities must be refused, not read"
            _check_results(results)
    assert not sentinels.was_called(), "the reader connected to the URL of an external entity or DTD"
    assert not any(SECRET in text for result in results for text in _texts(result))


def _texts(result: TestResult) -> list[str]:
    return [result.name, result.classname, result.message, result.details, result.stdout, result.stderr,
            result.file or ""]


def _check_results(results: list[TestResult]) -> None:
    """What the reports rely on: finite durations, sane lines, clipped text."""
    for result in results:
        assert math.isfinite(result.duration) and result.duration >= 0
        assert result.line is None or (isinstance(result.line, int) and 0 <= result.line < 10**10)
        assert result.name and result.suite == "unit"
        for text in (result.message, result.details, result.stdout, result.stderr):
            assert len(text) <= MAX_TEXT + 100


# --- valid files: the counts are the file's own --------------------------------------------------

_OUTCOMES = st.sampled_from([Outcome.PASSED, Outcome.FAILED, Outcome.ERROR, Outcome.SKIPPED])
_NAMES = st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=20)


@st.composite
def _valid_files(draw: st.DrawFn) -> tuple[str, list[tuple[str, Outcome, int | None]], bool]:
    """A pytest-like file: testsuites > testsuite > testcases, each suite carrying its true counts."""
    suites = draw(st.lists(st.lists(st.tuples(_NAMES, _OUTCOMES, st.one_of(st.none(), st.integers(0, 10**6))),
                                    max_size=6), min_size=1, max_size=3))
    pytest_named = draw(st.booleans())
    parts = ["<testsuites>"]
    for cases in suites:
        counts = Counts.of(TestResult("s", name, outcome=outcome) for name, outcome, _ in cases)
        parts.append(f'<testsuite name="{"pytest" if pytest_named else "suite"}" tests="{counts.tests}" '
                     f'failures="{counts.failed}" errors="{counts.errors}" skipped="{counts.skipped}">')
        for name, outcome, line in cases:
            tag = {Outcome.FAILED: "failure", Outcome.ERROR: "error", Outcome.SKIPPED: "skipped"}.get(outcome)
            body = f'<{tag} message={quoteattr(name)}>{escape(name)}</{tag}>' if tag else ""
            line_attribute = f' line="{line}"' if line is not None else ""
            parts.append(f'<testcase classname="c" name={quoteattr(name)} time="0.5"{line_attribute}>{body}</testcase>')
        parts.append("</testsuite>")
    parts.append("</testsuites>")
    flat = [case for cases in suites for case in cases]
    return "".join(parts), flat, pytest_named


@fuzz_settings(200)
@given(valid=_valid_files())
def test_a_valid_files_counts_equal_its_own_attributes(
        valid: tuple[str, list[tuple[str, Outcome, int | None]], bool]) -> None:
    text, cases, pytest_named = valid
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "junit.xml"
        path.write_text('<?xml version="1.0" encoding="utf-8"?>' + text, encoding="utf-8")
        results = read_junit(path, "unit")
    assert [(r.name, r.outcome) for r in results] == [(name, outcome) for name, outcome, _ in cases]
    assert [r.line for r in results] == [None if line is None else line + pytest_named for _, _, line in cases]
    assert Counts.of(results) == Counts.of(TestResult("s", name, outcome=outcome) for name, outcome, _ in cases)
    assert all(r.duration == 0.5 for r in results)


# --- once an escape from read_junit, found by fuzzing -----------------------------------------------


def test_an_unknown_declared_encoding_is_a_collect_error(tmp_path: Path) -> None:
    """expat asks the codecs module for the declared encoding; an unknown one raised LookupError."""
    path = tmp_path / "junit.xml"
    path.write_text('<?xml version="1.0" encoding="doorbell-9"?><testsuite><testcase name="a"/></testsuite>')
    with pytest.raises(CollectError, match="junit.xml declares an encoding Python does not know"):
        read_junit(path, "unit")
