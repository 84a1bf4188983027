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


TOKENS = ["ghs_installation", "ghp_classic_personal", "github_pat_11ABC_finegrained", "gho_oauth_app",
          "ghu_user_to_server", "0123456789abcdef0123456789abcdef01234567"]  # the last: an old 40-hex token
MALLORY = {"login": "mallory", "id": 5, "type": "User"}
OTHER_BOT = {"login": "dependabot[bot]", "id": 49699333, "type": "Bot"}


def token_context(double: GitHubDouble, tmp_path: Path, token: str) -> api.GitHubContext:
    return api.GitHubContext(**{**context(double, tmp_path, {"pull_request": {"number": 7}}).__dict__,
                                "token": token})


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize("author", [MALLORY, OTHER_BOT], ids=["person", "another-bot"])
@pytest.mark.parametrize("where", ["first line", "later line"])
def test_someone_elses_comment_with_our_marker_is_never_ours_whatever_the_token(double, tmp_path, monkeypatch,
                                                                                token, author, where) -> None:
    """Ownership is the author GitHub records, compared with the token's own account: never the token's prefix."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    ctx = token_context(double, tmp_path, token)
    mark = api.marker(ctx.identity, "0")
    forged = mark + "\nmine, not the bot's" if where == "first line" else "quoting:\n" + mark + "\nmine"
    double.comments[1] = {"issue": 7, "body": forged, "user": author}
    report = publish(hostile_run(), tmp_path, 1, ctx, comment_mode="always", check_run=False, check_name="x",
                     client=client(ctx))
    assert report.comment == "created on #7"
    assert double.comments[1] == {"issue": 7, "body": forged, "user": author}
    assert double.requests_to("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}") == []
    assert double.invalid == []


@pytest.mark.parametrize("token", TOKENS)
def test_our_own_earlier_comment_is_edited_whatever_the_token(double, tmp_path, monkeypatch, token) -> None:
    """The other half: the token's own account's comment is found and edited, for every kind of token."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    ctx = token_context(double, tmp_path, token)
    double.comments[1] = {"issue": 7, "body": api.marker(ctx.identity, "0") + "\nmine, not the bot's",
                          "user": MALLORY}
    first = publish(hostile_run(), tmp_path, 1, ctx, comment_mode="always", check_run=False, check_name="x",
                    client=client(ctx))
    second = publish(hostile_run(), tmp_path, 1, ctx, comment_mode="always", check_run=False, check_name="x",
                     client=client(ctx))
    assert (first.comment, second.comment) == ("created on #7", "updated on #7")
    assert len(double.comments) == 2 and double.comments[1]["body"].endswith("mine, not the bot's")


def test_a_person_with_the_same_login_as_the_bot_but_another_id_is_not_us(double, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    ctx = token_context(double, tmp_path, "ghs_installation")
    impostor = {"login": "github-actions[bot]", "id": 7, "type": "Bot"}
    double.comments[1] = {"issue": 7, "body": api.marker(ctx.identity, "0") + "\nx", "user": impostor}
    report = publish(hostile_run(), tmp_path, 1, ctx, comment_mode="always", check_run=False, check_name="x",
                     client=client(ctx))
    assert report.comment == "created on #7" and double.comments[1]["body"].endswith("\nx")


def test_when_the_tokens_account_cannot_be_read_nothing_is_edited_and_it_is_said(double, tmp_path,
                                                                                 monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    ctx = token_context(double, tmp_path, "ghs_installation")
    double.graphql_down = True  # /user refuses installation tokens; GraphQL is the only other source
    double.comments[1] = {"issue": 7, "body": api.marker(ctx.identity, "0") + "\nx", "user": MALLORY}
    report = publish(hostile_run(), tmp_path, 1, ctx, comment_mode="always", check_run=False, check_name="x",
                     client=client(ctx))
    assert report.comment == "created on #7" and double.comments[1]["body"].endswith("\nx")
    assert any("could not be read" in notice for notice in report.notices)
