"""runner-setup/: shellcheck clean, and every script's --dry-run plan against a fake Pi root.

The fake root is a copy of tests/fixtures/platforms/<machine> (device-tree model, os-release,
throttled flags, video4linux names) and the runner release is a real tarball with its .sha256
served from a local folder through a file:// URL. Nothing here needs root: the plans are
printed, not carried out, and the test checks that the fake root is left untouched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.fake_machines import fake_root
from tests.tooling import require_tool

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="runner-setup targets Raspberry Pi OS; its scripts need GNU bash 5 tools")

SETUP = Path(__file__).resolve().parents[2] / "runner-setup"
SCRIPTS = sorted([*SETUP.glob("*.sh"), *SETUP.glob("hooks/*.sh")])
VERSION = "2.321.0"
TOKEN = "AABBCCDDEEFF0011-registration-token-never-shown"


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """A local 'GitHub releases' folder with arm64 and arm tarballs and their .sha256 files."""
    base = tmp_path / "releases"
    folder = base / f"v{VERSION}"
    folder.mkdir(parents=True)
    payload = tmp_path / "config.sh"
    payload.write_text("#!/bin/sh\necho fake runner\n", encoding="utf-8")
    for arch in ("arm64", "arm"):
        tarball = folder / f"actions-runner-linux-{arch}-{VERSION}.tar.gz"
        with tarfile.open(tarball, "w:gz") as archive:
            archive.add(payload, arcname="config.sh")
        digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
        (folder / f"{tarball.name}.sha256").write_text(f"{digest}  {tarball.name}\n", encoding="ascii")
    return base


def run_script(script: str, *args: str, root: Path | None = None, arch: str = "arm64", stdin: str = "",
               env: dict[str, str] | None = None, release: Path | None = None) -> subprocess.CompletedProcess[str]:
    variables = {key: value for key, value in os.environ.items() if not key.startswith(("RUNNER_", "GITHUB_"))}
    variables.update({"DOORBELL_RUNNER_ARCH": arch, "LC_ALL": "C"})
    if root is not None:
        variables["DOORBELL_RUNNER_ROOT"] = str(root)
    if release is not None:
        variables["RUNNER_DOWNLOAD_BASE"] = release.as_uri()
    variables.update(env or {})
    return subprocess.run(["bash", str(SETUP / script), *args], input=stdin, capture_output=True, text=True,
                          env=variables, timeout=60, check=False)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_script_passes_shellcheck() -> None:
    require_tool("shellcheck", shutil.which("shellcheck") is not None, "apt-get install shellcheck")
    assert len(SCRIPTS) >= 9
    files = [*map(str, SCRIPTS), *map(str, SETUP.glob("lib/*.sh"))]
    completed = subprocess.run(["shellcheck", "--external-sources", *files], capture_output=True, text=True,
                               timeout=120, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize("script", [p.relative_to(SETUP).as_posix() for p in SCRIPTS])
def test_every_script_is_strict_and_has_help(script: str) -> None:
    text = (SETUP / script).read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    completed = run_script(script, "--help")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("Usage:") and "--dry-run" in completed.stdout


def test_check_pi_labels_a_pi4_with_camera(tmp_path: Path) -> None:
    completed = run_script("check-pi.sh", "--dry-run", root=fake_root("pi4", tmp_path))
    assert completed.returncode == 0, completed.stderr
    assert "model: Raspberry Pi 4 Model B Rev 1.4 (pi4)" in completed.stdout
    assert "labels: self-hosted,linux,ARM64,pi,pi4,camera" in completed.stdout


def test_check_pi_32_bit_pi5_without_camera(tmp_path: Path) -> None:
    completed = run_script("check-pi.sh", root=fake_root("pi5", tmp_path), arch="armhf")
    assert completed.returncode == 0, completed.stderr
    assert "arch: armhf (runner package linux-arm)" in completed.stdout
    assert "labels: self-hosted,linux,ARM,pi,pi5\n" in completed.stdout


@pytest.mark.parametrize(("machine", "arch", "message"), [
    ("x86-linux", "arm64", "unsupported OS 'ubuntu'"),
    ("pi4", "armel", "GitHub's runner needs armv7 or arm64"),
    ("pi4", "amd64", "unsupported architecture 'amd64'"),
])
def test_check_pi_refuses_what_it_cannot_serve(tmp_path: Path, machine: str, arch: str, message: str) -> None:
    completed = run_script("check-pi.sh", root=fake_root(machine, tmp_path), arch=arch)
    assert completed.returncode == 1
    assert message in completed.stderr and len(completed.stderr.strip().splitlines()) == 1


def test_check_pi_refuses_another_release_and_a_non_pi(tmp_path: Path) -> None:
    root = fake_root("pi5", tmp_path)
    os_release = root / "etc/os-release"
    os_release.write_text(os_release.read_text().replace("bookworm", "bullseye"), encoding="utf-8")
    assert "unsupported release 'bullseye'" in run_script("check-pi.sh", root=root).stderr
    os_release.write_text(os_release.read_text().replace("bullseye", "bookworm"), encoding="utf-8")
    (root / "proc/device-tree/model").unlink()
    assert "this is not a Raspberry Pi" in run_script("check-pi.sh", root=root).stderr


@pytest.mark.parametrize("token_via", ["stdin", "environment"])
def test_setup_dry_run_prints_the_whole_plan_and_never_the_token(tmp_path: Path, release: Path,
                                                                  token_via: str) -> None:
    root = fake_root("pi4", tmp_path)
    before = tree(root)
    args = ["--dry-run", "--url", "https://github.com/acme/doorbell", "--name", "pi4-hall", "--ephemeral",
            "--with-docker"]
    if token_via == "stdin":
        completed = run_script("setup.sh", *args, "--token-stdin", root=root, stdin=TOKEN + "\n", release=release)
    else:
        completed = run_script("setup.sh", *args, root=root, env={"RUNNER_TOKEN": TOKEN}, release=release)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert TOKEN not in output and TOKEN[:16] not in output
    assert "ACTIONS_RUNNER_INPUT_TOKEN=<hidden>" in output
    plan = completed.stdout
    steps = ["== check-pi", "== install-packages", "== create-runner-user", "== install-runner", "== health-check"]
    assert [plan.index(step) for step in steps] == sorted(plan.index(step) for step in steps)
    assert "+ apt-get install -y --no-install-recommends python3 python3-venv" in plan
    assert "python3-picamera2" in plan and "python3-lgpio" in plan and " docker.io" in plan
    # the Pi 4 root already has video, gpio and i2c: the user is only put in those
    assert "groupadd" not in plan
    assert "--groups video,gpio,i2c github-runner" in plan
    digest = (release / f"v{VERSION}" / f"actions-runner-linux-arm64-{VERSION}.tar.gz.sha256").read_text().split()[0]
    assert f"verify sha256 {digest}" in plan
    assert f"{release.as_uri()}/v{VERSION}/actions-runner-linux-arm64-{VERSION}.tar.gz" in plan
    assert "--labels self-hosted,linux,ARM64,pi,pi4,camera --work _work --ephemeral" in plan
    assert "ACTIONS_RUNNER_HOOK_JOB_STARTED=" + str(root / "opt/doorbell-runner-hooks/hooks/job-started.sh") in plan
    assert "ACTIONS_RUNNER_HOOK_JOB_COMPLETED=" in plan
    assert "RUNNER_LABELS=self-hosted,linux,ARM64,pi,pi4,camera" in plan
    assert "+ ./svc.sh install github-runner" in plan
    assert tree(root) == before  # a dry run changes nothing


def test_install_without_ephemeral_and_without_a_token(tmp_path: Path, release: Path) -> None:
    completed = run_script("install-runner.sh", "--dry-run", "--url", "https://github.com/acme/doorbell",
                           root=fake_root("pi5", tmp_path), release=release)
    assert completed.returncode == 0, completed.stderr
    assert "--ephemeral" not in completed.stdout
    assert "--labels self-hosted,linux,ARM64,pi,pi5 --work _work)" in completed.stdout
    assert "no registration token given" in completed.stderr


@pytest.mark.parametrize("script", ["install-runner.sh", "setup.sh", "uninstall.sh"])
@pytest.mark.parametrize("form", [["--token", TOKEN], [f"--token={TOKEN}"]])
def test_a_token_on_the_command_line_is_refused(tmp_path: Path, script: str, form: list[str]) -> None:
    completed = run_script(script, "--dry-run", *form, root=fake_root("pi5", tmp_path))
    assert completed.returncode == 1
    assert "never pass the registration token on the command line" in completed.stderr
    assert TOKEN not in completed.stdout + completed.stderr


def test_download_verifies_the_checksum(tmp_path: Path, release: Path) -> None:
    good = run_script("install-runner.sh", "--download-only", str(tmp_path / "ok"), release=release)
    assert good.returncode == 0, good.stderr
    assert (tmp_path / "ok" / f"actions-runner-linux-arm64-{VERSION}.tar.gz").exists()
    tarball = release / f"v{VERSION}" / f"actions-runner-linux-arm-{VERSION}.tar.gz"
    tarball.write_bytes(tarball.read_bytes() + b"tampered")
    bad = run_script("install-runner.sh", "--download-only", str(tmp_path / "bad"), arch="armhf", release=release)
    assert bad.returncode == 1
    assert "checksum mismatch for actions-runner-linux-arm-2.321.0.tar.gz" in bad.stderr
    assert not list((tmp_path / "bad").glob("*.tar.gz"))  # the bad download is not kept


def test_a_missing_or_malformed_checksum_stops_the_install(tmp_path: Path, release: Path) -> None:
    missing = run_script("install-runner.sh", "--download-only", str(tmp_path / "x"), release=tmp_path / "nowhere")
    assert missing.returncode == 1 and "set RUNNER_SHA256" in missing.stderr
    malformed = run_script("install-runner.sh", "--download-only", str(tmp_path / "y"), release=release,
                           env={"RUNNER_SHA256": "1234"})
    assert malformed.returncode == 1 and "is not a SHA-256 checksum" in malformed.stderr


def test_create_user_resets_an_existing_users_groups(tmp_path: Path) -> None:
    root = fake_root("pi4", tmp_path)
    with (root / "etc/passwd").open("a", encoding="utf-8") as passwd:
        passwd.write("github-runner:x:999:999::/home/github-runner:/bin/bash\n")
    completed = run_script("create-runner-user.sh", "--dry-run", root=root)
    assert completed.returncode == 0, completed.stderr
    assert "+ usermod --groups video,gpio,i2c --shell /usr/sbin/nologin github-runner" in completed.stdout
    assert "useradd" not in completed.stdout
    refused = run_script("create-runner-user.sh", "--dry-run", root=root, env={"RUNNER_USER": "root"})
    assert refused.returncode == 1 and "must not run as root" in refused.stderr


@pytest.mark.parametrize("hook", ["hooks/job-started.sh", "hooks/job-completed.sh"])
def test_hooks_plan_to_clear_the_workspace_and_kill_strays(tmp_path: Path, hook: str) -> None:
    root = fake_root("pi5", tmp_path)
    workspace = root / "opt/doorbell-runner/_work/doorbell/doorbell"
    (workspace / "test-results").mkdir(parents=True)
    (workspace / "leftover.db").write_text("x", encoding="utf-8")
    (root / "tmp/pytest-of-runner").mkdir(parents=True)
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("x", encoding="utf-8")
    before = tree(root)
    stray = subprocess.Popen(["sleep", "60"])  # a server a test forgot to stop
    try:
        completed = run_script(hook, "--dry-run", root=root,
                               env={"GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(outside)})
    finally:
        stray.kill()
        stray.wait()
    assert completed.returncode == 0, completed.stderr
    plan = completed.stdout
    assert f"+ rm -rf -- {workspace / 'leftover.db'}" in plan
    assert f"+ rm -rf -- {workspace / 'test-results'}" in plan
    assert f"+ rm -rf -- {root / 'tmp/pytest-of-runner'}" in plan
    assert str(outside) not in plan and "not inside the runner's work folder" in completed.stderr
    assert f"stray process: {stray.pid} sleep" in plan
    assert f"stray process: {os.getpid()} " not in plan  # the hook's ancestors (the runner) are spared
    kill_line = next(line for line in plan.splitlines() if line.startswith("+ kill -TERM"))
    assert str(stray.pid) in kill_line.split() and str(os.getpid()) not in kill_line.split()
    assert tree(root) == before and (outside / "keep.txt").exists()


def installed_runner(root: Path) -> None:
    runner = root / "opt/doorbell-runner"
    runner.mkdir(parents=True)
    (runner / "config.sh").write_text("#!/bin/sh\n", encoding="utf-8")
    (runner / "config.sh").chmod(0o755)
    (runner / ".runner").write_text("{}", encoding="utf-8")


def test_health_check_fails_on_under_voltage(tmp_path: Path) -> None:
    root = fake_root("pi4", tmp_path)
    installed_runner(root)
    completed = run_script("health-check.sh", root=root)
    assert completed.returncode == 1, completed.stdout
    assert "FAIL power: under-voltage now (flags 0x50005)" in completed.stdout
    assert "ok   runner: installed and registered" in completed.stdout


def test_health_check_passes_a_healthy_pi5(tmp_path: Path) -> None:
    root = fake_root("pi5", tmp_path)
    installed_runner(root)
    (root / "sys/class/thermal/thermal_zone0").mkdir(parents=True)
    (root / "sys/class/thermal/thermal_zone0/temp").write_text("52300\n", encoding="ascii")
    completed = run_script("health-check.sh", root=root)
    assert "FAIL" not in completed.stdout, completed.stdout
    assert completed.returncode == 0
    assert "ok   throttling: no throttling or under-voltage since boot" in completed.stdout
    assert "ok   temperature: 52 C" in completed.stdout
    assert "WARN service: systemd is not running here" in completed.stdout


def test_health_check_reports_a_missing_runner(tmp_path: Path) -> None:
    completed = run_script("health-check.sh", root=fake_root("pi5", tmp_path))
    assert completed.returncode == 1 and "FAIL runner: not installed or not registered" in completed.stdout


@pytest.mark.parametrize(("text", "line"), [
    ("zz-garbage", "WARN throttling: unreadable flags 'zz-garbage'"),
    ("0x80000", "WARN throttling: throttled or under-voltage since boot (flags 0x80000)"),
    ("4", "WARN throttling: throttled or capped now (flags 0x4)"),
])
def test_health_check_reads_the_throttled_flags(tmp_path: Path, text: str, line: str) -> None:
    root = fake_root("pi5", tmp_path, throttled=text)
    installed_runner(root)
    completed = run_script("health-check.sh", root=root)
    assert line in completed.stdout, completed.stdout + completed.stderr
    assert completed.returncode == 0  # warnings only


def test_uninstall_dry_run(tmp_path: Path) -> None:
    root = fake_root("pi5", tmp_path)
    completed = run_script("uninstall.sh", "--dry-run", root=root, env={"RUNNER_TOKEN": TOKEN})
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert TOKEN not in output
    plan = completed.stdout
    assert plan.index("+ ./svc.sh stop") < plan.index("./config.sh remove") < plan.index("+ rm -rf")
    assert f"+ rm -rf -- {root / 'opt/doorbell-runner'} {root / 'opt/doorbell-runner-hooks'}" in plan
    assert "+ userdel --remove github-runner" in plan
    kept = run_script("uninstall.sh", "--dry-run", "--keep-user", root=root)
    assert "userdel" not in kept.stdout and "no removal token" in kept.stderr


def test_with_valgrind_installs_valgrind_for_the_instruction_metric(tmp_path: Path, release: Path) -> None:
    root = fake_root("pi4", tmp_path)
    plain = run_script("install-packages.sh", "--dry-run", root=root)
    counted = run_script("setup.sh", "--dry-run", "--url", "https://github.com/acme/doorbell", "--with-valgrind",
                         root=root, env={"RUNNER_TOKEN": TOKEN}, release=release)
    assert plain.returncode == 0 and counted.returncode == 0, counted.stderr
    assert " valgrind" not in plain.stdout
    install = next(line for line in counted.stdout.splitlines() if line.startswith("+ apt-get install"))
    assert install.endswith(" valgrind") and "python3-venv" in install
