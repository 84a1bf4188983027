"""Hostile machine facts and hostile runner-setup arguments.

What a machine reports (device-tree model, camera names, RUNNER_LABELS, a CPU name) ends up in
report.html and in shell commands; none of it may become markup or a command.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from doorbell_ci import platforms
from doorbell_ci.reports import html
from doorbell_ci.results import RunResult
from tests.fake_machines import fake_root

SETUP = Path(__file__).resolve().parents[2] / "runner-setup"
SCRIPT = "<script>alert(1)</script>"


def test_hostile_machine_facts_stay_text_in_report_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platforms.platform, "system", lambda: "Linux")
    root = fake_root("pi4", tmp_path, monkeypatch, throttled="not-hex" + SCRIPT)
    (root / "proc/device-tree/model").write_bytes(b"Raspberry Pi 4 " + SCRIPT.encode() + b"\x00")
    (root / "sys/class/video4linux/video0/name").write_text(SCRIPT, encoding="utf-8")
    facts = platforms.describe(root, environ={"RUNNER_LABELS": f"self-hosted,{SCRIPT}"})
    assert facts["pi_model"] == "pi4" and facts["throttled"] is None  # unreadable flags: unknown
    run = RunResult(run_id="r", project=str(tmp_path), started_at="", finished_at="", duration=0.0, suites=[],
                    platform=facts)
    page = html.render(run)
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_binary_garbage_in_machine_files_is_tolerated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platforms.platform, "system", lambda: "Linux")
    root = fake_root("pi5", tmp_path, monkeypatch)
    (root / "proc/device-tree/model").write_bytes(b"\xff\xfe\x00garbage")
    (root / "proc/cpuinfo").write_bytes(b"\x00\xff" * 5000)
    (root / "proc/meminfo").write_text("MemTotal: lots kB\n", encoding="utf-8")
    (root / "etc/os-release").write_bytes(b"\xff")
    facts = platforms.describe(root, environ={})
    assert facts["pi_model"] is None and facts["memory_bytes"] > 0 and facts["os_name"] == "Linux"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="runner-setup runs on Raspberry Pi OS")
@pytest.mark.parametrize(("args", "message"), [
    (["--url", "https://github.com/acme/doorbell", "--name", "pi$(touch pwned)"], "--name"),
    (["--url", "https://github.com/acme/doorbell;touch pwned"], "--url must be"),
    (["--url", "http://github.com/acme/doorbell"], "--url must be"),
    (["--url", "https://github.com/acme/doorbell", "--name", "-rf"], "--name"),
])
def test_runner_setup_refuses_hostile_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    root = fake_root("pi5", tmp_path)
    completed = subprocess.run(["bash", str(SETUP / "install-runner.sh"), "--dry-run", *args], cwd=tmp_path,
                               env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "DOORBELL_RUNNER_ROOT": str(root),
                                    "DOORBELL_RUNNER_ARCH": "arm64"},
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 1
    assert message in completed.stderr
    assert not (tmp_path / "pwned").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="runner-setup runs on Raspberry Pi OS")
def test_hook_never_clears_a_workspace_outside_the_runner(tmp_path: Path) -> None:
    root = fake_root("pi5", tmp_path)
    (root / "opt/doorbell-runner/_work").mkdir(parents=True)
    escape = root / "opt/doorbell-runner/_work/../../../etc"  # climbs out of _work
    completed = subprocess.run(["bash", str(SETUP / "hooks/job-started.sh"), "--dry-run"],
                               env={"PATH": "/usr/bin:/bin", "DOORBELL_RUNNER_ROOT": str(root),
                                    "GITHUB_WORKSPACE": str(escape)},
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "not inside the runner's work folder" in completed.stderr
    assert "os-release" not in completed.stdout
