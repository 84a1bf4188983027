"""Coverage of a package installed without ``-e`` (collect.shown_path, collect.imported_before_measurement).

Issue 17 item 3: testing what users get means installing the package for real, and then its files
are measured in site-packages. The reports must show ``ringlib/core.py``, not a machine's venv
path; and when pytest imports the package before coverage starts (its own ``pytest11`` plugin),
the report must say the figure is understated. Real pip, a real venv, a real wheel, real pytest-cov.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RINGLIB = '''"""A doorbell chime library."""

CHIME = "ding"


def ring(times: int) -> str:
    if times < 0:
        raise ValueError("times")
    return "-".join([CHIME] * times)
'''
PLUGIN = "import ringlib  # noqa: F401  the package's pytest plugin: pytest imports it before any conftest\n"
TEST = "import ringlib\n\n\ndef test_ring():\n    assert ringlib.ring(2) == 'ding-ding'\n\n\n" \
       "def test_negative():\n    try:\n        ringlib.ring(-1)\n    except ValueError:\n        pass\n"


def _wheel(folder: Path, with_plugin: bool) -> Path:
    """ringlib 0.1 as a real wheel, optionally registering a pytest11 plugin that imports the package."""
    info = "ringlib-0.1.dist-info"
    files = {"ringlib/__init__.py": RINGLIB, "ringlib/plugin.py": PLUGIN,
             f"{info}/METADATA": "Metadata-Version: 2.1\nName: ringlib\nVersion: 0.1\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    if with_plugin:
        files[f"{info}/entry_points.txt"] = "[pytest11]\nringlib = ringlib.plugin\n"
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    path = folder / "ringlib-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def _see_this_environment(python: Path) -> None:
    """Let the new venv import what the running tests import (pytest, pytest-cov, psutil...), after its own packages.

    ``--system-site-packages`` shows the base Python's site-packages only. When these tests run in a venv
    themselves (the arm64 root's /opt/venv, a Pi's .venv), pytest is not there, and doorbell-ci in the new venv
    stopped at its first import; a ``.pth`` file adds this environment's folders after the venv's own.
    """
    mine = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    theirs = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],  # noqa: S603
                            capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    Path(theirs).mkdir(parents=True, exist_ok=True)
    (Path(theirs) / "doorbell-ci-tests.pth").write_text("\n".join(sorted(mine)) + "\n", encoding="utf-8")


def _run_installed(tmp_path: Path, with_plugin: bool) -> tuple[subprocess.CompletedProcess[str], dict]:
    """pip-install ringlib (not editable) into a fresh venv, then `doorbell-ci run --paths tests` with it."""
    venv = tmp_path / "venv"
    base = Path(sys.base_prefix) / "bin" / "python3"
    subprocess.run([base, "-m", "venv", "--without-pip", "--system-site-packages", venv],  # pytest, pytest-cov
                   check=True, timeout=180)
    python = venv / "bin" / "python"
    _see_this_environment(python)
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",  # pip's own
                    "--disable-pip-version-check", _wheel(tmp_path, with_plugin)], check=True, timeout=180)
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_ring.py").write_text(TEST, encoding="utf-8")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "doorbell"\n\n[tool.coverage.run]\nsource = ["ringlib"]\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # doorbell-ci from this checkout, ringlib from the venv
    env.pop("COVERAGE_PROCESS_START", None)
    completed = subprocess.run([python, "-m", "doorbell_ci", "run", "--project", str(project), "--paths", "tests"],
                               cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False)
    report = json.loads((project / "test-results" / "report.json").read_text(encoding="utf-8"))
    return completed, report


def test_an_installed_package_is_shown_by_its_path_inside_the_package(tmp_path: Path) -> None:
    completed, report = _run_installed(tmp_path, with_plugin=False)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    files = {f["path"]: f for f in report["coverage"]["files"]}
    assert set(files) == {"ringlib/__init__.py", "ringlib/plugin.py"}, files  # not .../site-packages/...
    assert files["ringlib/__init__.py"]["percent"] == 100.0
    assert "site-packages" not in json.dumps(report["coverage"])
    html = (tmp_path / "project" / "test-results" / "report.html").read_text(encoding="utf-8")
    assert "ringlib/__init__.py" in html and "site-packages/ringlib" not in html
    assert not [n for n in report["notices"] if "imported before coverage started" in n]  # no false alarm


def test_a_package_imported_by_pytest_before_coverage_is_reported_understated(tmp_path: Path) -> None:
    completed, report = _run_installed(tmp_path, with_plugin=True)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    files = {f["path"]: f for f in report["coverage"]["files"]}
    assert files["ringlib/__init__.py"]["percent"] < 100.0  # every line ran, yet the defs count as missed
    notice = next(n for n in report["notices"] if "imported before coverage started" in n)
    assert notice.startswith("coverage: ringlib/__init__.py was imported before coverage started")
    assert "understated" in notice
    assert notice in completed.stdout  # the console says it too
    summary = (tmp_path / "project" / "test-results" / "summary.md").read_text(encoding="utf-8")
    assert "imported before coverage started" in summary


@pytest.mark.parametrize(("path", "shown"), [
    ("/home/ci/.venv/lib/python3.11/site-packages/ringlib/core.py", "ringlib/core.py"),
    ("/usr/lib/python3/dist-packages/picamera2/encoders/jpeg.py", "picamera2/encoders/jpeg.py"),
    ("/opt/site-packages/app/lib/python3.11/site-packages/ringlib/x.py", "ringlib/x.py"),  # the innermost one
    ("/srv/other/place.py", "/srv/other/place.py"),
])
def test_shown_path_strips_the_install_folder(tmp_path: Path, path: str, shown: str) -> None:
    from doorbell_ci.collect import shown_path

    assert shown_path(path, tmp_path) == shown
    assert shown_path(str(tmp_path / "src" / "a.py"), tmp_path) == "src/a.py"


def test_doorbell_cis_own_plugins_loaded_before_coverage_are_no_false_alarm(tmp_path: Path) -> None:
    """Without a coverage source everything is measured, doorbell-ci's -p plugins too; they are not the project's."""
    from doorbell_ci import cli

    (tmp_path / "tests").mkdir()
    (tmp_path / "app.py").write_text("def double(x):\n    return 2 * x\n", encoding="utf-8")
    (tmp_path / "tests" / "test_app.py").write_text("from app import double\n\n\ndef test_double():\n"
                                                     "    assert double(2) == 4\n", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'app'\n", encoding="utf-8")
    assert cli.main(["run", "--project", str(tmp_path), "--paths", "tests", "--quiet"]) == 0
    report = json.loads((tmp_path / "test-results" / "report.json").read_text(encoding="utf-8"))
    assert report["coverage"]["percent"] == 100.0
    assert not [n for n in report["notices"] if "imported before coverage started" in n], report["notices"]
