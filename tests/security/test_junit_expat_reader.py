"""XML attacks against the expat JUnit reader (issue 17), in every form the old reader was safe against.

``results._ExpatReader`` drives pyexpat itself instead of going through defusedxml's parser, with
defusedxml's refusals installed as expat handlers. Each attack here is a real file read by
``read_junit``: it must be a CollectError that says the DTD or entities are refused (or, for the
harmless forms, be read without expanding anything), the secret file's text must appear nowhere
(results or message), and the listening socket must never be contacted. The same files through
the defusedxml reader of before (``tests/junit_reference.py``) give the same refusals.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

import pytest

from doorbell_ci.errors import CollectError
from doorbell_ci.results import read_junit
from tests.junit_reference import read_junit_reference
from tests.security.test_hostile_results import BILLION_LAUGHS
from tests.security.test_junit_limits import _Listener

SECRET = "doorbell-secret-expat-5d2e81"
REFUSED = "declares a DTD or entities, which are refused"


@pytest.fixture
def bait(tmp_path: Path) -> Iterator[tuple[Path, _Listener]]:
    """A secret file and a listening socket: what an entity-resolving parser would read or call."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    (tmp_path / "secret.dtd").write_text(f'<!ENTITY leak "{SECRET}">', encoding="utf-8")
    listener = _Listener()
    try:
        yield tmp_path, listener
    finally:
        listener.close()


def _attacks(folder: Path, port: int) -> dict[str, str]:
    secret = (folder / "secret.txt").as_uri()
    dtd = (folder / "secret.dtd").as_uri()
    case = '<testsuite tests="1"><testcase classname="c" name="&x;"/></testsuite>'
    return {
        "internal-entity": f'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x "{SECRET}">]>{case}',
        "billion-laughs": BILLION_LAUGHS,
        "quadratic-blowup": f'<!DOCTYPE t [<!ENTITY x "{"a" * 50_000}">]><testsuite><testcase name="'
                            + "&x;" * 1000 + '"/></testsuite>',
        "external-entity-file": f'<!DOCTYPE t [<!ENTITY x SYSTEM "{secret}">]>{case}',
        "external-entity-network": f'<!DOCTYPE t [<!ENTITY x SYSTEM "http://127.0.0.1:{port}/leak">]>{case}',
        "external-entity-public": f'<!DOCTYPE t [<!ENTITY x PUBLIC "-//x//y" "http://127.0.0.1:{port}/p">]>{case}',
        "parameter-entity-external": f'<!DOCTYPE t [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p.dtd"> %p;]>'
                                     '<testsuite><testcase name="t"/></testsuite>',
        "parameter-entity-internal": '<!DOCTYPE t [<!ENTITY % p "<!ENTITY x \'boom\'>"> %p;]>' + case,
        "parameter-entity-file": f'<!DOCTYPE t [<!ENTITY % p SYSTEM "{dtd}"> %p;]>' + case,
        "unparsed-entity": f'<!DOCTYPE t [<!NOTATION n SYSTEM "n"><!ENTITY x SYSTEM "{secret}" NDATA n>]>'
                           '<testsuite><testcase name="t"/></testsuite>',
        "entity-in-attribute-default": f'<!DOCTYPE testsuite [<!ENTITY x "{SECRET}">'
                                       '<!ATTLIST testcase name CDATA "&x;">]><testsuite><testcase/></testsuite>',
    }


def _assert_refused(path: Path) -> None:
    for reader in (read_junit, read_junit_reference):
        with pytest.raises(CollectError, match=REFUSED) as refused:
            reader(path, "unit")
        assert SECRET not in str(refused.value)


