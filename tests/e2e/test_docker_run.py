"""Whole ``doorbell-ci run --environment docker`` runs against a real engine.

The sample project's unit and integration suites give the same counts in a container as in
the local environment, and a SIGTERM in the middle of a Docker suite leaves no container,
network or temp folder behind (checked with the engine by label and with the file system).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.docker_tools import docker_client, labelled, offline_env, readable_by_containers

SAMPLE = Path(__file__).resolve().parent.parent / "sample_project"

pytestmark = pytest.mark.skipif(not (SAMPLE / "tests" / "unit").is_dir(), reason="tests/sample_project is missing")


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in offline_env().items()
            if not k.startswith(("DOORBELL_CI_", "PYTEST_", "COV_CORE_", "COVERAGE_")) and k != "PYTHONPATH"}
    return {**base, "DOORBELL_CI_DOCKER_BASE": "offline", **extra}


def _run(project: Path, environment: str, output: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", "unit", "integration",
         "--environment", environment, "--output-dir", output, "--quiet", "--no-reports"],
        env=_env(), capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads((project / output / "report.json").read_text())


def _counts(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {suite["name"]: suite["counts"] for suite in report["suites"]}


def test_sample_suites_in_a_container_give_the_same_counts_as_local(tmp_path: Path) -> None:
    client = docker_client()
    project = tmp_path / "sample"
    shutil.copytree(SAMPLE, project, ignore=shutil.ignore_patterns("test-results", "__pycache__", ".pytest_cache",
                                                                   "*.egg-info", ".coverage*"))
    readable_by_containers(project)
    local = _run(project, "local", "results-local")
    docker = _run(project, "docker", "results-docker")
    assert _counts(docker) == _counts(local)
    assert sum(c["passed"] for c in _counts(docker).values()) > 0
    # coverage data written in the container names host paths (everything is mounted at its host path)
    assert docker["coverage"]["percent"] == local["coverage"]["percent"]
    assert [f["path"] for f in docker["coverage"]["files"]] == [f["path"] for f in local["coverage"]["files"]]
    assert docker["environment"]["kind"] == "docker" and local["environment"]["kind"] == "local"
    assert docker["environment"]["user"] not in {None, "root", "0"}
    # identical in shape: the same keys at every level of a suite's record, the same result files
    assert [sorted(s) for s in docker["suites"]] == [sorted(s) for s in local["suites"]]
    for name in ("unit", "integration"):
        assert (project / "results-docker" / "junit" / f"{name}.xml").is_file()
    assert labelled(client, docker["run"]["id"]) == ([], [])


def test_sigterm_in_the_middle_of_a_docker_suite_leaves_nothing(tmp_path: Path) -> None:
    client = docker_client()
    project = tmp_path / "project"
    (project / "tests" / "unit").mkdir(parents=True)
    (project / "tests" / "unit" / "test_slow.py").write_text(
        "import time\n\ndef test_quick():\n    pass\n\ndef test_slow():\n    time.sleep(300)\n")
    (project / "pyproject.toml").write_text("")
    readable_by_containers(project)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    run = subprocess.Popen(
        [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", "unit",
         "--environment", "docker", "--workers", "1", "--no-coverage"],
        env=_env(TMPDIR=str(tmpdir)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        container = None
        deadline = time.monotonic() + 120
        while container is None and time.monotonic() < deadline:
            found = client.containers.list(filters={"label": [f"doorbell-ci.project={project}",
                                                              "doorbell-ci.role=suite"]})
            container = found[0] if found else None
            time.sleep(0.2)
        assert container is not None, "the suite's container never started"
        run_id = container.labels["doorbell-ci.run-id"]
        env_root = Path(container.labels["doorbell-ci.env-root"])
        assert env_root.is_dir() and env_root.is_relative_to(tmpdir)
        time.sleep(2)  # well inside the suite: test_slow is sleeping
        run.send_signal(signal.SIGTERM)
        output, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, output
    assert labelled(client, run_id) == ([], [])
    assert not env_root.exists()
    assert list(tmpdir.iterdir()) == []
    report = json.loads((project / "test-results" / "report.json").read_text())
    assert report["run"]["id"] == run_id  # the results so far were still reported
    assert os.path.exists(project / "test-results" / "logs" / "unit.log")
