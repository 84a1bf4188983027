"""runner-setup for real, inside the emulated arm64 Debian bookworm root (scripts/arm64.sh).

This runs in the arm64-integration suite, where doorbell-ci's integration tests run as root in a
throw-away overlay of the root (the marker file arm64.sh leaves at /.doorbell-ci-arm64-root), so
installing packages, creating users and device nodes changes nothing that outlives the run.
Everywhere else it skips: on a real machine it would install a runner.

The machine is turned into a fake Raspberry Pi 5 first (device-tree model, throttled flags,
temperature, a camera in video4linux, camera and GPIO device nodes, the gpio and i2c groups,
``vcgencmd``, and a local apt archive standing in for the Raspberry Pi archive with the Pi-only
packages). The runner tarball is a fake with the real layout (config.sh, run.sh, svc.sh,
bin/Runner.Listener), served from a ``file://`` mirror with its SHA-256. Its run.sh behaves like
the runner where the hooks are concerned: it runs them as its children, with .env's variables.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

INSIDE = Path("/.doorbell-ci-arm64-root").exists() and os.geteuid() == 0
pytestmark = pytest.mark.skipif(not INSIDE, reason="runs as root inside the emulated arm64 root only (the "
                                "arm64-integration suite, scripts/test.sh --full); elsewhere it would install a runner")

SETUP = Path(__file__).resolve().parents[2] / "runner-setup"
VERSION = "2.336.0"  # runner-setup/lib/common.sh's pinned default
TOKEN = "AABBCCDDEEFF0011-registration-token-arm64"
REMOVAL_TOKEN = "FFEEDDCCBBAA-removal-token-arm64"
USER = "github-runner"
RUNNER_DIR = Path("/opt/doorbell-runner")
HOOKS_DIR = Path("/opt/doorbell-runner-hooks")
WORK = RUNNER_DIR / "_work"
ARCHIVE = Path("/srv/fake-pi-archive")
RELEASES = Path("/srv/fake-runner-releases")
# Raspberry Pi OS gets these from the Raspberry Pi archive, not Debian's
PI_ONLY = ("python3-picamera2", "rpicam-apps", "python3-lgpio", "python3-libcamera", "libcamera-dev")
# what the comparison of file lists leaves out: kernel and run-time file systems, and apt's and
# the package manager's bookkeeping that every apt-get run rewrites
SKIP = ("/proc", "/sys", "/dev", "/run", "/tmp", "/src", "/var/cache", "/var/log", "/var/lib/apt", "/var/lib/dpkg")


def sh(*argv: str, user: str | None = None, env: dict[str, str] | None = None, stdin: str = "",
       timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = ["runuser", "-u", user, "--", *argv] if user else list(argv)
    completed = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
                               env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                    "LANG": "C.UTF-8", "HOME": "/root", **(env or {})})
    if check:
        assert completed.returncode == 0, f"{argv}: {completed.stdout}\n{completed.stderr}"
    return completed


def file_list() -> dict[str, tuple[int, int, int]]:
    """Every path outside SKIP with its owner, group and mode (what "left nothing behind" is judged on)."""
    entries: dict[str, tuple[int, int, int]] = {}
    for folder, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if not os.path.join(folder, d).startswith(SKIP)]
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            entries[path] = (info.st_uid, info.st_gid, info.st_mode)
    return entries


def write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def make_fake_pi() -> None:
    """A Raspberry Pi 5 with a camera, as far as runner-setup and platforms.py can see (in this namespace only)."""
    # sysfs takes no new folders: tmpfs over the three places runner-setup and platforms.py read
    for mount_point in ("/sys/firmware", "/sys/class", "/sys/devices/platform"):
        sh("mount", "-t", "tmpfs", "fake-pi", mount_point)
    write(Path("/sys/firmware/devicetree/base/model"), "Raspberry Pi 5 Model B Rev 1.0\0")
    write(Path("/sys/devices/platform/soc/soc:firmware/get_throttled"), "0\n")
    write(Path("/sys/class/thermal/thermal_zone0/temp"), "48300\n")
    write(Path("/sys/class/video4linux/video0/name"), "rp1-cfe\n")  # the Pi 5's camera front end
    write(Path("/sys/class/video4linux/video20/name"), "pispbe\n")  # its ISP: not a camera
    for group in ("gpio", "i2c", "spi"):
        sh("groupadd", "--system", "-f", group)
    nodes = (("video0", 81, 0, "video"), ("gpiochip0", 254, 0, "gpio"), ("gpiochip4", 254, 4, "gpio"),
             ("i2c-1", 89, 1, "i2c"), ("vchiq", 511, 0, "video"))
    for node, major, minor, group in nodes:
        path = Path("/dev") / node
        os.mknod(path, 0o660 | stat.S_IFCHR, os.makedev(major, minor))
        shutil.chown(path, group=group)
    write(Path("/usr/bin/vcgencmd"), "#!/bin/sh\ncase \"$1\" in\n  get_throttled) echo throttled=0x0 ;;\n"
          "  measure_temp) echo \"temp=48.3'C\" ;;\n  *) exit 1 ;;\nesac\n", 0o755)


def make_pi_archive() -> None:
    """A flat apt archive (file://) with the Raspberry Pi archive's packages Debian does not carry."""
    sh("apt-get", "update", "-q", timeout=1200)
    missing = [name for name in PI_ONLY
               if sh("apt-cache", "show", name, check=False).returncode != 0]
    ARCHIVE.mkdir(parents=True)
    stanzas = []
    for name in missing:
        build = Path("/tmp/fake-deb") / name
        write(build / "DEBIAN" / "control",
              f"Package: {name}\nVersion: 1.0-fake\nArchitecture: all\nMaintainer: doorbell-ci tests <tests@invalid>\n"
              f"Description: stand-in for the Raspberry Pi archive's {name}\n")
        write(build / "usr" / "share" / "doc" / name / "README", f"fake {name}\n")
        deb = ARCHIVE / f"{name}_1.0-fake_all.deb"
        sh("dpkg-deb", "--root-owner-group", "--build", str(build), str(deb))
        data = deb.read_bytes()
        stanzas.append(f"Package: {name}\nVersion: 1.0-fake\nArchitecture: all\n"
                       f"Maintainer: doorbell-ci tests <tests@invalid>\nFilename: ./{deb.name}\nSize: {len(data)}\n"
                       f"SHA256: {hashlib.sha256(data).hexdigest()}\nDescription: stand-in for {name}\n")
    packages = "\n".join(stanzas).encode()
    (ARCHIVE / "Packages").write_bytes(packages)
    (ARCHIVE / "Release").write_text(
        f"Origin: fake-pi\nLabel: fake-pi\nSuite: bookworm\nCodename: bookworm\nArchitectures: all arm64\n"
        f"Date: {datetime.now(UTC):%a, %d %b %Y %H:%M:%S UTC}\n"
        f"SHA256:\n {hashlib.sha256(packages).hexdigest()} {len(packages)} Packages\n", encoding="utf-8")
    write(Path("/etc/apt/sources.list.d/fake-raspberrypi.list"), f"deb [trusted=yes] file:{ARCHIVE} ./\n")


def make_runner_release() -> str:
    """A runner tarball with the real one's layout, its .sha256 next to it; the file:// URL to download from."""
    payload = Path("/tmp/fake-runner")
    write(payload / "bin" / "Runner.Listener", f"#!/bin/sh\n[ \"$1\" = --version ] && echo {VERSION}\n", 0o755)
    write(payload / "config.sh", (
        "#!/bin/bash\n# records what it was given; the token must arrive in the environment, never argv\n"
        "set -eu\ncd \"$(dirname \"$0\")\"\nprintf '%s\\n' \"$*\" >> config-calls.log\n"
        # the expected tokens as digests: the tokens themselves must appear in no file at all
        "digest=$(printf %s \"$ACTIONS_RUNNER_INPUT_TOKEN\" | sha256sum | cut -c1-64)\n"
        "if [ \"${1:-}\" = remove ]; then rm -f .runner .credentials; "
        f"[ \"$digest\" = {hashlib.sha256(REMOVAL_TOKEN.encode()).hexdigest()} ]; exit; fi\n"
        f"[ \"$digest\" = {hashlib.sha256(TOKEN.encode()).hexdigest()} ]\n"
        "echo '{\"agentName\": \"pi5-arm64\"}' > .runner\necho '{}' > .credentials\n"), 0o755)
    write(payload / "run.sh", (
        "#!/bin/bash\n# the listener: waits for a job, runs the hooks around it as its children, like the runner\n"
        "set -u\ncd \"$(dirname \"$0\")\"\nset -a; . ./.env; set +a\n"
        "while :; do\n  if [ -f _jobs/next ]; then\n    rm -f _jobs/next\n"
        "    export GITHUB_WORKSPACE=\"$RUNNER_WORK_DIR/repo/repo\" RUNNER_TEMP=\"$RUNNER_WORK_DIR/_temp\"\n"
        "    mkdir -p \"$GITHUB_WORKSPACE\" \"$RUNNER_TEMP\"\n"
        "    \"$ACTIONS_RUNNER_HOOK_JOB_STARTED\" > _jobs/started.log 2>&1; echo $? > _jobs/started.rc\n"
        "    bash _jobs/job.sh > _jobs/job.log 2>&1\n"
        "    \"$ACTIONS_RUNNER_HOOK_JOB_COMPLETED\" > _jobs/completed.log 2>&1; echo $? > _jobs/completed.rc\n"
        "  fi\n  sleep 0.2\ndone\n"), 0o755)
    write(payload / "svc.sh", (
        "#!/bin/bash\n# systemd stand-in (no systemd in a chroot): starts run.sh as the user, detached\n"
        "set -eu\ncd \"$(dirname \"$0\")\"\ncase \"$1\" in\n"
        "  install) echo actions.runner.fake.service > .service; echo \"$2\" > .service-user ;;\n"
        "  start) setsid runuser -u \"$(cat .service-user)\" -- ./run.sh < /dev/null > /dev/null 2>&1 &\n"
        "         echo $! > .service-pid ;;\n"
        "  stop) pkill -u \"$(cat .service-user)\" -f ./run.sh || true; rm -f .service-pid ;;\n"
        "  uninstall) rm -f .service .service-user ;;\nesac\n"), 0o755)
    folder = RELEASES / f"v{VERSION}"
    folder.mkdir(parents=True)
    tarball = folder / f"actions-runner-linux-arm64-{VERSION}.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        for path in sorted(payload.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(payload)), recursive=False)
    (folder / f"{tarball.name}.sha256").write_text(f"{hashlib.sha256(tarball.read_bytes()).hexdigest()}  x\n",
                                                   encoding="ascii")
    return RELEASES.as_uri()


def processes_of(user: str) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["username", "cmdline"]) if p.info["username"] == user]


