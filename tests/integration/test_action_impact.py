"""The action's run step with select and record-impact: the real script, real git, real doorbell-ci and pytest.

A push to the default branch records the map (record-impact: auto) and runs everything even when
select says affected; a pull request selects against the fetched map; audit runs everything and
names the failing test the selection would have missed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from doorbell_ci.impact.impactmap import read_map
from tests.security.test_commands import _run_step
from tests.tooling import require_tool

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
APP = "def f():\n    return 1\n\n\ndef g():\n    return 2\n"
TEST_A = "import os\n\nfrom app import f\n\n\ndef test_f():\n    assert f() == 1 and not os.environ.get('BREAK_F')\n"
TEST_B = "from app import g\n\n\ndef test_g():\n    assert g() == 2\n"


def commit(project: Path, message: str) -> None:
    subprocess.run(["git", "add", "-A"], cwd=project, check=True, timeout=30)
    subprocess.run([*GIT, "commit", "-qm", message], cwd=project, check=True, timeout=30)


def run_step(project: Path, tmp_path: Path, output_dir: str, **env: str) -> tuple[dict, str]:
    values = {"OUTPUT_DIR": output_dir, "BASELINE_MODE": "off", "BASELINE_DIR": "", "HISTORY_FILE": "",
              "HISTORY_MODE": "off", "IMPACT_MAP_FILE": "", "RECORD_IMPACT": "auto", "DEFAULT_BRANCH_PUSH": "false",
              "DOORBELL_CI_SELECT": "all", "DOORBELL_CI_SUITES": "unit", "DOORBELL_CI_RERUNS": "0", **env}
    run, outputs = _run_step("Run the test suites", project, values, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr  # the Verdict step fails the job, not this one
    report = project / output_dir / "report.json"
    document = json.loads(report.read_text(encoding="utf-8")) if report.is_file() else {}
    return document, outputs + run.stdout + run.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    require_tool("git", shutil.which("git") is not None, "apt-get install git")
    root = tmp_path / "proj"
    (root / "tests" / "unit").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    (root / "app.py").write_text(APP, encoding="utf-8")
    (root / "tests" / "unit" / "test_a.py").write_text(TEST_A, encoding="utf-8")
    (root / "tests" / "unit" / "test_b.py").write_text(TEST_B, encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True, timeout=30)
    commit(root, "one")
    return root


def test_push_records_pull_request_selects_and_audit_names_a_miss(project: Path, tmp_path: Path) -> None:
    # the default branch: select affected is overridden, every test runs, the map is recorded (auto)
    pushed, log = run_step(project, tmp_path, "main-results", DEFAULT_BRANCH_PUSH="true",
                           DOORBELL_CI_SELECT="affected")
    assert "exit-code=0" in log and "select: affected is ignored on a push to the default branch" in log
    assert pushed["impact"]["mode"] == "all" and pushed["impact"]["recorded"]["tests"] == 2
    recorded = project / "main-results" / "impact.json.gz"
    assert recorded.is_file()
    # the publish step scrubs the results folder for secrets before upload: the map must survive it
    summary = tmp_path / "step_summary.md"
    published, outputs = _run_step("Publish the results", project, {
        "OUTPUT_DIR": "main-results", "GITHUB_TOKEN": "", "DOORBELL_CI_COMMENT": "off", "DOORBELL_CI_CHECK_RUN": "",
        "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}, tmp_path)
    assert published.returncode == 0, published.stdout + published.stderr
    assert read_map(recorded).tests and "not published" not in published.stdout + published.stderr
    assert "impact map recorded \\(2 tests\\)" in summary.read_text(encoding="utf-8")
    fetched = tmp_path / "fetched"  # what fetch-history leaves in $RUNNER_TEMP
    fetched.mkdir()
    shutil.copyfile(recorded, fetched / "impact.json.gz")
    shutil.rmtree(project / "main-results")  # the pull request's job starts from a fresh checkout

    # a pull request changes g: only test_g runs, and the map is not recorded (auto, not a push)
    (project / "app.py").write_text(APP.replace("return 2", "return 1 + 1"), encoding="utf-8")
    commit(project, "two")
    selected, log = run_step(project, tmp_path, "pr-results", DOORBELL_CI_SELECT="affected",
                             IMPACT_MAP_FILE=str(fetched / "impact.json.gz"))
    impact = selected["impact"]
    assert "exit-code=0" in log and (impact["mode"], impact["selected"], impact["total"]) == ("affected", 1, 2)
    assert impact["deselected"] == ["unit::tests/unit/test_a.py::test_f"]
    assert impact["changed"] == [{"path": "app.py", "kind": "modified", "lines": [[6, 6]]}]
    assert impact["recorded"] is None and not (project / "pr-results" / "impact.json.gz").exists()
    assert selected["totals"]["tests"] == 1
    assert "selection: 1 of 2 tests selected; changed app.py:6" in log

    # audit (the nightly job, a fresh checkout): everything runs; test_f fails for a reason the map cannot
    # see (an environment variable), and the selection left it out
    shutil.rmtree(project / "pr-results")
    audited, log = run_step(project, tmp_path, "audit-results", DOORBELL_CI_SELECT="audit", BREAK_F="1",
                            IMPACT_MAP_FILE=str(fetched / "impact.json.gz"))
    assert "exit-code=1" in log and audited["totals"]["tests"] == 2
    assert audited["impact"]["missed"] == ["unit::tests/unit/test_a.py::test_f"]
    assert "MISSED: unit::tests/unit/test_a.py::test_f" in log
    summary = (project / "audit-results" / "summary.md").read_text(encoding="utf-8")
    assert "**Missed by the selection (1):**" in summary


def test_a_bad_record_impact_value_is_one_line_naming_it(project: Path, tmp_path: Path) -> None:
    document, log = run_step(project, tmp_path, "results", RECORD_IMPACT="sometimes")
    assert "exit-code=2" in log and document == {}
    assert "DOORBELL_CI_RECORD_IMPACT" in log and "record_impact" in log
