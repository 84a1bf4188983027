"""Which Python the README's scripts and the action install doorbell-ci into (issue 17 item 9).

Debian's own ``/usr/bin/python3`` on this machine is externally managed (PEP 668), like Raspberry
Pi OS, Debian 12 and Ubuntu 24.04: ``pip install`` into it fails with
"externally-managed-environment". These tests use it for real: scripts/python-env.sh (sourced
by setup.sh, demo.sh and test.sh) and the action's install step must then make and use a virtual
environment, and must leave an active venv or a Python pip may install into as they are.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path("/usr/bin/python3")


def _externally_managed(python: Path) -> bool:
    probe = ("import os, sys, sysconfig; print(sys.prefix == sys.base_prefix and "
             "os.path.isfile(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))")
    return python.exists() and subprocess.run([python, "-c", probe], capture_output=True, text=True,
                                              check=False).stdout.strip() == "True"


needs_managed_python = pytest.mark.skipif(not _externally_managed(SYSTEM_PYTHON),
                                          reason=f"{SYSTEM_PYTHON} is not an externally managed Python here")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment, as on a fresh machine: no venv active, Debian's PATH."""
    env = {"HOME": str(tmp_path), "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": "C.UTF-8", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for name in ("PIP_CONFIG_FILE", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
        if name in os.environ:
            env[name] = os.environ[name]
    return {**env, **extra}


def _chosen_python(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = f'. {REPO}/scripts/python-env.sh && doorbell_python {tmp_path / "repo"} && echo "python=$python"'
    (tmp_path / "repo").mkdir(exist_ok=True)
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False)


@needs_managed_python
def test_the_premise_pip_refuses_debians_python(tmp_path: Path) -> None:
    refused = subprocess.run([SYSTEM_PYTHON, "-m", "pip", "install", "--dry-run", str(_wheel(tmp_path))],
                             env=_env(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr


@needs_managed_python
def test_an_externally_managed_python_gets_a_project_venv_that_pip_installs_into(tmp_path: Path) -> None:
    venv = tmp_path / "repo" / ".venv"
    chosen = _chosen_python(tmp_path, _env(tmp_path, PYTHON=str(SYSTEM_PYTHON)))
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.strip().endswith(f"python={venv}/bin/python")
    assert "externally managed (PEP 668)" in chosen.stdout and str(venv) in chosen.stdout
    installed = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q", str(_wheel(tmp_path))],
                               env=_env(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert installed.returncode == 0, installed.stderr
    probe = "import sys, tinypkg, venv; print(sys.prefix != sys.base_prefix, tinypkg.VALUE)"
    assert subprocess.run([venv / "bin" / "python", "-c", probe], capture_output=True, text=True,
                          check=True).stdout.split() == ["True", "42"]
    again = _chosen_python(tmp_path, _env(tmp_path, PYTHON=str(SYSTEM_PYTHON)))  # the next script reuses it
    assert again.stdout.strip() == f"python={venv}/bin/python" and "PEP 668" not in again.stdout


@needs_managed_python
def test_an_active_venv_is_used_as_it_is(tmp_path: Path) -> None:
    active = tmp_path / "mine"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", active], check=True, timeout=120)
    chosen = _chosen_python(tmp_path, _env(tmp_path, VIRTUAL_ENV=str(active), PYTHON=str(SYSTEM_PYTHON)))
    assert chosen.stdout.strip() == f"python={active}/bin/python"
    assert not (tmp_path / "repo" / ".venv").exists()


def test_a_python_pip_may_install_into_is_used_without_a_venv(tmp_path: Path) -> None:
    """CI's pyenv Python (this test's own, unless it runs in a venv) costs no new environment."""
    if _externally_managed(Path(sys.executable)):
        pytest.skip("this test's Python is externally managed itself")
    base = Path(sys.base_prefix) / "bin" / Path(sys.executable).name
    chosen = _chosen_python(tmp_path, _env(tmp_path, PYTHON=str(base)))
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.strip() == f"python={base}" and not (tmp_path / "repo" / ".venv").exists()


# --- the action's install step ---------------------------------------------------------------------


def _install_step() -> str:
    steps = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))["runs"]["steps"]
    return next(step["run"] for step in steps if step.get("name") == "Install doorbell-ci")


def _run_install_step(tmp_path: Path, python3: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The step's script as the runner runs it: only ``python3`` on PATH (no ``python``), as on Debian."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(python3)
    github_path = tmp_path / "github_path"
    github_path.touch()
    env = _env(tmp_path, PATH=f"{bin_dir}:/usr/bin:/bin", RUNNER_TEMP=str(tmp_path / "runner_temp"),
               GITHUB_PATH=str(github_path), ACTION_PATH=str(_wheel(tmp_path)))
    (tmp_path / "runner_temp").mkdir()
    return subprocess.run(["bash", "-e", "-c", _install_step()], env=env, capture_output=True, text=True,
                          timeout=300, check=False), github_path


@needs_managed_python
def test_the_action_installs_into_a_venv_in_the_runner_temp_on_an_externally_managed_python(
        tmp_path: Path) -> None:
    completed, github_path = _run_install_step(tmp_path, SYSTEM_PYTHON)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "externally-managed-environment" not in completed.stdout + completed.stderr
    venv = tmp_path / "runner_temp" / "doorbell-ci-venv"
    assert github_path.read_text(encoding="utf-8").splitlines() == [f"{venv}/bin"]  # later steps find it first
    assert "::notice title=doorbell-ci::Python 3" in completed.stdout
    probe = "import sys, tinypkg; print(tinypkg.VALUE, sys.prefix != sys.base_prefix)"
    assert subprocess.run([venv / "bin" / "python", "-c", probe], capture_output=True, text=True,
                          check=True).stdout.split() == ["42", "True"]
    system_packages = subprocess.run([venv / "bin" / "python", "-c", "import apt_pkg"], capture_output=True,
                                     check=False)  # an apt-installed module, when Debian has it here
    has_apt_pkg = subprocess.run([SYSTEM_PYTHON, "-c", "import apt_pkg"], capture_output=True, check=False)
    assert system_packages.returncode == has_apt_pkg.returncode  # the system's site-packages stay visible


@needs_managed_python
def test_without_the_venv_module_the_action_stops_with_one_line_saying_what_to_add(tmp_path: Path) -> None:
    no_venv = tmp_path / "python3-without-venv"
    no_venv.write_text(f'#!/bin/sh\nif [ "$1" = -m ] && [ "$2" = venv ]; then\n'
                       f'  echo "ensurepip is not available" >&2; exit 1\nfi\nexec {SYSTEM_PYTHON} "$@"\n',
                       encoding="utf-8")
    no_venv.chmod(0o755)
    completed, github_path = _run_install_step(tmp_path, no_venv)
    assert completed.returncode == 1
    errors = [line for line in completed.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "python3 -m venv" in errors[0] and "GITHUB_PATH" in errors[0]
    assert "python-version" in errors[0]
    assert "externally-managed-environment" not in completed.stdout + completed.stderr  # pip never ran
    assert github_path.read_text(encoding="utf-8") == ""


def _wheel(tmp_path: Path) -> Path:
    """A minimal real wheel (what pip installs without building anything): ``tinypkg`` with VALUE = 42."""
    path = tmp_path / "tinypkg-0.1-py3-none-any.whl"
    if path.exists():
        return path
    info = "tinypkg-0.1.dist-info"
    files = {"tinypkg/__init__.py": "VALUE = 42\n",
             f"{info}/METADATA": "Metadata-Version: 2.1\nName: tinypkg\nVersion: 0.1\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path
