"""runner-setup/: shellcheck clean, and every script's --dry-run plan against a fake Pi root.

The fake root is a copy of tests/fixtures/platforms/<machine> (device-tree model, os-release,
throttled flags, video4linux names) and the runner release is a real tarball with its .sha256
served from a local folder through a file:// URL. Nothing here needs root: the plans are
printed, not carried out, and the test checks that the fake root is left untouched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fake_machines import fake_root
from tests.nonroot import run_as_nonroot
from tests.tooling import require_tool

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="runner-setup targets Raspberry Pi OS; its scripts need GNU bash 5 tools")

SETUP = Path(__file__).resolve().parents[2] / "runner-setup"
SCRIPTS = sorted([*SETUP.glob("*.sh"), *SETUP.glob("hooks/*.sh")])
VERSION = "2.336.0"  # runner-setup/lib/common.sh's pinned default
NEXT, AFTER_NEXT = "2.337.0", "2.338.0"  # releases after it, for the update-deadline check
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
    variables.update({"DOORBELL_RUNNER_ARCH": arch, "LC_ALL": "C",
                      # the health check never asks GitHub from a test: a missing file is "could not read"
                      "RUNNER_RELEASES_API": "file:///nonexistent/doorbell-ci-runner-releases.json"})
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


@pytest.mark.parametrize("arch", ["armhf", "armv7l"])
def test_32_bit_arm_is_refused_with_the_reason_and_the_date(tmp_path: Path, release: Path, arch: str) -> None:
    """Every script that detects the architecture stops on a 32-bit userland, before changing anything."""
    root = fake_root("pi5", tmp_path)
    before = tree(root)
    for script in ("check-pi.sh", "install-packages.sh", "install-runner.sh", "setup.sh"):
        completed = run_script(script, "--dry-run", "--url", "https://github.com/o/r", root=root, arch=arch,
                               release=release) if script in ("install-runner.sh", "setup.sh") else \
            run_script(script, "--dry-run", root=root, arch=arch)
        assert completed.returncode == 1, (script, completed.stdout)
        error = completed.stderr.strip().splitlines()[-1]
        assert f"32-bit ARM userland '{arch}'" in error and "actions/runner PR #4303" in error, script
        assert "September 23rd, 2026" in error and "64-bit Raspberry Pi OS" in error, script
    assert tree(root) == before


def test_check_pi_32_bit_pi5_without_camera_when_allowed(tmp_path: Path) -> None:
    completed = run_script("check-pi.sh", root=fake_root("pi5", tmp_path), arch="armhf",
                           env={"DOORBELL_RUNNER_ALLOW_ARM32": "1"})
    assert completed.returncode == 0, completed.stderr
    assert "deprecated (actions/runner PR #4303)" in completed.stderr and "warning" in completed.stderr
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
    bad = run_script("install-runner.sh", "--download-only", str(tmp_path / "bad"), arch="armhf", release=release,
                     env={"DOORBELL_RUNNER_ALLOW_ARM32": "1"})
    assert bad.returncode == 1
    assert f"checksum mismatch for actions-runner-linux-arm-{VERSION}.tar.gz" in bad.stderr
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


def installed_runner(root: Path, version: str = VERSION) -> None:
    runner = root / "opt/doorbell-runner"
    runner.mkdir(parents=True)
    (runner / "config.sh").write_text("#!/bin/sh\n", encoding="utf-8")
    (runner / "config.sh").chmod(0o755)
    (runner / ".runner").write_text("{}", encoding="utf-8")
    (runner / ".doorbell-runner-version").write_text(f"{version}\n", encoding="ascii")


def releases_api(tmp_path: Path, releases: list[tuple[str, float]]) -> str:
    """A file:// stand-in for GitHub's release list: (tag, days since it was published)."""
    now = datetime.now(UTC)
    document = [{"tag_name": tag, "published_at": (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "draft": False, "prerelease": False} for tag, days in releases]
    document.append({"tag_name": "v9.9.9", "published_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "draft": True, "prerelease": False})  # a draft never starts the clock
    path = tmp_path / "releases.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path.as_uri()


@pytest.mark.parametrize(("releases", "level", "detail"), [
    ([(f"v{VERSION}", 90)], "ok  ", "the latest release"),
    ([(f"v{NEXT}", 5), (f"v{VERSION}", 90)], "ok  ", f"v{NEXT} is available; 25 days left to update"),
    # the clock runs from the first newer release (NEXT, 26 days), not the latest one (AFTER_NEXT)
    ([(f"v{AFTER_NEXT}", 1), (f"v{NEXT}", 26.5), (f"v{VERSION}", 90)], "WARN",
     f"v{NEXT} came out 26 days ago: update within 4 days"),
    ([(f"v{NEXT}", 31), (f"v{VERSION}", 90)], "FAIL", "GitHub no longer queues jobs to this runner"),
])
def test_health_check_warns_before_githubs_30_day_update_deadline(
        tmp_path: Path, releases: list[tuple[str, float]], level: str, detail: str) -> None:
    root = fake_root("pi5", tmp_path)
    installed_runner(root)
    completed = run_script("health-check.sh", root=root, env={"RUNNER_RELEASES_API": releases_api(tmp_path, releases)})
    line = next(line for line in completed.stdout.splitlines() if " version: " in line)
    assert line.startswith(f"{level} version: {VERSION}: ") and detail in line, completed.stdout
    assert completed.returncode == (1 if level == "FAIL" else 0)


def test_the_tests_check_the_pinned_runner_version() -> None:
    """VERSION above is what install-runner.sh installs by default (lib/common.sh), so the health check's deadline
    tests speak of the release a new Pi really gets."""
    pinned = re.search(r'RUNNER_VERSION="\$\{RUNNER_VERSION:-([0-9.]+)\}"', (SETUP / "lib" / "common.sh").read_text())
    assert pinned is not None and pinned.group(1) == VERSION
    from tests.integration import test_runner_setup_arm64

    assert test_runner_setup_arm64.VERSION == VERSION


def test_health_check_says_when_it_cannot_read_the_releases(tmp_path: Path) -> None:
    root = fake_root("pi5", tmp_path)
    installed_runner(root)
    completed = run_script("health-check.sh", root=root)
    assert f"WARN version: {VERSION}; could not read GitHub's releases" in completed.stdout
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"message": "API rate limit exceeded"}', encoding="utf-8")
    completed = run_script("health-check.sh", root=root, env={"RUNNER_RELEASES_API": garbage.as_uri()})
    assert f"WARN version: {VERSION}: unreadable release list" in completed.stdout


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


JITCONFIG = base64.b64encode(json.dumps({".runner": "secret-one-time-runner-credentials"}).encode()).decode()


def test_a_just_in_time_runner_is_planned_without_token_config_or_service(tmp_path: Path, release: Path) -> None:
    """generate-jitconfig's output arrives on stdin and reaches run.sh in its environment, never in a plan or argv."""
    completed = run_script("install-runner.sh", "--dry-run", "--jitconfig-stdin", "--url", "https://github.com/o/r",
                           "--name", "pi-jit", root=fake_root("pi5", tmp_path), release=release, stdin=JITCONFIG + "\n")
    assert completed.returncode == 0, completed.stderr
    plan = completed.stdout
    assert "ACTIONS_RUNNER_INPUT_JITCONFIG=<hidden> runuser -u github-runner -- ./run.sh" in plan
    assert "config.sh" not in plan and "svc.sh" not in plan
    assert JITCONFIG not in plan + completed.stderr and "secret" not in plan + completed.stderr
    assert "no registration token" not in completed.stderr


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["--jitconfig", JITCONFIG], "", "never pass a just-in-time runner configuration on the command line"),
    ([f"--jitconfig={JITCONFIG}"], "", "never pass a just-in-time runner configuration on the command line"),
    (["--jitconfig-stdin", "--ephemeral"], JITCONFIG, "single-use already"),
    (["--jitconfig-stdin", "--token-stdin"], JITCONFIG, "single-use already"),
    (["--jitconfig-stdin"], "not base64; rm -rf /\n", "is not an encoded_jit_config"),
    (["--jitconfig-stdin"], "", "no just-in-time configuration on standard input"),
])
def test_a_just_in_time_configuration_is_refused_in_the_wrong_form(
        tmp_path: Path, release: Path, args: list[str], stdin: str, message: str) -> None:
    root = fake_root("pi5", tmp_path)
    completed = run_script("install-runner.sh", *args, "--url", "https://github.com/o/r", root=root,
                           release=release, stdin=stdin)
    assert completed.returncode == 1
    assert message in completed.stderr and len(completed.stderr.strip().splitlines()) == 1
    assert JITCONFIG not in completed.stderr and "rm -rf" not in completed.stderr


