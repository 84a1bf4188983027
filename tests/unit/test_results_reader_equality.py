"""The expat JUnit reader (issue 17) reads every file exactly as the defusedxml ``iterparse`` reader did.

``results.read_junit`` now parses with pyexpat and its own handlers; ``tests/junit_reference.py``
keeps the reader it replaced (defusedxml's pure-Python parser, every testcase through junitparser,
no shortcut for passed tests). For every fixture of other tools, for generated files of the
shapes the benchmarks use and for hand-made files at the edges of the XML model (namespaces,
comments and processing instructions inside results, CDATA, character references, BOMs, other
encodings, text before a testcase's first child), both must give equal TestResult lists and
equal JunitFacts; for broken files, the same CollectError message.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from doorbell_ci.errors import CollectError
from doorbell_ci.results import JunitFacts, read_junit
from tests.junit_factory import write_junit
from tests.junit_reference import read_junit_reference

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "junit"
_spec = importlib.util.spec_from_file_location(
    "run_report_generation", ROOT / "benchmarks" / "report_generation" / "run_report_generation.py")
assert _spec is not None and _spec.loader is not None
_benchmark = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_benchmark)
generate_junit = _benchmark.generate_junit  # the benchmark's own generator


def _both(path: Path) -> tuple[object, object]:
    """What each reader makes of ``path``: (results, facts) or the CollectError message."""
    outcomes = []
    for reader in (read_junit, read_junit_reference):
        facts = JunitFacts()
        try:
            outcomes.append((reader(path, "unit", facts=facts), facts))
        except CollectError as error:
            outcomes.append(str(error))
    return outcomes[0], outcomes[1]


def _assert_same(path: Path, readable: bool = True) -> None:
    new, reference = _both(path)
    assert new == reference, path.name
    assert isinstance(new, tuple) is readable, new


FIXTURE_FILES = sorted(FIXTURES.glob("*.xml"))
UNREADABLE = {"dtd_entity.xml", "empty.xml", "truncated.xml"}


def test_there_are_fixtures_to_compare() -> None:
    assert len(FIXTURE_FILES) >= 13


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[path.name for path in FIXTURE_FILES])
def test_every_fixture_reads_the_same(path: Path) -> None:
    _assert_same(path, readable=path.name not in UNREADABLE)


@pytest.mark.parametrize("profile", ["chatty", "terse"])
def test_the_factorys_files_read_the_same(tmp_path: Path, profile: str) -> None:
    path = tmp_path / f"{profile}.xml"
    written = write_junit(path, 400_000, profile=profile, seed=17)
    _assert_same(path)
    assert len(read_junit(path, "unit")) == written.tests


def test_the_benchmarks_file_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "bench.xml"
    counts = generate_junit(path, 3_000, seed=17)
    _assert_same(path)
    tests = read_junit(path, "unit")
    assert len(tests) == counts["tests"] and sum(t.outcome == "failed" for t in tests) == counts["failures"]


EDGES = {
    "namespaces": '<testsuites xmlns:x="urn:x"><testsuite name="pytest" x:run="1"><testcase name="a" x:extra="1"/>'
                  '<x:testcase name="not-a-case"/><testcase name="b" xml:lang="en"/>'
                  '<testcase name="c"><x:failure message="m">text</x:failure><failure x:m="1">tb</failure>'
                  "</testcase></testsuite></testsuites>",
    "comments-and-pis": '<testsuite><!-- c --><testcase name="a"><!-- before --><failure message="m">one'
                        "<!-- in -->two<?pi data?>three</failure><?pi x?></testcase>"
                        '<testcase name="b"><!-- only a comment --></testcase></testsuite>',
    "cdata": '<testsuite><testcase name="a"><failure message="m"><![CDATA[<not markup> & ]]]]><![CDATA[>]]>'
             "</failure><system-out><![CDATA[out]]></system-out></testcase></testsuite>",
    "references": '<testsuite><testcase name="&lt;a&gt; &amp; &#x1F514; &#233;" classname="c&#10;d" time="&#49;.5"/>'
                  '<testcase name="b"><error message="&quot;e&quot;">&#9;tab &amp;&amp; more</error></testcase>'
                  "</testsuite>",
    "text-before-children": '<testsuite><testcase name="a">\n  lead text\n  <skipped message="s"/>\n  tail\n'
                            '</testcase><testcase name="b">only text</testcase></testsuite>',
    "attribute-whitespace": '<testsuite><testcase name="a\tb\nc  d" classname=" c " time=" 0.5 " line=" 3 "/>'
                            '<testcase name="e" time="1e-3" line="007" file=""/></testsuite>',
    "odd-numbers": '<testsuite name="pytest"><testcase name="a" time="nan"/><testcase name="b" time="-1"/>'
                   '<testcase name="c" time="inf" line="-2"/><testcase name="d" time="1,5" line="²"/></testsuite>',
    "statuses": '<testsuite><testcase name="a" status="notrun"/><testcase name="b" result="suppressed"/>'
                '<testcase name="c" status="kaputt"/><testcase name="d" status="run"><failure/></testcase>'
                "</testsuite>",
    "flaky": '<testsuite><testcase name="a"><flakyFailure message="f">tb</flakyFailure></testcase>'
             '<testcase name="b"><failure message="m"/><rerunFailure message="r"/></testcase></testsuite>',
    "nested-and-stray": '<testsuites><testcase name="under_root"/><testsuite name="pytest"><testsuite name="in">'
                        '<testcase name="a" line="3"/><testsuite><testcase name="deep"/></testsuite></testsuite>'
                        '<testcase name="b"><testcase name="in_case"><error/></testcase></testcase>'
                        '<properties><property name="p" value="v"/></properties><o><testcase name="under_o"/></o>'
                        '</testsuite><testsuite tests="x" failures="0"><testcase name="e"/></testsuite></testsuites>',
    "declared-counts": '<testsuites tests="5" failures="1"><testsuite tests="3" failures="1" errors="0" skipped="1" '
                       'disabled="1"><testcase name="a"><failure/></testcase><testcase name="b"/></testsuite>'
                       "</testsuites>",
    # expat drops an entity it skipped from an attribute value (the DTD it might be in is never read)
    "undefined-entity-in-attribute-external-dtd": '<!DOCTYPE testsuite SYSTEM "x.dtd"><testsuite>'
                                                  '<testcase name="&nope;" classname="c&nope;"/></testsuite>',
    "doctype-without-entities": '<?xml version="1.0"?><!DOCTYPE testsuite SYSTEM "junit.dtd"><testsuite>'
                                '<testcase name="a"/></testsuite>',
    "long-text": '<testsuite><testcase name="a"><failure message="m">' + "x" * 50_000 + "\n" + "y" * 30_000
                 + "</failure><system-out>" + "o" * 70_000 + "</system-out></testcase></testsuite>",
}
ENCODED = {
    "utf8-bom": ("utf-8-sig", '<testsuite><testcase name="caf\u00e9"/></testsuite>'),
    "utf16": ("utf-16", '<?xml version="1.0" encoding="UTF-16"?><testsuite><testcase name="\U0001f514">'
                        '<failure message="m">tb</failure></testcase></testsuite>'),
    "utf16-le-bom": ("utf-16", '<testsuite><testcase name="a"/></testsuite>'),
    "latin1": ("latin-1", '<?xml version="1.0" encoding="ISO-8859-1"?><testsuite><testcase name="caf\u00e9"/>'
                          "</testsuite>"),
    "cp1252": ("cp1252", '<?xml version="1.0" encoding="windows-1252"?><testsuite><testcase name="\u20ac"/>'
                         "</testsuite>"),
    "crlf": ("utf-8", '<testsuite>\r\n<testcase name="a">\r\n<failure message="m">line1\r\nline2</failure>'
                      "\r\n</testcase>\r\n</testsuite>\r\n"),
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_edges_of_the_xml_model_read_the_same(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.xml"
    path.write_text(EDGES[name], encoding="utf-8")
    _assert_same(path)


@pytest.mark.parametrize("name", sorted(ENCODED))
def test_other_encodings_read_the_same(tmp_path: Path, name: str) -> None:
    encoding, text = ENCODED[name]
    path = tmp_path / f"{name}.xml"
    path.write_bytes(text.encode(encoding))
    _assert_same(path)


BROKEN = {
    "invalid-utf8": b'<testsuite><testcase name="caf\xe9"/></testsuite>',
    "cut-in-a-tag": b'<testsuite><testcase name="t"/><testcase na',
    "cut-between-tags": b'<testsuite tests="4" failures="1"><testcase name="t">',
    "cut-in-cdata": b'<testsuite><testcase name="t"><failure><![CDATA[abc',
    "whitespace": b"  \n ",
    "declaration-only": b'<?xml version="1.0"?>\n',
    "too-deep": b"<testsuites>" + b"<testsuite>" * 201 + b"</testsuite>" * 201 + b"</testsuites>",
    "too-deep-in-a-case": b"<testsuite><testcase>" + b"<x>" * 200 + b"</x>" * 200 + b"</testcase></testsuite>",
    "not-junit": b"<html><testcase/></html>",
    "namespaced-root": b'<j:testsuite xmlns:j="urn:j"><testcase/></j:testsuite>',
    "unbound-prefix": b'<testsuite><testcase name="a" x:y="1"/></testsuite>',
    "duplicate-attribute": b'<testsuite><testcase name="a" name="b"/></testsuite>',
    "mismatched-tag": b"<testsuite><testcase></testsuite></testcase>",
    "undefined-entity": b'<testsuite><testcase name="&nope;"/></testsuite>',
    "default-namespace": b'<testsuite xmlns="urn:junit"><testcase name="a"/></testsuite>',
    "undefined-entity-in-text-external-dtd": b'<!DOCTYPE testsuite SYSTEM "x.dtd"><testsuite><testcase name="a">'
                                             b"<failure>&nope;</failure></testcase></testsuite>",
    "internal-entity": b'<!DOCTYPE t [<!ENTITY e "x">]><testsuite><testcase name="&e;"/></testsuite>',
    "unknown-encoding": b'<?xml version="1.0" encoding="x-no-such"?><testsuite/>',
    "junk-after-root": b"<testsuite/><testsuite/>",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_files_fail_with_the_same_message(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.xml"
    path.write_bytes(BROKEN[name])
    new, reference = _both(path)
    assert isinstance(new, str), new
    assert new == reference
