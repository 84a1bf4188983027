"""Sharding and flaky reruns inside the Docker environment: node ids go into, and come out of, the container."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docker_tools import docker_client, offline_env, readable_by_containers

SAMPLE = Path(__file__).resolve().parent.parent / "sample_project"

pytestmark = [pytest.mark.docker,
              pytest.mark.skipif(not (SAMPLE / "tests" / "unit").is_dir(), reason="tests/sample_project is missing")]


def test_a_shard_with_reruns_runs_in_docker(tmp_path: Path) -> None:
    docker_client()
    project = tmp_path / "sample"
    shutil.copytree(SAMPLE, project, ignore=shutil.ignore_patterns("test-results", "__pycache__", ".pytest_cache",
                                                                   "*.egg-info", ".coverage*"))
    with open(project / "pyproject.toml", "a", encoding="utf-8") as handle:  # the opt-in failures, in the container
        handle.write('\n[tool.doorbell-ci.suite.unit]\nenv = { DOORBELL_SAMPLE_FAIL = "1" }\n')
    readable_by_containers(project)
    out = tmp_path / "out"
    result = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "doorbell_ci", "run", "--environment", "docker", "--suites", "unit", "--workers", "1",
         "--no-coverage", "--quiet", "--shard", "1/2", "--reruns", "1", "--output-dir", str(out)],
        cwd=project, env=offline_env(), capture_output=True, text=True, timeout=600, check=False)
    document = json.loads((out / "report.json").read_text(encoding="utf-8"))
    shard = document["analysis"]["shard"]
    assert shard["whole_suites"] == [], result.stdout + result.stderr  # the ids came back out of the container
    assert 0 < document["totals"]["tests"] == shard["tests"] < shard["total_tests"]
    failures = document["analysis"]["failures"]
    attempts = document["analysis"]["reruns"]["attempts"]
    assert failures, "shard 1/2 (split by count) holds one of the two opt-in unit failures"
    assert {f["key"] for f in failures} == set(attempts)  # each failure of this shard was rerun ...
    assert all(outcomes == ["failed"] for outcomes in attempts.values())  # ... and found and run in the container
    assert result.returncode == (1 if failures else 0)
