"""``doorbell-ci doctor`` as a user runs it: a real process, the real installed packages and Docker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tooling import require_tool

REPO = Path(__file__).resolve().parents[2]


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    variables = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "doorbell_ci", "doctor", *args], capture_output=True, text=True,
                          encoding="utf-8", env=variables, cwd=REPO, timeout=120, check=False)


def test_doctor_on_this_machine_is_usable() -> None:
    completed = doctor("--project", str(REPO / "tests" / "sample_project"))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("doorbell-ci ") and " doctor: " in lines[0]
    assert any(line.split()[:2] == ["ok", "python"] for line in lines)
    assert any(line.split()[:3] == ["ok", "plugin", "xdist"] for line in lines)
    assert any(line.split()[:2] == ["ok", "configuration"] for line in lines)
    assert lines[-1] == "usable: yes"


def test_doctor_json_reports_findings_and_platform(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    completed = doctor("--json", "--project", str(tmp_path), env={"GITHUB_TOKEN": "ghs_never_printed"})
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert document["usable"] is True
    assert {"os", "arch", "pi_model", "throttled", "camera", "gpio"} <= set(document["platform"])
    names = {finding["name"] for finding in document["findings"]}
    assert {"python", "pytest", "plugin xdist", "plugin pytest_cov", "docker engine", "GITHUB_TOKEN"} <= names
    assert "ghs_never_printed" not in completed.stdout


def test_docker_project_without_an_engine_is_not_usable(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "pyproject.toml").write_text('[tool.doorbell-ci]\nenvironment = "docker"\n', encoding="utf-8")
    completed = doctor("--project", str(tmp_path), env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"})
    assert completed.returncode == 3, completed.stdout + completed.stderr
    assert "MISSING   docker engine" in completed.stdout
    assert completed.stdout.splitlines()[-1] == "usable: no (fix: docker engine)"


@pytest.mark.docker
def test_doctor_reaches_a_running_docker_engine(tmp_path: Path) -> None:
    import docker

    try:
        docker.from_env(timeout=5).ping()
        reachable = True
    except Exception:  # noqa: BLE001 - any failure means no engine here
        reachable = False
    require_tool("docker engine", reachable, "start dockerd (scripts/setup.sh does in CI)")
    (tmp_path / "tests").mkdir()
    (tmp_path / "pyproject.toml").write_text('[tool.doorbell-ci]\nenvironment = "docker"\n', encoding="utf-8")
    completed = doctor("--project", str(tmp_path))
    assert completed.returncode == 0, completed.stdout
    assert any(line.split()[:4] == ["ok", "docker", "engine", "Docker"] for line in completed.stdout.splitlines())


def test_doctor_collect_tells_that_markers_deselect_everything(tmp_path: Path) -> None:
    """The plan alone cannot see it: pytest collects, and every test is deselected by the suite's markers."""
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    (tmp_path / "tests" / "unit" / "test_a.py").write_text("def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    (tmp_path / "pyproject.toml").write_text('[tool.doorbell-ci.suite.unit]\nmarkers = "smoke"\n')
    plain = doctor("--project", str(tmp_path))
    assert plain.returncode == 0, plain.stdout  # without --collect only the folders are looked at
    completed = doctor("--project", str(tmp_path), "--collect")
    assert completed.returncode == 3, completed.stdout + completed.stderr
    assert "collect unit                    nothing would run: all 2 collected tests are deselected" in completed.stdout
    assert completed.stdout.splitlines()[-1] == "usable: no (fix: collected)"
    (tmp_path / "pyproject.toml").write_text("")
    completed = doctor("--project", str(tmp_path), "--collect")
    assert completed.returncode == 0 and any(line.split()[:4] == ["ok", "collect", "unit", "2"]
                                             for line in completed.stdout.splitlines())
