"""The local environment on real files: the temp tree, the generated config, fixtures, --keep-env,
and two runs at the same time that share no file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from doorbell_ci.config import load_config
from doorbell_ci.environments.local import LocalEnvironment
from doorbell_ci.environments.tree import OWNER_FILE, orphaned_trees
from doorbell_ci.plan import make_plan

PYPROJECT = """
[tool.doorbell-ci.environment]
env = {{ DOORBELL_MODE = "test-{{run_id}}" }}

[tool.doorbell-ci.environment.test_config]
faces = {{ tolerance = 0.5 }}
doorbell_ci_demo = {{ frames = "{{fixtures}}/frames" }}
{extra}
"""

# A test that writes where the Doorbell System would (database, logs, home, tmp) and records it.
WRITER_TEST = '''
import json, os, time
from pathlib import Path

def test_writes_only_inside_its_environment():
    config = json.loads(Path(os.environ["DOORBELL_CONFIG"]).read_text())
    written = []
    for target in (config["database"]["path"], config["logging"]["file"],
                   os.path.join(os.environ["HOME"], ".doorbellrc"),
                   os.path.join(os.environ["TMPDIR"], "scratch.bin"),
                   os.path.join(config["faces"]["known_dir"], "alice.jpg")):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(os.environ["DOORBELL_CI_ENV_ROOT"])
        written.append(str(Path(target).resolve()))
    time.sleep(1.5)  # overlap with the other run
    Path(os.environ["HOME"], "written.json").write_text(json.dumps(written))
'''


def make_project(root: Path, extra_toml: str = "") -> Path:
    (root / "tests" / "unit").mkdir(parents=True)
    (root / "tests" / "fixtures" / "frames").mkdir(parents=True)
    (root / "tests" / "fixtures" / "frames" / "door.jpg").write_bytes(b"\xff\xd8fake-jpeg")
    (root / "tests" / "unit" / "test_writer.py").write_text(WRITER_TEST)
    (root / "pyproject.toml").write_text(PYPROJECT.format(extra=extra_toml))
    return root


def run_doorbell_ci(project: Path, output: str, *args: str, tmpdir: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_", "PYTEST_", "COV_CORE_"))}
    env["TMPDIR"] = str(tmpdir)
    return subprocess.Popen(
        [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", "unit",
         "--workers", "1", "--no-coverage", "--no-reports", "--output-dir", output, *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_prepare_builds_the_tree_and_cleanup_removes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    project = make_project(tmp_path / "project")
    environment = LocalEnvironment(load_config(project, environ={}))
    plan = make_plan(load_config(project, environ={}))
    import tempfile

    tempfile.tempdir = None  # pick up TMPDIR
    try:
        environment.prepare(plan)
        root = environment.root
        assert root is not None and root.parent == tmp_path / "tmp"
        for folder in ("data/known_faces", "data/blacklist_faces", "logs", "config", "home", "tmp", "xdg/cache"):
            assert (root / folder).is_dir(), folder
        assert (root / "fixtures" / "frames" / "door.jpg").read_bytes() == b"\xff\xd8fake-jpeg"
        command = environment.command(plan.suites[0])
        config_path = Path(command.env["DOORBELL_CONFIG"])
        document = json.loads(config_path.read_text())
        assert config_path.is_relative_to(root)
        assert document["faces"] == {"tolerance": 0.5, "model": "hog", "known_dir": str(root / "data/known_faces"),
                                     "blacklist_dir": str(root / "data/blacklist_faces")}
        assert document["doorbell_ci_demo"] == {"frames": str(root / "fixtures/frames")}
        assert command.env["DOORBELL_MODE"] == f"test-{plan.run_id}"
        assert command.env["HOME"] == str(root / "home")
        assert command.env["XDG_CACHE_HOME"] == str(root / "xdg/cache")
        assert command.env["APPDATA"] == str(root / "appdata/roaming") and (root / "appdata/roaming").is_dir()
        assert command.env["LOCALAPPDATA"] == str(root / "appdata/local") and (root / "appdata/local").is_dir()
        assert environment.describe()["root"] is None  # not kept: the path means nothing afterwards
    finally:
        environment.cleanup()
        tempfile.tempdir = None
    assert not root.exists()
    environment.cleanup()  # twice is fine


def test_two_runs_at_the_same_time_share_no_file(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    runs = [run_doorbell_ci(project, f"out-{i}", "--keep-env", tmpdir=tmpdir) for i in range(2)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    roots = sorted(tmpdir.glob("doorbell-ci-*"))
    assert len(roots) == 2, outputs
    for output in outputs:
        assert "kept the test environment at" in output
    files = []
    for root in roots:
        written = json.loads((root / "home" / "written.json").read_text())
        assert len(written) == 5
        assert all(Path(path).is_relative_to(root.resolve()) for path in written), written
        assert all(Path(path).read_text() == str(root) for path in written)
        every_file = {p.resolve() for p in root.rglob("*") if p.is_file()}
        files.append((every_file, {(p.stat().st_dev, p.stat().st_ino) for p in every_file}))
    (paths_a, inodes_a), (paths_b, inodes_b) = files
    assert not paths_a & paths_b
    assert not inodes_a & inodes_b
    configs = [json.loads((root / "config" / "doorbell-test.json").read_text()) for root in roots]
    assert configs[0]["database"]["path"] != configs[1]["database"]["path"]


def test_without_keep_env_nothing_is_left(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    run = run_doorbell_ci(project, "out", tmpdir=tmpdir)
    output = run.communicate(timeout=300)[0]
    assert run.returncode == 0, output
    assert "1 passed" in output
    assert list(tmpdir.iterdir()) == []


def test_bad_environment_table_is_one_line_usage_error(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", extra_toml="[tool.doorbell-ci.environment.docker]\nmemroy = '1g'\n")
    run = run_doorbell_ci(project, "out", tmpdir=tmp_path)
    output = run.communicate(timeout=120)[0]
    assert run.returncode == 2, output
    assert output.strip().splitlines()[-1].startswith("doorbell-ci: error: [tool.doorbell-ci.environment.docker]: "
                                                      "unknown key 'memroy'")


def test_env_cleanup_removes_only_trees_of_dead_runs(tmp_path: Path) -> None:
    dead = tmp_path / "doorbell-ci-RUNA-x"
    alive = tmp_path / "doorbell-ci-RUNB-y"
    foreign = tmp_path / "doorbell-ci-not-ours"
    for folder in (dead, alive, foreign):
        (folder / "data").mkdir(parents=True)
    # a process that has exited: its pid may be reused, so the create time is what proves it gone
    (dead / OWNER_FILE).write_text(json.dumps({"run_id": "RUNA", "pid": os.getpid(), "create_time": 1.0}))
    import psutil

    me = psutil.Process()
    (alive / OWNER_FILE).write_text(json.dumps({"run_id": "RUNB", "pid": me.pid, "create_time": me.create_time()}))
    assert orphaned_trees(tmp_path) == [dead]
    result = subprocess.run(
        [sys.executable, "-m", "doorbell_ci", "env", "cleanup", "--no-docker", "--temp-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "temp folders removed: 1" in result.stdout
    assert not dead.exists() and alive.exists() and foreign.exists()


SAMPLE_SRC = Path(__file__).resolve().parents[1] / "sample_project" / "src"


@pytest.mark.skipif(not (SAMPLE_SRC / "doorbell" / "config.py").is_file(), reason="tests/sample_project is missing")
def test_the_sample_doorbell_loads_the_generated_config(tmp_path: Path) -> None:
    """The default test config is what the Doorbell System's own loader accepts, every path in the tree."""
    project = make_project(tmp_path / "project")
    (project / "pyproject.toml").write_text("[tool.doorbell-ci.environment.test_config]\nfaces = { tolerance = 0.5 }\n")
    config = load_config(project, environ={})
    environment = LocalEnvironment(config)
    plan = make_plan(config)
    environment.prepare(plan)
    try:
        command = environment.command(plan.suites[0])
        script = ("from doorbell.config import load_config; import json; c = load_config(); print(json.dumps("
                  "[str(c.database_path), str(c.log_file), c.face_tolerance, c.face_model, c.mock_mode, "
                  "c.camera_enabled, c.gpio_enabled, c.web_host, c.log_level]))")
        env = {**os.environ, **command.env, "PYTHONPATH": str(SAMPLE_SRC)}
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        database, log, tolerance, model, mock, camera, gpio, host, level = json.loads(result.stdout)
        root = environment.root
        assert root is not None
        assert (Path(database), Path(log)) == (root / "data/doorbell.db", root / "logs/doorbell.log")
        assert (tolerance, model, mock, camera, gpio, host, level) == (0.5, "hog", True, False, False,
                                                                       "127.0.0.1", "DEBUG")
    finally:
        environment.cleanup()
