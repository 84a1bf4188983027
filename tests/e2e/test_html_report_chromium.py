"""report.html from a real run with failures, opened in headless Chromium.

Why: the HTML report is what people look at when CI is red. Checking the Jinja output as text
would not show that a browser renders it (the page has a strict CSP, no script, and must
not break on hostile test names), so a real run's page goes through the real browser: the DOM
Chromium builds must hold the suites table and every failure, and a screenshot must come out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.tooling import require_tool

pytestmark = pytest.mark.chromium

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_TIMEOUT = 120

FAILING_TESTS = '''\
import pytest


def test_door_opens():
    assert 1 + 1 == 2


def test_motion_threshold_is_respected():
    print("frames captured: 30")
    assert 0.4 > 0.7, "motion threshold <script>alert(1)</script> not respected"


def test_face_match_raises():
    raise RuntimeError("face model missing & unreadable")


@pytest.fixture
def camera():
    raise OSError("camera device /dev/video0 is busy")


def test_camera_stream_starts(camera):
    pass


@pytest.mark.skip(reason="needs a real camera")
def test_camera_hardware():
    pass
'''

PASSING_TESTS = "def test_storage_roundtrip():\n    assert [1, 2][::-1] == [2, 1]\n"


def _chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class _Dom(HTMLParser):
    """Tables (rows of cell texts) and the text of each ``div.failure`` in a serialised DOM."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self.failures: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, is a failure div)
        self._cell: list[str] | None = None
        self._failure: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        is_failure = tag == "div" and "failure" in classes
        if tag in {"br", "meta", "link", "img", "input", "hr"}:
            return
        self._stack.append((tag, is_failure))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in {"td", "th"}:
            self._cell = []
        if is_failure:
            self._failure = []

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            open_tag, was_failure = self._stack.pop()
            if open_tag in {"td", "th"} and self._cell is not None and self.tables and self.tables[-1]:
                self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
                self._cell = None
            if was_failure and self._failure is not None:
                self.failures.append(" ".join("".join(self._failure).split()))
                self._failure = None
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._failure is not None:
            self._failure.append(data)


def _chromium_argv(chromium: str, profile: Path) -> list[str]:
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}"]


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real doorbell-ci run over a project with two failures, a setup error, a skip and two passes."""
    project = tmp_path_factory.mktemp("project")
    (project / "tests" / "unit").mkdir(parents=True)
    (project / "tests" / "integration").mkdir()
    (project / "tests" / "unit" / "test_doorbell.py").write_text(FAILING_TESTS, encoding="utf-8")
    (project / "tests" / "integration" / "test_storage.py").write_text(PASSING_TESTS, encoding="utf-8")
    completed = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--workers", "1",
         "--no-coverage", "--quiet"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "DOORBELL_CI_REQUIRE_TOOLS": ""},
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert completed.stdout.strip().splitlines()[-1] == "2 passed, 3 failed, 1 skipped"
    return project / "test-results" / "report.html"


def test_chromium_dom_has_the_suites_table_and_every_failure(failing_run: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    require_tool("chromium", chromium is not None, "headless Chromium renders report.html")
    assert chromium is not None
    dumped = subprocess.run(  # noqa: S603 - argv list
        [*_chromium_argv(chromium, tmp_path / "profile"), "--dump-dom", failing_run.as_uri()],
        capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT, check=False,
    )
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = _Dom()
    dom.feed(dumped.stdout)

    suites_table = next(t for t in dom.tables if t and t[0][0] == "Suite" and "Status" in t[0])
    header = suites_table[0]  # columns by name: a Platform column sits between Suite and Status
    rows = {row[0]: dict(zip(header, row, strict=False)) for row in suites_table[1:]}
    assert rows["unit"]["Status"].startswith("failed")
    counted = ("Tests", "Passed", "Failed", "Errors", "Skipped")
    assert [rows["unit"][name] for name in counted] == ["5", "1", "2", "1", "1"]
    assert rows["integration"]["Status"] == "passed"
    assert [rows["integration"][name] for name in ("Tests", "Passed")] == ["1", "1"]

    assert len(dom.failures) == 3
    failure_text = " | ".join(dom.failures)
    assert "test_motion_threshold_is_respected" in failure_text
    assert "motion threshold <script>alert(1)</script> not respected" in failure_text  # shown as text
    assert "test_face_match_raises" in failure_text
    assert "face model missing & unreadable" in failure_text
    assert "test_camera_stream_starts" in failure_text and "camera device /dev/video0 is busy" in failure_text
    assert "<script>" not in dumped.stdout.split("<body", 1)[1].replace("&lt;script&gt;", "")


def test_chromium_screenshot_of_the_report(failing_run: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    require_tool("chromium", chromium is not None, "headless Chromium renders report.html")
    assert chromium is not None
    screenshot = tmp_path / "report.png"
    completed = subprocess.run(  # noqa: S603 - argv list
        [*_chromium_argv(chromium, tmp_path / "profile"), f"--screenshot={screenshot}", "--window-size=1280,1600",
         "--hide-scrollbars", failing_run.as_uri()],
        capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    data = screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 1600)
    assert len(data) > 20_000  # a rendered page, not a blank canvas
    if os.environ.get("DOORBELL_CI_KEEP_SCREENSHOT"):
        shutil.copyfile(screenshot, os.environ["DOORBELL_CI_KEEP_SCREENSHOT"])
