"""Hostile test text in report.html, summary.md, the PR comment and the job summary stays inert.

Why: a pull request controls its tests' names, messages, tracebacks and captured output, and
every report shows them. In report.html none may run script or add an element; the page's
Content-Security-Policy must be restrictive and really enforced by a browser, so that even an
escaping bug could not run script (proven by injecting a script into a copy of the page). In
GitHub Markdown none may ping anyone (``@user``, ``@org/team``), link an issue (``#1``), add
HTML, a link or an image, break out of a table cell or a code fence, or carry a line so long
the comment is rejected. The Markdown checks read the text as GitHub would: what sits in code
spans and fenced blocks is shown as is, everything else is interpreted.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from doorbell_ci.github import actions
from doorbell_ci.reports import html, markdown
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult
from tests.tooling import require_tool

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LONG_LINE = "L" * 200_000
PAYLOADS = [
    "<script>document.title='PWNED'</script>",
    "\"><img src=x onerror=\"document.title='PWNED'\">",
    "'><svg onload=\"document.title='PWNED'\"></svg>",
    "<a href=\"javascript:document.title='PWNED'\">click</a>",
    "[x](javascript:alert(1)) ![i](https://evil.example/t.png) <https://evil.example> www.evil.example",
    "</textarea></pre></details></div><script>document.title='PWNED'</script>",
    "{{ 7*7 }} {% raw %} ${7*7} #{7*7}",
    "| table | breaker |\n|---|---|\n| x | y |",
    "](javascript:alert(1)) ## heading\n# H1\n***bold*** ~~strike~~",
    "```\n# closed the fence\n<img src=x onerror=alert(1)>\n```",
    "@octocat @org/team ping, see #1 and GH-2 and owner/repo#3",
    "zero\u200bwidth\u200d and rtl \u202eevil.exe\u202c \u2066isolate\u2069",
    "lone \ud800 surrogate \udfff",
    LONG_LINE,
]
ORIGINAL_TITLE_PREFIX = "doorbell-ci failed"


def hostile_run() -> RunResult:
    """Every place a pull request controls, filled with every payload."""
    tests = [
        TestResult(suite="unit", name=f"test_{number}[{payload}]", classname=f"tests.unit.test_x.Test{number}",
                   outcome=Outcome.FAILED if number % 2 == 0 else Outcome.ERROR, duration=0.5 + number,
                   file="tests/unit/test_x.py", line=number + 1, message=payload,
                   details=f"Traceback:\n{payload}\nE   AssertionError: {payload}", stdout=payload, stderr=payload)
        for number, payload in enumerate(PAYLOADS)
    ]
    tests.append(TestResult(suite="unit", name="test_skipped", classname="tests.unit.test_x", outcome=Outcome.SKIPPED,
                            message=PAYLOADS[0]))
    crashed = SuiteResult(name="integration", status=SuiteStatus.ERROR, reason=PAYLOADS[1],
                          output_tail="\n".join(PAYLOADS))
    return RunResult(run_id="r1", project="/p", started_at="2026-01-01T00:00:00", finished_at="2026-01-01T00:01:00",
                     duration=60.0, suites=[SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=tests), crashed],
                     environment={"kind": "local", "note": PAYLOADS[3]}, command=["doorbell-ci", PAYLOADS[0]],
                     notices=[PAYLOADS[2], PAYLOADS[10]], performance=_performance(), analysis=_analysis())


def _performance() -> dict:
    """The compare stage's record: benchmark names come from the tests, so they are hostile too."""
    rows = [{"name": f"tests/perf/test_p.py::bench[{payload}]", "verdict": "unchanged", "reason": payload,
             "base_median": 0.01, "head_median": 0.0101, "ratio": 1.01, "p_value": 0.5}
            for payload in PAYLOADS[:11]]
    return {"mode": "paired", "mode_reason": PAYLOADS[0], "metric": "wall", "threshold": 0.05, "key": PAYLOADS[1],
            "baseline": {"source": PAYLOADS[3], "reason": PAYLOADS[10]}, "benchmarks": rows,
            "counts": {"unchanged": len(rows)}, "regressions": [], "comparable": True}


