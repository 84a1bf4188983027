"""Whole runs on the sample project (a copy in tmp_path): failure groups, flaky reruns, shards and merge.

The sample project's opt-in failures: ``DOORBELL_SAMPLE_FAIL=1`` makes two unit tests fail with one
cause (a bad tolerance rejected inside ``doorbell/faces.py``) plus one integration failure;
``DOORBELL_SAMPLE_FLAKY_DIR=DIR`` makes one integration test fail on its first try only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as safe_etree
import pytest

SAMPLE = Path(__file__).resolve().parent.parent / "sample_project"
FLAKY = "integration::tests/integration/test_flaky.py::test_doorbell_notification_flaky_on_purpose"

pytestmark = pytest.mark.skipif(not (SAMPLE / "tests" / "unit").is_dir(), reason="tests/sample_project is missing")


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    target = tmp_path / "sample"
    shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns("test-results", "__pycache__", ".pytest_cache",
                                                                  "*.egg-info", ".coverage*"))
    return target


def doorbell_ci(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items()
             if not key.startswith(("DOORBELL_", "PYTEST_", "COV_CORE_", "COVERAGE_")) and key != "PYTHONPATH"}
    return subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "doorbell_ci", *args], cwd=project, env={**clean, **env},
        capture_output=True, text=True, encoding="utf-8", timeout=600, check=False)


def report(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "report.json").read_text(encoding="utf-8"))


def test_same_cause_is_one_group_and_the_flaky_test_is_flaky_not_failed(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = doorbell_ci(sample, "run", "--suites", "unit", "integration", "--workers", "1", "--no-coverage",
                         "--quiet", "--reruns", "1", "--output-dir", str(out),
                         DOORBELL_SAMPLE_FAIL="1", DOORBELL_SAMPLE_FLAKY_DIR=str(tmp_path / "flaky"))
    assert result.returncode == 1, result.stdout + result.stderr
    document = report(out)
    analysis = document["analysis"]

    unit_groups = [g for g in analysis["groups"] if all(key.startswith("unit::") for key in g["tests"])]
    assert len(unit_groups) == 1, analysis["groups"]
    group = unit_groups[0]
    assert group["count"] == 2 and group["exception"] == "ValueError"
    assert group["file"] == "src/doorbell/faces.py" and isinstance(group["line"], int)
    assert "<n>" in group["message"]  # 1.7 is masked, so other bad values would join the group
    failing_keys = {f["key"] for f in analysis["failures"]}
    assert set(group["tests"]) <= failing_keys and len(failing_keys) == 3

    flaky_tests = [t for s in document["suites"] for t in s["tests"] if t.get("flaky")]
    assert [t["name"] for t in flaky_tests] == ["test_doorbell_notification_flaky_on_purpose"]
    assert "outcome" not in flaky_tests[0] and flaky_tests[0]["message"]  # first failure kept
    assert [f["key"] for f in analysis["flaky"]] == [FLAKY] and analysis["flaky"][0]["counted_as"] == "passed"
    assert FLAKY not in failing_keys and analysis["history"][FLAKY] == "K"
    assert document["totals"]["failed"] + document["totals"]["errors"] == 3

    # Every report counts the same way: junit.xml, summary.md and the closing line.
    root = safe_etree.parse(out / "junit.xml").getroot()
    assert int(root.get("failures")) + int(root.get("errors")) == 3
    assert int(root.get("tests")) == document["totals"]["tests"]
    assert "1 flaky" in (out / "summary.md").read_text(encoding="utf-8")
    assert result.stdout.strip().splitlines()[-1].endswith("(1 flaky)")

    for failure in analysis["failures"]:
        how = failure["reproduce"]
        assert failure["nodeid"] in how["argv"] and how["env"].get("DOORBELL_SAMPLE_FAIL") == "1"
    rerun = next(f for f in analysis["failures"] if f["key"] in group["tests"])["reproduce"]
    again = subprocess.run(rerun["argv"], cwd=sample, env={**os.environ, **rerun["env"]},  # noqa: S603
                           capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 1 and "1 failed" in again.stdout  # the command really reproduces it alone

    shown = doorbell_ci(sample, "analyze", str(out))
    assert shown.returncode == 0 and "2 x ValueError" in shown.stdout and "Flaky (1)" in shown.stdout


def test_shards_merge_to_exactly_the_unsharded_counts(sample: Path, tmp_path: Path) -> None:
    common = ("--suites", "unit", "integration", "--workers", "1", "--quiet")
    whole = doorbell_ci(sample, "run", *common, "--output-dir", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stdout + whole.stderr
    shards = []
    for index in (1, 2):
        folder = tmp_path / f"shard-{index}"
        part = doorbell_ci(sample, "run", *common, "--shard", f"{index}/2", "--durations", str(tmp_path / "whole"),
                           "--output-dir", str(folder))
        assert part.returncode == 0, part.stdout + part.stderr
        assert report(folder)["analysis"]["shard"]["strategy"] == "durations"
        shards.append(folder)
    merged = doorbell_ci(sample, "merge", *map(str, shards), "--output-dir", str(tmp_path / "merged"))
    assert merged.returncode == 0, merged.stdout + merged.stderr

    expected, got = report(tmp_path / "whole"), report(tmp_path / "merged")
    assert got["totals"] == expected["totals"]
    assert {s["name"]: s["counts"] for s in got["suites"]} == {s["name"]: s["counts"] for s in expected["suites"]}

    def keys(document: dict[str, Any]) -> list[str]:
        return sorted(f"{s['name']}::{t['classname']}::{t['name']}" for s in document["suites"] for t in s["tests"])

    assert keys(got) == keys(expected)  # every test exactly once
    per_shard = [report(folder)["totals"]["tests"] for folder in shards]
    assert sum(per_shard) == expected["totals"]["tests"] and all(per_shard)
    # One coverage total, combined from the shards' data: the project's files are covered exactly as unsharded.
    # (Files outside the project, such as doorbell-ci's own pytest plugins, are left out of the comparison.)
    def project_files(document: dict[str, Any]) -> dict[str, tuple[int, int]]:
        return {f["path"]: (f["statements"], f["missing"]) for f in document["coverage"]["files"]
                if not Path(f["path"]).is_absolute()}

    assert got["coverage"] is not None and project_files(got) and project_files(got) == project_files(expected)
    assert (tmp_path / "merged" / "coverage" / "coverage.xml").is_file()
    root = safe_etree.parse(tmp_path / "merged" / "junit.xml").getroot()
    assert int(root.get("tests")) == expected["totals"]["tests"]
