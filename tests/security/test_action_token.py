"""The action's test step holds no token, even when the workflow puts one in every step's environment.

GitHub gives a ``run:`` step no token unless its ``env:`` names one, and action.yml names it only
in the steps that fetch the baseline (before any project code runs) and publish (after). But a
job- or workflow-level ``env: GITHUB_TOKEN: ...`` reaches every step, ours included, and
``/proc/<pid>/environ`` keeps a process's *starting* environment, so ``unset`` in the step's
shell would leave the token readable by any test of the same user for the whole run. The step
re-executes itself without the token variables; this test runs the real step script with them
set and has a test of the project read the environment of every one of its ancestors (as root
here: the strongest reader, so an absence proves the value is not there, not that it is hidden).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from doorbell_ci import redaction
from tests.tooling import require_tool

ROOT = Path(__file__).resolve().parents[2]
PROBE = '''
import json
import os
from pathlib import Path


def ancestors():
    pid = os.getppid()
    while pid > 1:
        yield pid
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])


def test_read_every_ancestors_environment():
    values = json.loads(Path(__file__).with_name("values.json").read_text())
    seen = [{"pid": os.getpid(), "cmdline": "this test", "readable": True,
             "holds": sorted(name for name, value in values.items() if value in os.environ.values())}]
    for pid in ancestors():
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\\0", b" ").decode(errors="replace")
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            seen.append({"pid": pid, "cmdline": cmdline, "readable": False, "holds": []})
            continue
        holds = sorted(name for name, value in values.items() if value.encode() in environ)
        seen.append({"pid": pid, "cmdline": cmdline, "readable": True, "holds": holds})
    Path(os.environ["PROBE_OUT"]).write_text(json.dumps(seen))
'''


def run_step_script() -> str:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    (step,) = [s for s in action["runs"]["steps"] if s.get("name") == "Run the test suites"]
    return step["run"]


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc/<pid>/environ (Linux)")
def test_no_ancestor_of_a_test_holds_a_token_the_workflow_put_in_every_steps_environment(tmp_path: Path) -> None:
    require_tool("bash", shutil.which("bash") is not None, "the action's steps are bash scripts")
    project = tmp_path / "project"
    (project / "tests" / "unit").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'probe'\n", encoding="utf-8")
    (project / "tests" / "unit" / "test_probe.py").write_text(PROBE, encoding="utf-8")
    names = [*redaction.TOKEN_VARIABLES, *redaction.RUNNER_SERVICE_VARIABLES]
    values = {name: f"ghs_{secrets.token_hex(16)}" for name in names}  # a fresh value per name and run
    (project / "tests" / "unit" / "values.json").write_text(json.dumps(values), encoding="utf-8")
    script = tmp_path / "0b7f3c1e-step.sh"  # the runner's own name for a step's script is a fresh GUID
    script.write_text(run_step_script(), encoding="utf-8")
    probe_out = tmp_path / "seen.json"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_CI_", "GITHUB_"))}
    env = {**base, **values, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}",
           "GITHUB_OUTPUT": str(tmp_path / "github_output"), "RUNNER_TEMP": str(tmp_path),
           "OUTPUT_DIR": "test-results", "BASELINE_MODE": "off", "BASELINE_DIR": "", "DOORBELL_CI_SUITES": "unit",
           "DOORBELL_CI_COVERAGE": "false", "DOORBELL_CI_RERUNS": "0", "PROBE_OUT": str(probe_out),
           "DOORBELL_CI_STEP_WITHOUT_TOKENS": "1"}  # a value the workflow set: must not skip the clean start
    run = subprocess.run(["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", str(script)], cwd=project,
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "exit-code=0" in (tmp_path / "github_output").read_text(encoding="utf-8"), run.stdout + run.stderr

    seen = json.loads(probe_out.read_text(encoding="utf-8"))
    holders = [(entry["cmdline"][:120], entry["holds"]) for entry in seen if entry["holds"]]
    assert holders == [], f"processes around the tests hold a token: {holders}"
    step_shell = [entry for entry in seen if str(script) in entry["cmdline"]]
    assert step_shell and all(entry["readable"] for entry in step_shell), seen  # the shell that ran the step
    assert any("doorbell" in entry["cmdline"] for entry in seen), seen  # and doorbell-ci, between it and pytest
    if os.geteuid() == 0:
        assert all(entry["readable"] for entry in seen), seen