def _analysis() -> dict:
    """The analyse stage's record: keys, exceptions, messages and commands all come from the tests."""
    keys = [f"unit::tests/unit/test_x.py::test_{number}" for number in range(3)] + [PAYLOADS[10]]
    failures = [{"key": key, "exception": PAYLOADS[number], "message": PAYLOADS[number + 4], "file": "a|b.py",
                 "line": 1, "reproduce": {"command": f"pytest '{PAYLOADS[9]}'", "cwd": "/p"}}
                for number, key in enumerate(keys)]
    return {"against": {"source": PAYLOADS[0], "run_id": PAYLOADS[10]}, "new": keys, "still_failing": [],
            "fixed": [], "failures": failures,
            "groups": [{"count": 2, "exception": PAYLOADS[1], "message": PAYLOADS[7], "file": "x|y.py", "line": 3,
                        "tests": keys[:2]}],
            "flaky": [{"key": PAYLOADS[10], "counted_as": "passed", "attempts": ["failed", "passed"]}],
            "flipping": {PAYLOADS[9]: "PFPF", PAYLOADS[10]: "FPFP"}}


# --- report.html in a real browser ------------------------------------------------------------


class _Dom(HTMLParser):
    """Elements, attributes and text of a serialised DOM."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        self.text.append(data)


def _chromium() -> str:
    found = next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)
    require_tool("chromium", found is not None, "headless Chromium shows whether the report runs script")
    assert found is not None
    return found


def dump_dom(page: Path, profile: Path) -> _Dom:
    """The DOM Chromium built, after scripts (if any were allowed) and image errors had their chance."""
    completed = subprocess.run(  # noqa: S603 - argv list
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}",
         "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "</html>" in completed.stdout, completed.stdout[-500:] + completed.stderr[-2000:]
    dom = _Dom()
    dom.feed(completed.stdout)
    return dom


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return html.write(hostile_run(), tmp_path_factory.mktemp("report"), exit_code=1)


@pytest.mark.chromium
def test_no_payload_runs_or_adds_an_element_in_chromium(report_page: Path, tmp_path: Path) -> None:
    dom = dump_dom(report_page, tmp_path / "profile")
    assert dom.title.startswith(ORIGINAL_TITLE_PREFIX), dom.title  # every payload sets it to PWNED
    tags = {tag for tag, _ in dom.elements}
    assert not tags & {"script", "img", "svg", "a", "iframe", "textarea", "object", "embed", "form", "input",
                       "link", "base"}, tags
    for tag, attrs in dom.elements:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        assert not any("javascript:" in (value or "").lower() for value in attrs.values()), (tag, attrs)
    text = "".join(dom.text)
    for payload in PAYLOADS[:11]:  # shown as the text it is
        assert payload in text, payload
    assert LONG_LINE in text  # not cut in the page; it wraps (pre-wrap)
    assert "\u202e" not in text and "U+202E" in text and "U+2066" in text  # overrides shown by name
    assert "49" not in text.split("{{ 7*7 }}")[1][:10]  # no template ran either


def test_the_page_carries_a_restrictive_content_security_policy(report_page: Path) -> None:
    page = report_page.read_text(encoding="utf-8")
    head = page.split("</head>", 1)[0]
    match = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', head)
    assert match, "no CSP meta in <head>"
    assert head.index(match.group(0)) < head.index("<style>")  # before anything it governs
    policy = unescape(match.group(1))  # autoescaped in the attribute (&#39;); the browser reads it unescaped
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives["default-src"] == ["'none'"]
    assert "script-src" not in directives and "script-src-elem" not in directives
    assert "script-src-attr" not in directives  # so scripts and inline handlers fall back to default-src 'none'
    assert directives["base-uri"] == ["'none'"] and directives["form-action"] == ["'none'"]
    assert directives["img-src"] == ["data:"]  # the perf SVGs are inline; nothing is fetched
    for name, sources in directives.items():
        assert "'unsafe-eval'" not in sources and "*" not in sources, name
        if name != "style-src":
            assert "'unsafe-inline'" not in sources, name


@pytest.mark.chromium
def test_chromium_enforces_the_policy_even_against_an_escaping_bug(report_page: Path, tmp_path: Path) -> None:
    """A copy of the page with real script injected (what an escaping bug would leave): it must not run.

    The control copy without the CSP shows that the same injection does run, so the probe works.
    """
    page = report_page.read_text(encoding="utf-8")
    injected = ("<script>document.title='PWNED-script'</script>"
                "<img src=\"missing.png\" onerror=\"document.title='PWNED-handler'\">"
                "<svg onload=\"document.title='PWNED-svg'\"></svg>")
    bug = tmp_path / "with-csp.html"
    bug.write_text(page.replace("<body>", "<body>" + injected, 1), encoding="utf-8")
    assert injected in bug.read_text(encoding="utf-8")
    control = tmp_path / "without-csp.html"
    without = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    control.write_text(without.replace("<body>", "<body>" + injected, 1), encoding="utf-8")

    enforced = dump_dom(bug, tmp_path / "profile1")
    assert enforced.title.startswith(ORIGINAL_TITLE_PREFIX), enforced.title
    unprotected = dump_dom(control, tmp_path / "profile2")
    assert unprotected.title.startswith("PWNED"), unprotected.title


# --- summary.md, the PR comment and the job summary ------------------------------------------

OUR_TAGS = re.compile(r"</?(details|summary|sub)>")
OUR_HEADINGS = ("## doorbell-ci: ", "### Failures (", "### Performance", "### 🆕 New failures",
                "### Publishing notices")
OUR_TABLES = ("| Suite | Status |", "| | Benchmark |", "| Count | Exception |", "| Test | Suite | Time |")


def interpreted(text: str) -> str:
    """What GitHub interprets as Markdown: fenced blocks (closed only by a fence as long) and code spans removed."""
    kept: list[str] = []
    fence = ""
    for line in text.splitlines():
        stripped = line.strip()
        if fence:
            if re.fullmatch(rf"{fence}`*", stripped):
                fence = ""
            continue
        opening = re.match(r"(`{3,})", stripped)
        if opening:
            fence = opening.group(1)
            continue
        kept.append(re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", line))
    assert not fence, "a fenced block is never closed: it swallows the rest of the comment"
    return "\n".join(kept)


_CODE_SPAN = re.compile(r"(?<![\\`])(`+)(?!`).*?(?<!`)\1(?!`)")  # an escaped backtick opens none
# cmark-gfm's table cell: a backslash and any ASCII punctuation are one escaped pair (so "\\|" ends a cell)
_GFM_CELL = re.compile(r"(?:\\[!-/:-@\[-`{-~]|[^|\\]|\\)+")


def outside_code(text: str) -> str:
    """The text GitHub reads as prose: fenced blocks dropped, then code spans dropped cell by cell.

    A table row is cut into cells before its inlines are parsed, so a code span can only be
    found inside one cell; one that a payload splits across cells is no code span at all.
    """
    kept = []
    for line in interpreted_keeping_code(text).splitlines():
        pieces = _GFM_CELL.findall(line) if line.startswith("|") else [line]
        kept.append(" | ".join(_CODE_SPAN.sub("", piece) for piece in pieces))
    return "\n".join(kept)


def _cells(row: str) -> int:
    return len(re.findall(r"(?<!\\)\|", row))


@pytest.fixture(scope="module")
def summaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The comment body (60,000 characters), summary.md, and the job summary file as the runner reads it."""
    run = hostile_run()
    folder = tmp_path_factory.mktemp("summary")
    step_summary = folder / "step_summary.md"
    actions.write_step_summary(markdown.render(run, limit=500_000), path=step_summary)
    return {"comment": markdown.render(run, limit=60_000), "summary.md": markdown.render(run),
            "job summary": step_summary.read_text(encoding="utf-8")}


