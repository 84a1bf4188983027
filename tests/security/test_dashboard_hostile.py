"""Hostile text in history.json stays inert and bounded in dashboard.html.

Why: the history is carried from run to run in artifacts, and a pull request's tests name its
entries (test ids, suites, benchmarks) while its workflow can set the branch and platform text.
The dashboard is published as is (GitHub Pages), so none of that text may add an element, an
attribute, a link or a script, read backwards (bidirectional overrides), or blow the page up
(a 200,000-character id). The mechanisms: jinja2 autoescaping of every value, the finalize hook
naming bidi controls, shown_name() cutting ids, and the CSP (default-src 'none', no script),
which tests/e2e/test_dashboard_chromium.py proves a real browser enforces.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from doorbell_ci.reports import dashboard, html
from tests import history_factory
from tests.security.test_report_no_script import LONG_LINE, PAYLOADS, dump_dom

ROOT = Path(__file__).resolve().parents[2]
OUR_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "main", "footer", "nav", "div", "span", "p",
            "h1", "h2", "h3", "b", "code", "a", "table", "thead", "tbody", "tr", "th", "td", "svg", "g", "line",
            "text", "polyline", "circle", "rect"}
SHOWN = [p for p in PAYLOADS if p is not LONG_LINE and "\ud800" not in p]


def _hostile_document() -> dict[str, Any]:
    """Every string a run or a pull request controls, filled with every payload."""
    names = [f"unit::tests.unit.test_x::test_{number}[{payload}]" for number, payload in enumerate(PAYLOADS)]
    names.append("unit::tests.unit.test_x::" + "N" * 200_000)
    names += [f"unit::tests.unit.test_pad::test_{n}" for n in range(60)]
    document, _ = history_factory.generate(tests=len(names), runs=12, names=names, flaky_share=0)
    for number, name in enumerate(names[:len(PAYLOADS) + 1]):  # every hostile test is slow and flaky
        document["tests"][name] = {"o": "PFRPFPRFPPFP", "d": [100.0 + number] * 12}
    for number, run in enumerate(document["runs"]):
        payload = SHOWN[number % len(SHOWN)][:900]
        run.update(id=payload, commit=payload, branch=payload, platform=f"{payload[:200]}-{number % 2}")
        run["suites"] = {payload: 1.0 + number, "unit": 2.0}
        run["benchmarks"] = {f"bench[{p[:50_000]}]": {"value": 0.001 * (number + 1), "unit": "s"} for p in PAYLOADS}
    return document


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    history_path = folder / "history.json"
    history_path.write_text(json.dumps(_hostile_document()), encoding="utf-8")  # lone surrogates as \ud800
    return dashboard.write(dashboard.read(history_path), folder / "dashboard.html")


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_no_payload_adds_an_element_an_attribute_or_a_link(page: Path) -> None:
    parsed = _Elements()
    parsed.feed(page.read_text(encoding="utf-8"))
    assert {tag for tag, _ in parsed.elements} <= OUR_TAGS
    for tag, attrs in parsed.elements:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        assert not any("javascript:" in (value or "").lower() for name, value in attrs.items()
                       if name in ("href", "src", "style")), (tag, attrs)
        if tag == "a":
            assert re.fullmatch(r"#[a-z-]+", attrs.get("href") or ""), attrs  # only the page's own section links
        if "style" in attrs:
            assert re.fullmatch(r"background:#([0-9a-f]{6}|fff);?(border:1px solid #d0d7de)?",
                                attrs["style"] or ""), attrs  # the palette's colours only
    text = "".join(parsed.text)
    for payload in SHOWN:
        assert show_bidi_names(payload[:100]) in text, payload[:60]  # shown as the text it is
    assert "\u202e" not in text and "U+202E" in text and "U+2066" in text


def show_bidi_names(text: str) -> str:
    return re.sub("[\u202a-\u202e\u2066-\u2069]", lambda m: f"U+{ord(m.group()):04X}", text)


def test_huge_names_are_cut_and_the_page_stays_small(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "N" * 200_000 not in text and LONG_LINE not in text
    assert "… (+" in text  # says how much was cut
    assert len(text.encode()) < 1_500_000
    assert "\ufffd" in text  # the lone surrogates, replaced (the page is valid UTF-8)


def test_the_policy_is_report_htmls(page: Path) -> None:
    head = page.read_text(encoding="utf-8").split("</head>", 1)[0]
    match = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', head)
    assert match and head.index(match.group(0)) < head.index("<style>")
    policy = unescape(match.group(1))
    assert policy == html.CSP
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives["default-src"] == ["'none'"] and not {"script-src", "script-src-elem",
                                                             "script-src-attr", "connect-src"} & set(directives)


@pytest.mark.chromium
def test_no_payload_runs_in_chromium(page: Path, tmp_path: Path) -> None:
    dom = dump_dom(page, tmp_path / "profile")
    assert dom.title.startswith("doorbell-ci history: 12 runs"), dom.title  # every payload sets it to PWNED
    assert not {tag for tag, _ in dom.elements} & {"script", "img", "iframe", "object", "embed", "form", "base"}


# --- history.json in a folder the tests can write to ----------------------------------------------


def test_the_reports_hook_never_follows_a_link_out_of_the_output_folder(tmp_path: Path) -> None:
    """The output folder is written by the tests: a history.json planted as a link is not read through."""
    elsewhere = tmp_path / "elsewhere.json"  # a valid history, so only the link itself can be the refusal
    history_factory.write(elsewhere, history_factory.generate(tests=3, runs=2)[0])
    output = tmp_path / "test-results"
    output.mkdir()
    (output / dashboard.HISTORY_FILENAME).symlink_to(elsewhere)
    with pytest.raises(dashboard.HistoryError, match="symbolic link, not followed"):
        dashboard.write_beside(output)
    assert not (output / dashboard.FILENAME).exists()
    dashboard.read(output / dashboard.HISTORY_FILENAME)  # the command line, given the link by a person, follows it


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "doorbell_ci", *argv], capture_output=True, text=True,  # noqa: S603
                          timeout=60, check=False, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_history_that_is_not_a_regular_file_is_refused_without_blocking(tmp_path: Path, kind: str) -> None:
    """A FIFO named history.json would block a plain read for ever (no writer ever comes)."""
    output = tmp_path / "test-results"
    output.mkdir()
    planted = output / dashboard.HISTORY_FILENAME
    os.mkfifo(planted) if kind == "fifo" else planted.mkdir()
    completed = _cli("dashboard", str(planted), "-o", str(tmp_path / "page.html"))  # times out if it blocks
    assert completed.returncode == 4, completed.stderr
    assert completed.stderr.count("\n") == 1 and "cannot read history file" in completed.stderr
    with pytest.raises(dashboard.HistoryError, match="cannot read history file"):
        dashboard.write_beside(output)
