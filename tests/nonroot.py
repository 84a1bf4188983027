"""Run commands as an unprivileged user (uid and gid 65534, "nobody"), for tests of defences that rely on permissions.

As root, file modes and /proc ownership stop nothing, so a defence built on them is only proven by an attack made
as another user. The machine's Python under /root (pyenv) is not executable by that user, so the first call builds
a virtual environment from Debian's ``/usr/bin/python3`` in a world-readable folder, with doorbell-ci's runtime
dependencies, and reuses it afterwards. doorbell-ci itself comes from this checkout through ``PYTHONPATH``, so a
test always attacks the code under test, not an installed copy.

    result = run_as_nonroot([nonroot_python(), "-m", "doorbell_ci", "run", ...], cwd=project)
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tooling import require_tool

NONROOT_UID = 65534
NONROOT_GID = 65534
REPO = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = Path("/usr/bin/python3")
VENV = Path(os.environ.get("DOORBELL_CI_NONROOT_VENV", "/opt/doorbell-ci-nonroot-venv"))
# what the suites need to run doorbell-ci and pytest as that user; the dev tools are not needed there
PACKAGES = [
    "pytest>=8.0", "pytest-xdist>=3.5", "pytest-cov>=5.0", "junitparser>=3.1",
    "defusedxml>=0.7", "psutil>=5.9", "PyGithub>=2.3", "docker>=7.0", "jinja2>=3.1", "numpy>=1.26", "scipy>=1.11",
]


def _why_not() -> str | None:
    if os.name != "posix" or not sys.platform.startswith("linux"):
        return "needs Linux"
    if os.geteuid() != 0:
        return "needs root to switch to uid 65534"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    if not SYSTEM_PYTHON.exists():
        return f"{SYSTEM_PYTHON} is missing"
    return None


def nonroot_python() -> str:
    """The venv's python, executable by uid 65534; builds the venv on first use (skips or fails when impossible)."""
    why = _why_not()
    require_tool("a non-root user", why is None, why or "")
    python = VENV / "bin" / "python"
    marker = VENV / ".doorbell-ci-ready"
    if marker.exists():
        return str(python)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{VENV}.lock", "w") as lock:  # parallel xdist workers build it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            shutil.rmtree(VENV, ignore_errors=True)
            subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", str(VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *PACKAGES],
                check=True,
            )
            marker.write_text("ok\n")
    os.chmod(VENV, 0o755)
    return str(python)


def nonroot_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment for the unprivileged user: this checkout on PYTHONPATH, HOME in /tmp."""
    env = {
        "PATH": f"{VENV / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
    }
    env.update(extra or {})
    return env


def run_as_nonroot(argv: list[str], *, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run ``argv`` as uid/gid 65534 with no supplementary groups (the folders it writes must be writable by it)."""
    if _why_not() is not None:
        pytest.skip(_why_not())
    command = ["setpriv", f"--reuid={NONROOT_UID}", f"--regid={NONROOT_GID}", "--clear-groups", *argv]
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run(command, env=env if env is not None else nonroot_env(), check=False, **kwargs)


def give_to_nonroot(path: Path) -> None:
    """Make ``path`` (a folder tree made by the test) owned by the unprivileged user, and its parents passable."""
    for root, dirs, files in os.walk(path):
        os.chown(root, NONROOT_UID, NONROOT_GID, follow_symlinks=False)
        for name in dirs + files:
            os.chown(os.path.join(root, name), NONROOT_UID, NONROOT_GID, follow_symlinks=False)
    for parent in path.parents:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)