def wait_for(path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.2)


def releases_json() -> str:
    path = Path("/srv/releases.json")
    published = (datetime.now(UTC) - timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(json.dumps([{"tag_name": f"v{VERSION}", "published_at": published}]), encoding="utf-8")
    return path.as_uri()


def test_runner_setup_end_to_end_on_a_fake_pi5(tmp_path: Path) -> None:
    make_fake_pi()
    make_pi_archive()
    base = make_runner_release()
    env = {"RUNNER_DOWNLOAD_BASE": base, "RUNNER_RELEASES_API": releases_json()}

    # check-pi: what it sees of the fake Pi, through the arm64 userland's dpkg
    checked = sh("bash", str(SETUP / "check-pi.sh"), env=env)
    assert "arch: arm64 (runner package linux-arm64)" in checked.stdout
    assert "labels: self-hosted,linux,ARM64,pi,pi5,camera" in checked.stdout

    # install-packages: really apt-get, from Debian and the stand-in Pi archive
    sh("bash", str(SETUP / "install-packages.sh"), env=env, timeout=2400)
    listed = sh("bash", str(SETUP / "install-packages.sh"), "--help").stdout
    for name in [word for line in listed.splitlines()[2:5] for word in line.split(":")[-1].split()]:
        status = sh("dpkg-query", "-W", "-f=${Status}", name, check=False).stdout
        assert status == "install ok installed", (name, status)
    before = file_list()  # the state uninstall must return to
    accounts = {name: Path(name).read_bytes() for name in ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")}

    # create-runner-user: a locked system user, no login shell, in exactly video, gpio and i2c
    sh("bash", str(SETUP / "create-runner-user.sh"))
    account = pwd.getpwnam(USER)
    assert account.pw_shell == "/usr/sbin/nologin" and Path(account.pw_dir).is_dir()
    assert Path(account.pw_dir).stat().st_uid == account.pw_uid
    assert set(sh("id", "-nG", USER).stdout.split()) == {USER, "video", "gpio", "i2c"}
    assert sh("passwd", "-S", USER).stdout.split()[1] == "L"
    assert sh("test", "-r", "/dev/video0", user=USER, check=False).returncode == 0  # the camera, through video
    assert sh("test", "-r", "/dev/gpiochip0", user=USER, check=False).returncode == 0

    # install-runner: a tampered mirror is refused before anything is installed
    tarball = next(RELEASES.rglob("*.tar.gz"))
    good = tarball.read_bytes()
    tarball.write_bytes(good + b"tampered")
    refused = sh("bash", str(SETUP / "install-runner.sh"), "--url", "https://github.com/o/r", "--token-stdin",
                 env=env, stdin=TOKEN + "\n", check=False)
    assert refused.returncode == 1 and "checksum mismatch" in refused.stderr
    assert not RUNNER_DIR.exists() and not HOOKS_DIR.exists()
    tarball.write_bytes(good)
    installed = sh("bash", str(SETUP / "install-runner.sh"), "--url", "https://github.com/o/r", "--name", "pi5-arm64",
                   "--token-stdin", env=env, stdin=TOKEN + "\n")
    assert TOKEN not in installed.stdout + installed.stderr
    assert (RUNNER_DIR / ".runner").exists()
    calls = (RUNNER_DIR / "config-calls.log").read_text(encoding="utf-8")
    assert "--labels self-hosted,linux,ARM64,pi,pi5,camera" in calls and TOKEN not in calls
    # install-runner.sh writes .env and the version after handing the folder over; svc.sh runs as root and
    # writes .service*, as the real one does: root's, read-only for the runner user. The rest is the user's.
    written_by_root = {".env", ".doorbell-runner-version"}
    for path in [RUNNER_DIR, *RUNNER_DIR.rglob("*")]:
        info = path.lstat()
        if path.name in written_by_root or path.name.startswith(".service"):
            assert info.st_uid == 0 and not info.st_mode & 0o022, path
        else:
            assert info.st_uid == account.pw_uid, path
    for path in [HOOKS_DIR, *HOOKS_DIR.rglob("*")]:
        info = path.lstat()
        assert info.st_uid == 0 and not info.st_mode & 0o022, path  # a job cannot rewrite its hooks
    sudoers = Path("/etc/sudoers.d/doorbell-runner")
    assert stat.S_IMODE(sudoers.stat().st_mode) == 0o440
    assert sudoers.read_text(encoding="utf-8").strip() == (
        f'{USER} ALL=(root) NOPASSWD: {HOOKS_DIR}/hooks/reclaim-workspace.py ""')
    dotenv = (RUNNER_DIR / ".env").read_text(encoding="utf-8")
    assert f"ACTIONS_RUNNER_HOOK_JOB_COMPLETED={HOOKS_DIR}/hooks/job-completed.sh" in dotenv
    assert "RUNNER_LABELS=self-hosted,linux,ARM64,pi,pi5,camera" in dotenv
    leaks = sh("grep", "-rl", "--", TOKEN, "/etc", "/opt", "/home", "/root", "/var/log", "/srv", check=False)
    assert leaks.stdout == ""
    listeners = [p for p in processes_of(USER) if "./run.sh" in " ".join(p.info["cmdline"] or [])]
    assert len(listeners) == 1  # svc.sh start: the runner, as the runner user
    assert TOKEN not in Path(f"/proc/{listeners[0].pid}/environ").read_bytes().decode(errors="replace")

    # a job, between the runner's real hooks: its files, a stray process, and a container job's root-owned files
    jobs = RUNNER_DIR / "_jobs"
    jobs.mkdir()
    shutil.chown(jobs, USER, USER)
    write(jobs / "job.sh", (
        "echo results > \"$GITHUB_WORKSPACE/results.xml\"\nmkdir -p /tmp/pytest-of-github-runner\n"
        "echo x > \"$RUNNER_TEMP/step-output\"\nsetsid sleep 31337 < /dev/null > /dev/null 2>&1 &\n"
        "touch \"$RUNNER_WORK_DIR/../_jobs/ready\"\n"
        "while [ ! -f \"$RUNNER_WORK_DIR/../_jobs/container-done\" ]; do sleep 0.2; done\n"))
    (jobs / "next").touch()
    wait_for(jobs / "ready")
    workspace = WORK / "repo" / "repo"
    container_files = workspace / "__pycache__"  # what a container job writes as root into the mounted workspace
    container_files.mkdir()
    (container_files / "conftest.cpython-311.pyc").write_bytes(b"\0")
    (workspace / "build").mkdir(mode=0o555)
    stray = [p for p in processes_of(USER) if "31337" in " ".join(p.info["cmdline"] or [])]
    assert len(stray) == 1
    (jobs / "container-done").touch()
    wait_for(jobs / "completed.rc")
    completed_log = (jobs / "completed.log").read_text(encoding="utf-8")
    assert (jobs / "started.rc").read_text().strip() == "0"
    assert f"stray process: {stray[0].pid} sleep" in completed_log
    allowed = sh("sudo", "-l", "-U", USER).stdout  # sudo's own reading of the rule, as root
    assert f"(root) NOPASSWD: {HOOKS_DIR}/hooks/reclaim-workspace.py \"\"" in allowed
    if "effective uid is not 0" in completed_log:
        # qemu-user without binfmt's C flag runs set-uid programs without their owner's rights, so sudo cannot
        # work in this emulated root (it does on a Pi). What is left is the known failure, reported, with the
        # rest cleaned up; root then runs the helper the one way sudo allows, and the next job starts clean.
        assert (jobs / "completed.rc").read_text().strip() == "1"
        assert "could not give root-owned files in the work folder back" in completed_log
        assert "some files of the last job could not be removed" in completed_log
        assert [p.name for p in workspace.iterdir()] == ["__pycache__"]
        assert list((WORK / "_temp").iterdir()) == []
        assert f"given back to {USER}" in sh(f"{HOOKS_DIR}/hooks/reclaim-workspace.py").stdout
        write(jobs / "job.sh", "ls -A \"$GITHUB_WORKSPACE\"\n")
        for name in ("completed.rc", "ready", "container-done"):
            (jobs / name).unlink(missing_ok=True)
        (jobs / "next").touch()
        wait_for(jobs / "completed.rc")
        assert (jobs / "job.log").read_text(encoding="utf-8") == ""  # job-started emptied it for this job
    else:
        assert "reclaim-workspace: " in completed_log and f"given back to {USER}" in completed_log
    assert (jobs / "completed.rc").read_text().strip() == "0", (jobs / "completed.log").read_text()
    assert list(workspace.iterdir()) == [] and list((WORK / "_temp").iterdir()) == []
    assert not Path("/tmp/pytest-of-github-runner").exists()
    assert not psutil.pid_exists(stray[0].pid) or psutil.Process(stray[0].pid).status() == psutil.STATUS_ZOMBIE
    assert psutil.Process(listeners[0].pid).is_running()  # the runner itself survives its hooks

    # the health check on the fake Pi 5
    health = sh("bash", str(SETUP / "health-check.sh"), env=env, check=False)
    report = health.stdout
    assert health.returncode == 0, report
    assert "ok   system: Debian GNU/Linux 12 (bookworm), arm64, Raspberry Pi 5 Model B Rev 1.0" in report
    assert "ok   runner: installed and registered" in report
    assert f"ok   version: {VERSION}: the latest release" in report
    assert "ok   throttling: no throttling or under-voltage since boot" in report
    assert "ok   temperature: 48 C" in report
    assert "ok   python: python3 3.11" in report

    # uninstall: the service stopped, unregistered with the removal token, everything removed
    removed = sh("bash", str(SETUP / "uninstall.sh"), "--token-stdin", stdin=REMOVAL_TOKEN + "\n")
    assert REMOVAL_TOKEN not in removed.stdout + removed.stderr
    deadline = time.monotonic() + 30
    while processes_of(USER) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_of(USER) == []
    assert sh("getent", "passwd", USER, check=False).returncode == 2
    # shadow's tools keep (and replace) the previous passwd/group/shadow/gshadow as NAME-: backups, not leftovers
    backups = {"/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-", "/etc/subuid-", "/etc/subgid-"}
    after = {path: entry for path, entry in file_list().items() if path not in backups}
    before = {path: entry for path, entry in before.items() if path not in backups}
    appeared = sorted(set(after) - set(before))
    vanished = sorted(set(before) - set(after))
    changed = sorted(path for path in set(before) & set(after) if before[path] != after[path])
    assert (appeared, vanished, changed) == ([], [], [])
    assert {name: Path(name).read_bytes() for name in accounts} == accounts  # no user, no group membership left