# --- root-owned files a container job leaves in the workspace -------------------------------------------------

RECLAIM = SETUP / "hooks" / "reclaim-workspace.py"


def _reclaim_setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    """An installed helper (root-owned settings naming uid 65534 and a work folder) and what a container job left."""
    hooks_dir = tmp_path / "hooks-dir"
    (hooks_dir / "hooks").mkdir(parents=True)
    helper = hooks_dir / "hooks" / RECLAIM.name
    shutil.copy2(RECLAIM, helper)
    work = tmp_path / "work"
    (hooks_dir / "settings").write_text(f"RUNNER_USER=nobody\nRUNNER_WORK_DIR={work}\n", encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("root's", encoding="utf-8")
    cache = work / "repo" / "repo" / "__pycache__"
    cache.mkdir(parents=True)
    (cache / "mod.cpython-311.pyc").write_bytes(b"\0")
    (cache / "mod.cpython-311.pyc").chmod(0o600)
    sealed = work / "repo" / "repo" / "build"
    sealed.mkdir()
    (sealed / "out.bin").write_bytes(b"x")
    sealed.chmod(0o555)
    (work / "repo" / "repo" / "to-secret").symlink_to(outside / "secret")
    (work / "repo" / "repo" / "to-outside").symlink_to(outside)
    os.chown(work, 65534, 65534)
    return helper, work, outside


@pytest.mark.skipif(os.geteuid() != 0, reason="re-owning files needs root")
def test_reclaim_gives_a_container_jobs_root_owned_files_back_and_never_follows_links(tmp_path: Path) -> None:
    helper, work, outside = _reclaim_setup(tmp_path)
    for parent in tmp_path.parents:  # passable for uid 65534, as a Pi's /opt is
        if parent != Path("/"):
            parent.chmod(parent.stat().st_mode | 0o001)
    tmp_path.chmod(0o755)
    # the runner user cannot clean the workspace before the helper ran: the known failure
    stuck = run_as_nonroot(["rm", "-rf", "--", str(work / "repo")])
    assert stuck.returncode != 0 and "Permission denied" in stuck.stderr
    completed = subprocess.run([str(helper)], capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    for path in [work, *work.rglob("*")]:
        info = path.lstat()
        assert (info.st_uid, info.st_gid) == (65534, 65534), path
    for path in (outside, outside / "secret"):
        assert path.stat().st_uid == 0, path  # the links were re-owned as links, never followed
    cleaned = run_as_nonroot(["rm", "-rf", "--", str(work / "repo")])
    assert cleaned.returncode == 0, cleaned.stderr
    assert not (work / "repo").exists() and (outside / "secret").read_text(encoding="utf-8") == "root's"


@pytest.mark.skipif(os.geteuid() != 0, reason="re-owning files needs root")
def test_reclaim_refuses_arguments_a_writable_settings_file_and_a_swapped_work_folder(tmp_path: Path) -> None:
    helper, work, outside = _reclaim_setup(tmp_path)
    settings = tmp_path / "hooks-dir" / "settings"

    def reclaim(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(helper), *args], capture_output=True, text=True, timeout=60, check=False)

    refused = reclaim(str(outside))
    assert refused.returncode == 1 and "takes no arguments" in refused.stderr
    settings.chmod(0o666)
    refused = reclaim()
    assert refused.returncode == 1 and "only writable by root" in refused.stderr
    settings.chmod(0o644)
    os.chown(settings, 65534, 65534)
    assert "owned and only writable by root" in reclaim().stderr
    os.chown(settings, 0, 0)
    shutil.rmtree(work)
    work.symlink_to(outside)  # the runner user owns the work folder's parent on a Pi: it could do this
    refused = reclaim()
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 1 and len(lines) == 1  # O_NOFOLLOW | O_DIRECTORY on a link: ENOTDIR or ELOOP
    assert lines[0] in {f"reclaim-workspace: not reclaiming {work}: Not a directory",
                        f"reclaim-workspace: not reclaiming {work}: Too many levels of symbolic links"}
    assert (outside / "secret").stat().st_uid == 0 and outside.stat().st_uid == 0


def test_the_hooks_plan_to_reclaim_root_owned_files_before_clearing(tmp_path: Path) -> None:
    root = fake_root("pi5", tmp_path)
    completed = run_script("hooks/job-completed.sh", "--dry-run", root=root)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    reclaim = next(i for i, line in enumerate(lines)
                   if line.startswith("+ sudo -n ") and line.endswith("/reclaim-workspace.py"))
    assert all(not line.startswith("+ rm -rf") for line in lines[:reclaim])
def test_with_valgrind_installs_valgrind_for_the_instruction_metric(tmp_path: Path, release: Path) -> None:
    root = fake_root("pi4", tmp_path)
    plain = run_script("install-packages.sh", "--dry-run", root=root)
    counted = run_script("setup.sh", "--dry-run", "--url", "https://github.com/acme/doorbell", "--with-valgrind",
                         root=root, env={"RUNNER_TOKEN": TOKEN}, release=release)
    assert plain.returncode == 0 and counted.returncode == 0, counted.stderr
    assert " valgrind" not in plain.stdout
    install = next(line for line in counted.stdout.splitlines() if line.startswith("+ apt-get install"))
    assert install.endswith(" valgrind") and "python3-venv" in install