@pytest.mark.parametrize("name", sorted(_attacks(Path("/x"), 1)))
def test_entity_attacks_are_refused(bait: tuple[Path, _Listener], name: str) -> None:
    folder, listener = bait
    path = folder / f"{name}.xml"
    path.write_text(_attacks(folder, listener.port)[name], encoding="utf-8")
    _assert_refused(path)
    assert listener.connections == []


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("name", ["internal-entity", "external-entity-file", "parameter-entity-external"])
def test_a_dtd_after_a_bom_or_in_another_encoding_is_refused(bait: tuple[Path, _Listener], name: str,
                                                            encoding: str) -> None:
    """A byte order mark or UTF-16/32 must not hide the DOCTYPE from the refusal (the encodings expat
    reads itself, with a BOM or a declaration, and one it needs Python's codecs for)."""
    folder, listener = bait
    text = _attacks(folder, listener.port)[name].removeprefix('<?xml version="1.0"?>')
    if encoding in ("utf-16-le", "utf-16-be"):  # no BOM: the declaration names the encoding
        data = codecs.BOM_UTF16_LE + text.encode(encoding) if encoding == "utf-16-le" else (
            f'<?xml version="1.0" encoding="UTF-16BE"?>{text}'.encode(encoding))
    elif encoding == "utf-32":
        data = f'<?xml version="1.0" encoding="UTF-32"?>{text}'.encode(encoding)
    else:
        data = text.encode(encoding)
    path = folder / f"{name}-{encoding}.xml"
    path.write_bytes(data)
    with pytest.raises(CollectError) as refused:
        read_junit(path, "unit")
    assert SECRET not in str(refused.value)
    with pytest.raises(CollectError) as before:
        read_junit_reference(path, "unit")
    assert str(refused.value) == str(before.value)
    if encoding != "utf-32":  # expat reads these itself, so it reaches the DOCTYPE and refuses it
        assert REFUSED in str(refused.value)
    assert listener.connections == []


def test_a_doctype_alone_is_read_and_nothing_is_fetched(bait: tuple[Path, _Listener]) -> None:
    folder, listener = bait
    forms = {
        "bare": "<!DOCTYPE testsuite>",
        "external-network": f'<!DOCTYPE testsuite SYSTEM "http://127.0.0.1:{listener.port}/evil.dtd">',
        "external-file": f'<!DOCTYPE testsuite SYSTEM "{(folder / "secret.dtd").as_uri()}">',
        "public": f'<!DOCTYPE testsuite PUBLIC "-//x//y" "http://127.0.0.1:{listener.port}/p.dtd">',
        "element-declarations": "<!DOCTYPE testsuite [<!ELEMENT testsuite ANY><!ATTLIST testcase n CDATA #IMPLIED>]>",
    }
    for form, doctype in forms.items():
        path = folder / f"doctype-{form}.xml"
        path.write_text(f'<?xml version="1.0"?>{doctype}<testsuite tests="1"><testcase name="t{form}"/></testsuite>',
                        encoding="utf-8")
        assert [t.name for t in read_junit(path, "unit")] == [f"t{form}"]
        assert read_junit(path, "unit") == read_junit_reference(path, "unit")
    assert listener.connections == []


def test_an_entity_from_a_dtd_that_is_never_read_stays_unresolved(bait: tuple[Path, _Listener]) -> None:
    """secret.dtd declares ``leak``; the reader never opens it, so ``&leak;`` in text is an undefined
    entity (an error) and in an attribute value is dropped: the secret appears nowhere."""
    folder, listener = bait
    doctype = f'<!DOCTYPE testsuite SYSTEM "{(folder / "secret.dtd").as_uri()}">'
    in_text = folder / "in-text.xml"
    in_text.write_text(f'{doctype}<testsuite><testcase name="t"><failure>&leak;</failure></testcase></testsuite>',
                       encoding="utf-8")
    with pytest.raises(CollectError, match="undefined entity") as refused:
        read_junit(in_text, "unit")
    assert SECRET not in str(refused.value)
    in_attribute = folder / "in-attribute.xml"
    in_attribute.write_text(f'{doctype}<testsuite><testcase name="t&leak;" classname="&leak;"/></testsuite>',
                            encoding="utf-8")
    (test,) = read_junit(in_attribute, "unit")
    assert SECRET not in repr(test) and test.name == "t"
    assert listener.connections == []


def test_xinclude_is_not_processed(bait: tuple[Path, _Listener]) -> None:
    """An XInclude element is an element like any other: the file it names is never read into a result."""
    folder, listener = bait
    path = folder / "xinclude.xml"
    include = (f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{(folder / "secret.txt").as_uri()}" '
               'parse="text"/>')
    remote = f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="http://127.0.0.1:{listener.port}/x"/>'
    path.write_text(f'<testsuite>{include}<testcase name="a">{include}</testcase><testcase name="b">'
                    f'<failure message="m">{include}{remote}</failure><system-out>{include}</system-out>'
                    "</testcase></testsuite>", encoding="utf-8")
    tests = read_junit(path, "unit")
    assert [t.name for t in tests] == ["a", "b"] and tests[1].outcome == "failed"
    assert SECRET not in repr(tests)
    assert tests == read_junit_reference(path, "unit")
    assert listener.connections == []
