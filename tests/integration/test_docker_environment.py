"""The Docker environment against a real engine: hardened, labelled containers, services with a
readiness wait, image caching, cleanup on signals and timeouts, and no engine at all.

Every container runs from the offline base (the host's Python mounted read-only), since no
image can be pulled here or in CI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from doorbell_ci.config import load_config
from doorbell_ci.environments import images
from doorbell_ci.environments.docker import DockerEnvironment
from doorbell_ci.environments.settings import DockerSettings
from doorbell_ci.errors import EnvironmentError_
from doorbell_ci.plan import make_plan
from tests.docker_tools import docker_client, labelled, offline_env, readable_by_containers

SLEEPER = '''
import os, time
def test_sleeps():
    assert os.getuid() != 0
    time.sleep(120)
'''


@pytest.fixture
def client() -> Any:
    return docker_client()


def make_project(root: Path, tests: dict[str, str], pyproject: str = "") -> Path:
    (root / "tests" / "unit").mkdir(parents=True)
    for name, text in tests.items():
        (root / "tests" / "unit" / name).write_text(text)
    (root / "pyproject.toml").write_text(pyproject)
    readable_by_containers(root)
    return root


def doorbell_ci(project: Path, *args: str, env: dict[str, str] | None = None,
                timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", "unit",
         "--environment", "docker", "--workers", "1", "--no-coverage", "--no-reports", *args],
        env=env or offline_env(), capture_output=True, text=True, timeout=timeout, check=False,
    )


def wait_for(predicate: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def test_suite_container_is_hardened_and_removed_when_its_helper_gets_sigterm(client: Any, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", {"test_sleep.py": SLEEPER},
                           "[tool.doorbell-ci.environment.docker]\nmemory = '256m'\npids = 64\ncpus = 0.5\n")
    config = load_config(project, environ={"DOORBELL_CI_DOCKER_BASE": "offline"})
    plan = make_plan(config)
    plan.output_dir.mkdir(parents=True)
    environment = DockerEnvironment(config)
    environment.prepare(plan)
    try:
        root = environment.tree.root  # type: ignore[union-attr]
        command = environment.command(plan.suites[0])
        helper = subprocess.Popen(command.argv, cwd=command.cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        container = wait_for(lambda: next(iter(
            c for c in labelled(client, plan.run_id)[0] if c.status == "running"), None))
        host = container.attrs["HostConfig"]
        assert host["Privileged"] is False
        assert host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"] == ["no-new-privileges"]
        assert (host["Memory"], host["PidsLimit"], host["NanoCpus"]) == (256 * 1024**2, 64, 500_000_000)
        assert container.attrs["Config"]["User"] not in {"", "root", "0"}
        assert container.labels["doorbell-ci.suite"] == "unit"
        assert container.labels["doorbell-ci.env-root"] == str(root)
        mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
        assert mounts[str(project)]["RW"] is False  # the project is read-only inside
        assert mounts[str(plan.output_dir)]["Source"] == str(root / "output")  # results go to staging
        helper.send_signal(signal.SIGTERM)
        assert helper.wait(timeout=30) == 128 + signal.SIGTERM
        assert labelled(client, plan.run_id)[0] == []
        assert len(labelled(client, plan.run_id)[1]) == 1  # the run's network stays until cleanup
    finally:
        environment.cleanup()
    assert labelled(client, plan.run_id) == ([], [])
    assert not root.exists()


def test_service_is_ready_before_the_suites_and_reachable_by_name(client: Any, tmp_path: Path) -> None:
    web_test = '''
import urllib.request
def test_web_service_answers():
    with urllib.request.urlopen("http://web:8000/", timeout=10) as response:
        assert response.status == 200
'''
    ready = ["-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/', timeout=2)"]
    pyproject = (
        "[tool.doorbell-ci.environment.docker.services.web]\n"
        f"command = {json.dumps([sys.executable, '-m', 'http.server', '8000', '--directory', '/tmp'])}\n"
        f"ready = {json.dumps([sys.executable, *ready])}\n"
        "ready_timeout = 60\n"
    )
    project = make_project(tmp_path / "project", {"test_web.py": web_test}, pyproject)
    result = doorbell_ci(project)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((project / "test-results" / "report.json").read_text())
    services = report["environment"]["services"]
    assert [s["name"] for s in services] == ["web"]
    assert report["environment"]["kind"] == "docker"
    assert client.containers.list(all=True, filters={"label": f"doorbell-ci.project={project}"}) == []


def test_service_that_never_gets_ready_is_an_environment_error_leaving_nothing(client: Any, tmp_path: Path) -> None:
    crash = [sys.executable, "-c", "import sys; print('no database here'); sys.exit(3)"]
    pyproject = (
        "[tool.doorbell-ci.environment.docker.services.db]\n"
        f"command = {json.dumps(crash)}\n"
        "ready = ['/bin/false']\n"
    )
    project = make_project(tmp_path / "project", {"test_ok.py": "def test_ok():\n    pass\n"}, pyproject)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    result = doorbell_ci(project, env=offline_env(TMPDIR=str(tmpdir)))
    assert result.returncode == 3, result.stdout + result.stderr
    error = result.stderr.strip().splitlines()
    assert len(error) == 1 and "service 'db' stopped with exit code 3" in error[0], error
    assert "no database here" in error[0]
    project_filter = {"label": f"doorbell-ci.project={project}"}
    assert client.containers.list(all=True, filters=project_filter) == []
    assert client.networks.list(filters=project_filter) == []
    assert list(tmpdir.iterdir()) == []


def test_timeout_kills_the_suite_and_removes_its_container(client: Any, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", {"test_sleep.py": SLEEPER})
    begin = time.monotonic()
    result = doorbell_ci(project, "--timeout", "8")
    assert result.returncode == 1, result.stdout + result.stderr
    assert time.monotonic() - begin < 90
    assert "TIMED OUT" in result.stdout
    assert client.containers.list(all=True, filters={"label": f"doorbell-ci.project={project}"}) == []
    assert client.networks.list(filters={"label": f"doorbell-ci.project={project}"}) == []


def test_failing_test_in_a_container_is_reported_like_a_local_one(client: Any, tmp_path: Path) -> None:
    tests = {"test_mixed.py": "def test_pass():\n    pass\n\ndef test_fail():\n    assert 1 == 2\n"}
    project = make_project(tmp_path / "project", tests)
    result = doorbell_ci(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "1 passed, 1 failed, 0 skipped"
    assert (project / "test-results" / "junit" / "unit.xml").is_file()


def test_own_dockerfile_is_built_once_and_then_found_by_its_hash(client: Any, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text("# nothing to install offline\n")
    dockerfile = f"ARG DOORBELL_CI_BASE\nFROM ${{DOORBELL_CI_BASE}}\nLABEL test.case=\"{tmp_path.name}\"\nUSER 1000\n"
    (project / "Dockerfile").write_text(dockerfile)
    settings = DockerSettings()
    first = images.ensure_test_image(client, project, settings, "offline")
    try:
        assert (first.built, first.recipe) == (True, "own-dockerfile")
        again = images.ensure_test_image(client, project, settings, "offline")
        assert (again.tag, again.built) == (first.tag, False)
        assert client.images.get(first.tag).labels["doorbell-ci.role"] == "test-image"
        (project / "requirements.txt").write_text("# changed\n")
        changed = images.ensure_test_image(client, project, settings, "offline")
        assert changed.tag != first.tag and changed.built
        client.images.remove(changed.tag)
    finally:
        client.images.remove(first.tag)


def test_missing_image_named_in_config_is_an_environment_error(client: Any, tmp_path: Path) -> None:
    with pytest.raises(EnvironmentError_, match="'doorbell-ci-no-such-image:1' .* is not on this engine"):
        images.ensure_test_image(client, tmp_path, DockerSettings(image="doorbell-ci-no-such-image:1"), "offline")


def test_no_reachable_engine_is_one_clear_line_and_creates_nothing(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", {"test_ok.py": "def test_ok():\n    pass\n"})
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = offline_env(DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock", TMPDIR=str(tmpdir))
    result = doorbell_ci(project, env=env)
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("doorbell-ci: error: no reachable Docker engine at unix://")
    assert "--environment local" in lines[0]
    assert list(tmpdir.iterdir()) == []


def test_env_cleanup_removes_objects_of_dead_runs_and_keeps_live_ones(client: Any, tmp_path: Path) -> None:
    base, _ = images.ensure_offline_base(client)
    run_dead, run_live = f"dead-{tmp_path.name}", f"live-{tmp_path.name}"
    from doorbell_ci.environments.tree import owner_label

    created = []
    for run_id, owner in ((run_dead, "1:1.0"), (run_live, owner_label())):
        labels = {"doorbell-ci.managed": "true", "doorbell-ci.run-id": run_id, "doorbell-ci.owner": owner}
        network = client.networks.create(f"doorbell-ci-{run_id}", labels=labels)
        container = client.containers.create(base, ["/bin/true"], labels=labels, network=network.name)
        created.append((network, container))
    try:
        for run_id, expected in ((run_dead, 1), (run_live, 0)):
            result = subprocess.run(
                [sys.executable, "-m", "doorbell_ci", "env", "cleanup", "--run-id", run_id,
                 "--temp-dir", str(tmp_path)],
                capture_output=True, text=True, timeout=120, check=False, env=dict(os.environ),
            )
            assert result.returncode == 0, result.stderr
            assert f"containers removed: {expected}" in result.stdout
            assert f"networks removed: {expected}" in result.stdout
        assert labelled(client, run_dead) == ([], [])
        assert len(labelled(client, run_live)[0]) == 1
    finally:
        import docker.errors

        for network, container in created:
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass  # removed by the command under test
            try:
                network.remove()
            except docker.errors.NotFound:
                pass


def test_whatever_a_suite_writes_under_the_output_folder_arrives_but_links_do_not(client: Any, tmp_path: Path) -> None:
    writer = '''
import os
from pathlib import Path

def test_writes_results_of_later_stages():
    perf = Path(os.environ["DOORBELL_CI_PERF_OUTPUT"])
    perf.parent.mkdir(parents=True, exist_ok=True)
    perf.write_text('{"samples": [1.0]}')
    output = perf.parent.parent
    (output / "custom" / "deep").mkdir(parents=True)
    (output / "custom" / "deep" / "data.txt").write_text("made in the container")
    (output / "custom" / "passwd").symlink_to("/etc/passwd")
'''
    project = make_project(tmp_path / "project", {"test_writer.py": writer})
    result = doorbell_ci(project)
    assert result.returncode == 0, result.stdout + result.stderr
    output = project / "test-results"
    assert (output / "perf" / "unit.json").read_text() == '{"samples": [1.0]}'
    assert (output / "custom" / "deep" / "data.txt").read_text() == "made in the container"
    assert not (output / "custom" / "passwd").exists()
    assert not list(output.rglob("*.doorbell-ci-partial"))


def test_engine_gone_at_cleanup_is_recorded_and_the_tree_still_removed(client: Any, tmp_path: Path) -> None:
    import docker

    project = make_project(tmp_path / "project", {"test_ok.py": "def test_ok():\n    pass\n"})
    config = load_config(project, environ={"DOORBELL_CI_DOCKER_BASE": "offline"})
    plan = make_plan(config)
    plan.output_dir.mkdir(parents=True)
    environment = DockerEnvironment(config)
    environment.prepare(plan)
    root = environment.tree.root  # type: ignore[union-attr]
    try:
        # A short path: under a nested run tmp_path can pass the 108-byte AF_UNIX limit.
        environment.client = docker.DockerClient(base_url="unix:///nonexistent/doorbell-ci-gone.sock",
                                                 version="1.41")
        environment.cleanup()
        problem = environment.describe()["cleanup_problem"]
        assert f"doorbell-ci env cleanup --run-id {plan.run_id}" in problem
        assert not root.exists()
    finally:
        from doorbell_ci.environments.docker import remove_labelled

        remove_labelled(client, {"doorbell-ci.run-id": plan.run_id})
    assert labelled(client, plan.run_id) == ([], [])