@pytest.mark.parametrize("kind", ["comment", "summary.md", "job summary"])
def test_markdown_cannot_ping_link_or_inject_html(summaries: dict[str, str], kind: str) -> None:
    text = summaries[kind]
    assert "test\\_0" in text and "Failures (14)" in text  # the failures are there, not dropped
    # mentions and references: GitHub neither pings nor links inside code, so they are checked where it
    # would act on them, which is everywhere outside code spans and fences as its own table scanner cuts them
    prose = outside_code(text)
    assert not re.search(r"(?<![\w])@[A-Za-z0-9]", prose), re.findall(r".{20}@[A-Za-z0-9].{20}", prose)[:3]
    assert not re.search(r"#\d", prose) and not re.search(r"(?i)(?<![\w])GH-\d", prose)  # repo#3 too
    assert "@octocat @org/team ping, see #1" in text  # inside code: shown as it is, nothing invisible added
    assert "\u202e" not in text and "\u2066" not in text
    outside = OUR_TAGS.sub("", interpreted(text))
    assert not re.search(r"<[A-Za-z/!?]", outside), re.findall(r"<[A-Za-z/!?].{0,30}", outside)[:3]
    # no link or image syntax, no <scheme:...> and no autolinks: a javascript: URL stays words on the page
    assert not re.search(r"(?<!\\)\]\(", outside) and "javascript:" in outside
    assert "://" not in outside and "www." not in outside
    for line in outside.splitlines():
        if line.startswith("#"):
            assert line.startswith(OUR_HEADINGS), line


def _tables(text: str) -> dict[str, list[str]]:
    """Each table of the interpreted Markdown, by its header row: consecutive lines starting with ``|``."""
    tables: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in interpreted_keeping_code(text).splitlines():
        if line.startswith("|"):
            if current is None:
                current = tables.setdefault(line, [])
            else:
                current.append(line)
        else:
            current = None
    return tables


