"""doorbell-ci's own performance suite: the hot paths of the collect and report stages.

Measured with doorbell-ci's ``perf`` fixture (warm-up, calibrated inner loops, 20 samples), so a
run of doorbell-ci on itself compares these with earlier runs like any project's benchmarks.
Each test still checks the work is right; the regression decision is the compare stage's job.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from doorbell_ci.reports import html, markdown
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, read_junit

TESTS = 2_000


def _junit(path: Path) -> Path:
    cases = []
    for index in range(TESTS):
        body = ""
        if index % 50 == 0:
            body = f'<failure message="assert {index} == 0">Traceback line {index}\nAssertionError</failure>'
        elif index % 40 == 0:
            body = '<skipped type="pytest.skip" message="not on this machine"/>'
        cases.append(f'<testcase classname="tests.unit.test_m{index % 20}" name="test_{index}" '
                     f'file="tests/unit/test_m{index % 20}.py" line="{index % 300}" time="0.00{index % 9}">'
                     f"{body}</testcase>")
    path.write_text(f'<?xml version="1.0"?><testsuites><testsuite name="pytest">{"".join(cases)}'
                    "</testsuite></testsuites>", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def junit_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _junit(tmp_path_factory.mktemp("perf") / "unit.xml")


@pytest.fixture(scope="module")
def run(junit_file: Path) -> RunResult:
    tests = read_junit(junit_file, "unit")
    suite = SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=tests)
    return RunResult(run_id="perf", project="/project", started_at="2026-01-01T00:00:00+00:00",
                     finished_at="2026-01-01T00:01:00+00:00", duration=60.0, suites=[suite])


def test_read_junit_2000_tests(perf, junit_file: Path) -> None:
    tests = perf(read_junit, junit_file, "unit")
    assert len(tests) == TESTS
    assert sum(t.outcome is Outcome.FAILED for t in tests) == TESTS // 50


def test_render_markdown_2000_tests(perf, run: RunResult) -> None:
    text = perf(markdown.render, run)
    assert "Failures (40)" in text
    assert len(text) <= markdown.DEFAULT_LIMIT


def test_render_html_2000_tests(perf, run: RunResult) -> None:
    page = perf(html.render, run)
    assert page.count('class="failure"') == 40
