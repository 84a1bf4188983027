"""Hostile content on its way to GitHub: forged markers, workflow commands in test output, mentions, bad events."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from doorbell_ci.github import api
from doorbell_ci.github.publish import _print_logs, publish
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult
from tests.github_double import GitHubDouble


def hostile_run() -> RunResult:
    test = TestResult(suite="unit", name="test_<script>alert(1)</script> @octo/admins", classname="t",
                      outcome=Outcome.FAILED, file="tests/unit/test_x.py", line=3,
                      message="![img](https://evil.example/x.png) <img src=x onerror=alert(1)> @everyone")
    suite = SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=[test], log_file="logs/unit.log")
    return RunResult(run_id="r", project="/p", started_at="s", finished_at="f", duration=1.0, suites=[suite])


def context(double: GitHubDouble, tmp_path: Path, event: object) -> api.GitHubContext:
    path = tmp_path / "event.json"
    path.write_text(event if isinstance(event, str) else json.dumps(event), encoding="utf-8")
    return api.GitHubContext(api_url=double.url, repository=f"{double.owner}/{double.repo}", sha="c" * 40,
                             workflow="CI", job="tests", event_path=path, token="ghs_token")


def client(ctx: api.GitHubContext) -> object:
    return api.make_client(ctx, retries=1, backoff=0, seconds_between_requests=0, seconds_between_writes=0)


def test_a_persons_comment_carrying_our_marker_is_never_edited(double, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    ctx = context(double, tmp_path, {"pull_request": {"number": 7}})
    forged = api.marker(ctx.identity, "0") + "\nplease do not overwrite me"
    double.comments[1] = {"issue": 7, "body": forged, "user": {"login": "mallory", "id": 5, "type": "User"}}
    report = publish(hostile_run(), tmp_path, 1, ctx, comment_mode="always", check_run=False, check_name="x",
                     client=client(ctx))
    assert report.comment == "created on #7"
    assert double.comments[1]["body"] == forged
    assert len(double.comments) == 2


def test_test_names_cannot_inject_html_images_or_mentions_into_the_comment(double, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    ctx = context(double, tmp_path, {"pull_request": {"number": 7}})
    publish(hostile_run(), tmp_path, 1, ctx, comment_mode="always", check_run=False, check_name="x",
            client=client(ctx))
    (comment,) = double.comments.values()
    body = comment["body"]
    assert "<script>" not in body and "<img" not in body
    assert "![img](" not in body
    assert "@everyone" not in body and "@octo/admins" not in body


def test_workflow_commands_in_a_suites_log_are_not_obeyed(tmp_path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "unit.log").write_text(
        "ok\n::add-mask::hide-everything\n::endgroup::\n::error file=x::forged\n::stop-commands::tok\n",
        encoding="utf-8")
    stream = io.StringIO()
    _print_logs(hostile_run(), tmp_path, stream)
    lines = stream.getvalue().splitlines()
    commands = [line for line in lines if line.startswith("::")]
    assert commands == ["::group::unit: failed (log logs/unit.log)", "::endgroup::"]
    assert any("forged" in line for line in lines)  # still shown, just inert


@pytest.mark.parametrize("event", ["not json at all", [1, 2], {"pull_request": {"number": "7; rm -rf /"}},
                                   {"pull_request": "x"}, {"issue": {"number": 3}}])
def test_a_malformed_event_means_no_pull_request_not_a_crash(double, tmp_path, monkeypatch, event) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    ctx = context(double, tmp_path, event)
    assert ctx.pull_request_number() is None
    report = publish(hostile_run(), tmp_path, 1, ctx, comment_mode="always", check_run=False, check_name="x",
                     client=client(ctx))
    assert report.comment == "no pull request for this event"
    assert double.requests == []