def interpreted_keeping_code(text: str) -> str:
    """The lines outside fenced blocks, code spans kept (a ``|`` in a code span still splits a GFM cell)."""
    kept, fence = [], ""
    for line in text.splitlines():
        if fence:
            fence = "" if re.fullmatch(rf"{fence}`*", line.strip()) else fence
            continue
        opening = re.match(r"(`{3,})", line.strip())
        if opening:
            fence = opening.group(1)
            continue
        kept.append(line)
    return "\n".join(kept)


@pytest.mark.parametrize("kind", ["comment", "summary.md", "job summary"])
def test_markdown_tables_keep_their_shape_and_lines_stay_short(summaries: dict[str, str], kind: str) -> None:
    tables = _tables(summaries[kind])
    suites = next(rows for header, rows in tables.items() if header.startswith("| Suite | Status |"))
    assert len(suites) == 3  # separator, unit, integration: nothing a payload added or split
    perf = next(rows for header, rows in tables.items() if "| Benchmark |" in header)
    assert len(perf) == 1 + 11
    groups = next(rows for header, rows in tables.items() if header.startswith("| Count | Exception |"))
    assert len(groups) == 2
    for header, rows in tables.items():
        assert header.startswith(OUR_TABLES), header  # a payload did not start a table of its own
        assert all(_cells(row) == _cells(header) for row in rows), (header, rows)
    lines = summaries[kind].splitlines()
    assert max(map(len, lines)) <= 4_000  # the 200,000-character line is cut
    assert "\x00" not in summaries[kind]


def test_the_comment_fits_githubs_limit() -> None:
    body = markdown.render(hostile_run(), limit=60_000)
    assert len(body) <= 60_000
    interpreted(body)  # and no fence was left open by the cut


def test_code_is_copied_without_invisible_characters_and_cannot_be_left() -> None:
    """``@attr.s`` in a traceback is code: copied from the summary it must be exactly that (issue 17 item 8).

    The payloads try to leave the code, where a mention would ping: a backslash before the pipe that
    GitHub's table scanner would take as an escaped pair and end the cell with, backtick runs longer
    than the usual fence, and a fence of tildes.
    """
    breakouts = ["a\\|`@octocat #7", "x\\\\|@org/team`` GH-9", "````@octocat````", "~~~\n@octocat\n~~~"]
    tests = [TestResult(suite="unit", name=f"test_{number}", classname="tests.unit.test_x", outcome=Outcome.FAILED,
                        file=f"tests/unit/{payload}.py", line=3, message=f"deco {payload}",
                        details=f"    @attr.s\n    class Ring:\nE   ValueError: {payload}")
             for number, payload in enumerate(breakouts)]
    rows = [{"name": payload, "verdict": "unchanged", "base_median": 0.01, "head_median": 0.01, "ratio": 1.0,
             "p_value": 0.5} for payload in breakouts]
    run = RunResult(run_id="r1", project="/p", started_at="2026-01-01T00:00:00", finished_at="2026-01-01T00:01:00",
                    duration=1.0, suites=[SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=tests)],
                    performance={"mode": "history", "metric": "wall", "threshold": 0.05, "benchmarks": rows,
                                 "counts": {"unchanged": len(rows)}, "regressions": [], "comparable": True},
                    analysis={"failures": [], "new": [], "still_failing": [], "fixed": [], "flaky": [],
                              "groups": [{"count": 2, "exception": "ValueError", "message": payload,
                                          "file": f"tests/{payload}.py", "line": 3, "tests": ["k1", "k2"]}
                                         for payload in breakouts]})
    text = markdown.render(run, limit=500_000)
    assert "    @attr.s\n    class Ring:" in text  # the traceback block, copyable as it is
    fenced = "\n".join(line for line in text.splitlines() if line not in interpreted_keeping_code(text).splitlines())
    assert "\u200b" not in fenced
    spans = [match.group() for match in _CODE_SPAN.finditer(interpreted_keeping_code(text))]
    assert spans and not any("\u200b" in span for span in spans)
    prose = outside_code(text)
    assert not re.search(r"(?<![\w])@[A-Za-z0-9]", prose), re.findall(r".{20}@[A-Za-z0-9].{20}", prose)[:3]
    assert not re.search(r"#\d", prose) and not re.search(r"(?i)(?<![\w])GH-\d", prose)
    for header, table_rows in _tables(text).items():
        for row in table_rows:
            assert len(_GFM_CELL.findall(row)) == len(_GFM_CELL.findall(header)), (header, row)
