"""Counts parity: report.json per suite and in total equals plain ``pytest --junitxml``.

Why: the first thing a maintainer checks is whether doorbell-ci's numbers are pytest's numbers.
The bundled sample project is checked always, with its opt-in failures switched on so failed
tests are compared too; the two open-source projects of docs/PARITY.md (pinned sdists from PyPI)
are checked when PyPI is reachable. The work is done by benchmarks/parity/run_parity.py, the
same code that produced the figures in docs/PARITY.md.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from benchmarks.parity.run_parity import COUNT_KEYS, PROJECTS, compare, configure_suites, download_sdist, run_sample
from tests.tooling import require_tool


def test_sample_project_counts_equal_plain_pytest(tmp_path: Path) -> None:
    result = run_sample(tmp_path)

    assert {"unit", "integration", "e2e", "security"} <= {s.suite for s in result.suites}

    for suite in result.suites:
        assert suite.doorbell == suite.plain, f"{suite.suite}: {suite.doorbell} != plain pytest {suite.plain}"
    plain_total, doorbell_total = result.totals
    assert doorbell_total == plain_total
    assert plain_total["failed"] >= 1, "the opt-in failures did not switch on; nothing failing was compared"
    assert plain_total["skipped"] >= 1


@pytest.mark.parametrize("oss", PROJECTS, ids=[p.name for p in PROJECTS])
def test_open_source_project_counts_equal_plain_pytest(oss, tmp_path: Path) -> None:  # noqa: ANN001
    try:
        project = download_sdist(oss, tmp_path)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        require_tool("PyPI", False, f"pip could not download the {oss.name} {oss.version} sdist ({error})")
        raise
    configure_suites(project, oss.suites, oss.parallel)

    result = compare(f"{oss.name} {oss.version}", project, oss.suites, tmp_path / "work")

    assert [s.suite for s in result.suites] == list(oss.suites)
    for suite in result.suites:
        assert suite.doorbell == suite.plain, f"{suite.suite}: {suite.doorbell} != plain pytest {suite.plain}"
        assert suite.plain["tests"] > 0
    plain_total, doorbell_total = result.totals
    assert {key: doorbell_total[key] for key in COUNT_KEYS} == plain_total
