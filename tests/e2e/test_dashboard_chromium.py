"""dashboard.html from a generated 64-run history, opened in headless Chromium over the DevTools protocol.

Why: the dashboard is only charts, and a chart that the browser lays out at zero size, or draws
nothing into, looks fine in the HTML text. So the browser is asked for each SVG's laid-out size
and each bar's and line's box, the screenshot's pixels are read back (the platforms' colours
must be in the pass-rate chart), the page must fetch nothing but itself, and a copy of the page
with script injected on purpose (what an escaping bug would leave) must not run it, while the
same injection without the page's CSP does run: the probe works and the policy is what stops it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from doorbell_ci.reports import dashboard
from tests import history_factory
from tests.cdp import Browser, chromium_path, png_pixels
from tests.tooling import require_tool

pytestmark = pytest.mark.chromium

ROOT = Path(__file__).resolve().parents[2]
RUNS, TESTS = 64, 3_000
WHITE = (255, 255, 255)

LAYOUT = """(() => {
  const box = e => { const r = e.getBoundingClientRect(); return {x: r.x + scrollX, y: r.y + scrollY,
                                                                  width: r.width, height: r.height}; };
  const shapes = (svg, selector) => Array.from(svg.querySelectorAll(selector)).map(e => {
    const b = e.getBBox(); return [b.width, b.height]; });
  return Array.from(document.querySelectorAll('svg')).map(svg => ({
    id: svg.id, kind: svg.getAttribute('class'), box: box(svg),
    rects: shapes(svg, 'rect'), lines: shapes(svg, 'polyline'), labels: svg.querySelectorAll('text').length}));
})()"""


@pytest.fixture(scope="module")
def history() -> tuple[dict[str, Any], history_factory.Known]:
    return history_factory.generate(tests=TESTS, runs=RUNS, platforms=history_factory.PLATFORMS)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, history: tuple[dict[str, Any], Any]) -> Path:
    """The page as a user makes it: the real command over a history file."""
    folder = tmp_path_factory.mktemp("dashboard")
    history_path = history_factory.write(folder / "history.json", history[0])
    output = folder / "site" / "index.html"
    completed = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "doorbell_ci", "dashboard", str(history_path), "-o", str(output)],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return output


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Any:
    chromium = chromium_path()
    require_tool("chromium", chromium is not None, "headless Chromium lays out and screenshots the dashboard")
    assert chromium is not None
    with Browser(chromium, tmp_path_factory.mktemp("profile"), width=1280, height=1600) as opened:
        yield opened


def test_every_chart_is_laid_out_with_its_bars_and_lines(browser: Browser, page: Path,
                                                         history: tuple[dict[str, Any], Any]) -> None:
    browser.call("Network.enable")
    browser.open(page.as_uri())
    requested = {event["params"]["request"]["url"] for event in browser.events
                 if event.get("method") == "Network.requestWillBeSent"}
    assert requested == {page.as_uri()}  # the page fetches nothing: no font, image, style or script
    svgs = browser.evaluate(LAYOUT)
    assert all(svg["box"]["width"] > 0 and svg["box"]["height"] > 0 for svg in svgs), svgs

    pass_rate = next(svg for svg in svgs if svg["id"] == "chart-pass-rate")
    assert pass_rate["box"]["width"] >= 1000 and pass_rate["box"]["height"] >= 200
    failed_runs = sum(1 for run in history[0]["runs"] if run["failed"] or run["errors"])
    assert len(pass_rate["rects"]) == RUNS + failed_runs  # a bar per run, a red mark under each failed one
    assert all(w > 0 and h > 0 for w, h in pass_rate["rects"])
    assert pass_rate["labels"] >= 10  # axis ticks and commits

    suites = [svg for svg in svgs if svg["kind"] == "chart suite-chart"]
    assert len(suites) == len(history_factory.PLATFORMS)
    for chart in suites:  # the whole run and every suite, each a line across the chart
        assert len(chart["lines"]) == 1 + len(history_factory.SUITES)
        assert all(width > 0.9 * (chart["box"]["width"] - 80) for width, _ in chart["lines"]), chart["lines"]

    sparks = [svg for svg in svgs if svg["kind"] == "spark"]
    benchmarks = len(history_factory.PLATFORMS) * (len(history_factory.BENCHMARKS) + 1)
    assert len(sparks) == dashboard.TOP_SLOWEST + benchmarks
    assert all(spark["lines"] and all(w > 200 for w, _ in spark["lines"]) for spark in sparks)

    timelines = [svg for svg in svgs if svg["kind"] == "timeline"]
    _, known = history
    assert len(timelines) == min(dashboard.TOP_FLAKY, len(known.flaky))
    assert all(len(t["rects"]) == RUNS and all(w > 0 and h > 0 for w, h in t["rects"]) for t in timelines)


def _blend(colour: str, alpha: float) -> tuple[int, int, int]:
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return tuple(round(c * alpha + 255 * (1 - alpha)) for c in rgb)  # type: ignore[return-value]


def test_the_screenshot_shows_the_charts(browser: Browser, page: Path, tmp_path: Path) -> None:
    browser.open(page.as_uri())
    full = browser.screenshot()
    shot = tmp_path / "dashboard.png"
    shot.write_bytes(full)
    if os.environ.get("DOORBELL_CI_KEEP_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["DOORBELL_CI_KEEP_SCREENSHOT"])
    assert full[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(full[16:20], "big"), int.from_bytes(full[20:24], "big")
    assert width == 1280 and height > 3_000  # the whole page, every section

    box = browser.evaluate(LAYOUT)[0]["box"]
    clip_width, clip_height, pixels = png_pixels(browser.screenshot(box))
    assert (clip_width, clip_height) == (round(box["width"]), round(box["height"]))
    drawn = [p for p in pixels if p != WHITE]
    assert len(drawn) > 0.25 * len(pixels)  # bars, not a blank canvas
    colours = set(pixels)
    for platform_colour in dashboard.PALETTE[:len(history_factory.PLATFORMS)]:  # a platform's bars, either opacity
        wanted = [_blend(platform_colour, alpha) for alpha in (0.55, 0.95)]
        assert any(max(abs(a - b) for a, b in zip(c, w, strict=True)) <= 3 for c in colours for w in wanted), \
            platform_colour


INJECTED = ("<script>document.title='PWNED-script'</script>"
            "<img src=\"missing.png\" onerror=\"document.title='PWNED-handler'\">"
            "<svg onload=\"document.title='PWNED-svg'\"></svg>")


def test_injected_script_does_not_run_under_the_pages_policy(browser: Browser, page: Path, tmp_path: Path) -> None:
    """The injection runs without the CSP (the probe works) and not with it (the policy stops it)."""
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    with_csp = tmp_path / "with-csp.html"
    with_csp.write_text(text.replace("<body>", "<body>" + INJECTED, 1), encoding="utf-8")
    without_csp = tmp_path / "without-csp.html"
    stripped = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
    without_csp.write_text(stripped.replace("<body>", "<body>" + INJECTED, 1), encoding="utf-8")

    browser.open(with_csp.as_uri())
    assert browser.evaluate("document.title").startswith("doorbell-ci history: 64 runs")
    assert browser.evaluate("document.querySelectorAll('script').length") == 1  # there, but not run
    browser.open(without_csp.as_uri())
    assert browser.evaluate("document.title").startswith("PWNED")
