"""Publishing through the REST API, against a stateful double that checks GitHub's OpenAPI description."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doorbell_ci.github import api
from doorbell_ci.github.limits import ANNOTATIONS_PER_REQUEST, CHECK_OUTPUT_BYTES, COMMENT_BODY_CHARS
from doorbell_ci.github.publish import publish
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult
from tests.github_double import GitHubDouble

COMMENTS = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
COMMENT = "/repos/{owner}/{repo}/issues/comments/{comment_id}"
CHECK_RUNS = "/repos/{owner}/{repo}/check-runs"
CHECK_RUN = "/repos/{owner}/{repo}/check-runs/{check_run_id}"


def make_run(failures: int = 0, passes: int = 3, message: str = "assert 1 == 2") -> RunResult:
    tests = [TestResult(suite="unit", name=f"test_ok_{i}", classname="tests.unit.test_x", file="tests/unit/test_x.py",
                        line=10 + i) for i in range(passes)]
    tests += [TestResult(suite="unit", name=f"test_bad_{i}", classname="tests.unit.test_y", outcome=Outcome.FAILED,
                         file="tests/unit/test_y.py", line=20 + i, message=message, details="Traceback ...")
              for i in range(failures)]
    suite = SuiteResult(name="unit", status=SuiteStatus.FAILED if failures else SuiteStatus.PASSED, tests=tests)
    return RunResult(run_id="r1", project="/work/project", started_at="2026-11-25T10:00:00+00:00",
                     finished_at="2026-11-25T10:01:00+00:00", duration=60.0, suites=[suite])


@pytest.fixture
def actions_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    files = {"summary": tmp_path / "summary.md", "output": tmp_path / "output.txt"}
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(files["summary"]))
    monkeypatch.setenv("GITHUB_OUTPUT", str(files["output"]))
    return files


def context_for(double: GitHubDouble, tmp_path: Path, pr: int | None = 7, **extra: str) -> api.GitHubContext:
    event = tmp_path / "event.json"
    payload = {"pull_request": {"number": pr, "head": {"sha": "b" * 40}}} if pr else {}
    event.write_text(json.dumps(payload), encoding="utf-8")
    return api.GitHubContext(api_url=double.url, repository=f"{double.owner}/{double.repo}", sha="c" * 40,
                             run_id="99", workflow="CI", job="tests", event_name="pull_request", event_path=event,
                             runner="Linux-X64", token="ghs_test_token", **extra)


@pytest.fixture(autouse=True)
def quick_creation_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "CREATE_BACKOFF_SECONDS", 0.01, raising=False)


def client_for(context: api.GitHubContext) -> object:
    return api.make_client(context, retries=3, backoff=0.01, seconds_between_requests=0, seconds_between_writes=0,
                           secondary_rate_wait=0.01)


def test_second_publish_edits_the_comment_instead_of_adding_one(double, tmp_path, actions_env):
    context = context_for(double, tmp_path)
    first = publish(make_run(failures=1), tmp_path, 1, context, comment_mode="always", check_run=False,
                    check_name="doorbell-ci", client=client_for(context))
    second = publish(make_run(failures=0), tmp_path, 0, context, comment_mode="always", check_run=False,
                     check_name="doorbell-ci", client=client_for(context))

    assert first.comment == "created on #7" and second.comment == "updated on #7"
    assert len(double.comments) == 1
    (only,) = double.comments.values()
    assert "passed" in only["body"] and "test_bad_0" not in only["body"]
    assert len(double.requests_to("POST", COMMENTS)) == 1 and len(double.requests_to("PATCH", COMMENT)) == 1
    assert double.invalid == []


def test_another_job_gets_its_own_comment(double, tmp_path, actions_env):
    for job in ("tests", "pi"):
        context = context_for(double, tmp_path)
        context = api.GitHubContext(**{**context.__dict__, "job": job})
        publish(make_run(), tmp_path, 0, context, comment_mode="always", check_run=False, check_name="x",
                client=client_for(context))
    assert len(double.comments) == 2


def test_changes_mode_leaves_an_identical_result_alone(double, tmp_path, actions_env):
    context = context_for(double, tmp_path)
    outcomes = [publish(make_run(failures=2), tmp_path, 1, context, comment_mode="changes", check_run=False,
                        check_name="x", client=client_for(context)).comment for _ in range(2)]
    assert outcomes == ["created on #7", "unchanged on #7"]
    assert double.requests_to("PATCH", COMMENT) == []


def test_failures_mode_skips_a_green_run_without_an_earlier_comment(double, tmp_path, actions_env):
    context = context_for(double, tmp_path)
    report = publish(make_run(), tmp_path, 0, context, comment_mode="failures", check_run=False, check_name="x",
                     client=client_for(context))
    assert report.comment == "skipped on #7"
    assert double.comments == {}


def test_120_failures_are_annotated_in_3_batches_of_at_most_50(double, tmp_path, actions_env):
    context = context_for(double, tmp_path)
    report = publish(make_run(failures=120), tmp_path, 1, context, comment_mode="off", check_run=True,
                     check_name="doorbell-ci tests", client=client_for(context))

    creates, updates = double.requests_to("POST", CHECK_RUNS), double.requests_to("PATCH", CHECK_RUN)
    assert len(creates) == 1 and len(updates) == 2
    sizes = [len(r.body["output"]["annotations"]) for r in creates + updates]
    assert sizes == [50, 50, 20] and max(sizes) <= ANNOTATIONS_PER_REQUEST
    first = creates[0].body
    assert first["head_sha"] == "b" * 40  # the PR's head, not the merge commit
    assert first["conclusion"] == "failure"
    assert first["output"]["annotations"][0]["path"] == "tests/unit/test_y.py"
    assert first["output"]["annotations"][0]["start_line"] == 20
    assert report.annotations == 120
    assert double.invalid == []


def test_a_200000_character_summary_is_cut_under_the_limits(double, tmp_path, actions_env):
    context = context_for(double, tmp_path)
    huge = "x" * 200_000
    run = make_run(failures=30, message=huge)
    run.suites[0].tests[-1].details = "é" * 200_000  # multi-byte: the check-run limit is in bytes
    long_summary = "## summary\n" + ("| row |\n" * 25_000)  # 200,000 characters
    assert len(long_summary) >= 200_000

    api.create_check_run(client_for(context), context, "big", run, long_summary, [])
    outcome = api.upsert_comment(client_for(context), context, 7, long_summary, run, "always")

    summary = double.requests_to("POST", CHECK_RUNS)[0].body["output"]["summary"]
    assert len(summary.encode("utf-8")) <= CHECK_OUTPUT_BYTES
    assert "full report is report.html in http" in summary  # points at the run's artifacts
    body = double.comments[outcome.comment_id]["body"]
    assert len(body) <= COMMENT_BODY_CHARS and "cut to fit" in body
    assert double.invalid == []


def test_403_on_comment_creation_degrades_to_the_job_summary(double, tmp_path, actions_env):
    context = context_for(double, tmp_path)
    double.fail("POST", COMMENTS, 403, times=5, message="Resource not accessible by integration")
    report = publish(make_run(failures=1), tmp_path, 1, context, comment_mode="always", check_run=False,
                     check_name="x", client=client_for(context))

    assert report.comment == "failed"
    assert any("403 Resource not accessible by integration" in n and "fork" in n for n in report.notices)
    summary = actions_env["summary"].read_text(encoding="utf-8")
    assert "test\\_bad\\_0" in summary and "Publishing notices" in summary and "403" in summary
    outputs = actions_env["output"].read_text(encoding="utf-8")
    assert "status<<" in outputs and "\nfailed\n" in outputs  # the verdict is unchanged
    assert double.comments == {}
    assert len(double.requests_to("POST", COMMENTS)) == 1  # a plain 403 is not retried


def test_a_502_is_retried_and_the_comment_still_lands(double, tmp_path, actions_env):
    context = context_for(double, tmp_path)
    double.fail("GET", COMMENTS, 502, times=1, message="Bad Gateway")
    double.fail("POST", COMMENTS, 502, times=1, message="Bad Gateway")
    report = publish(make_run(), tmp_path, 0, context, comment_mode="always", check_run=False, check_name="x",
                     client=client_for(context))

    assert report.comment == "created on #7" and report.notices == []
    # the list before the first POST (retried after its 502), then a look for what the failed POST made
    assert [r.status for r in double.requests_to("GET", COMMENTS)] == [502, 200, 200]
    assert [r.status for r in double.requests_to("POST", COMMENTS)] == [502, 201]
    assert len(double.comments) == 1


def test_rate_limits_are_waited_out_and_retried(double, tmp_path, actions_env):
    context = context_for(double, tmp_path)
    double.fail("POST", COMMENTS, 403, message="You have exceeded a secondary rate limit. Please wait a few minutes.")
    double.fail("PATCH", COMMENT, 429, message="Too many requests", headers={"Retry-After": "0"})
    publish(make_run(), tmp_path, 0, context, comment_mode="always", check_run=False, check_name="x",
            client=client_for(context))
    report = publish(make_run(failures=1), tmp_path, 1, context, comment_mode="always", check_run=False,
                     check_name="x", client=client_for(context))
    assert report.comment == "updated on #7" and report.notices == []
    assert [r.status for r in double.requests_to("POST", COMMENTS)] == [403, 201]
    assert [r.status for r in double.requests_to("PATCH", COMMENT)] == [429, 200]


def test_persistent_5xx_becomes_a_notice_not_an_exception(double, tmp_path, actions_env):
    context = context_for(double, tmp_path)
    double.fail("POST", CHECK_RUNS, 503, times=10)
    report = publish(make_run(failures=1), tmp_path, 1, context, comment_mode="off", check_run=True,
                     check_name="x", client=client_for(context))
    assert report.check_run == "failed"
    assert any(n.startswith("check run not created: 503") for n in report.notices)
    assert len(double.requests_to("POST", CHECK_RUNS)) == 4  # the first try and 3 retries


def test_every_request_carries_the_token_and_hits_the_configured_api_url(double, tmp_path, actions_env):
    context = context_for(double, tmp_path)
    publish(make_run(failures=1), tmp_path, 1, context, comment_mode="always", check_run=True, check_name="x",
            client=client_for(context))
    assert double.requests and all(r.authorization == "token ghs_test_token" or
                                   r.authorization == "Bearer ghs_test_token" for r in double.requests)


@pytest.mark.parametrize(("suite", "conclusion"), [
    (SuiteResult(name="unit", status=SuiteStatus.ABSENT, reason="tests/unit does not exist in the project"), "failure"),
    (SuiteResult(name="unit", status=SuiteStatus.PASSED,
                 tests=[TestResult(suite="unit", name="t", outcome=Outcome.SKIPPED)]), "failure"),
    (SuiteResult(name="unit", status=SuiteStatus.COVERAGE_FAILED, reason="total coverage 45.00% is under 90%",
                 tests=[TestResult(suite="unit", name="t")]), "failure"),
    (SuiteResult(name="unit", status=SuiteStatus.PASSED, tests=[TestResult(suite="unit", name="t")]), "success"),
], ids=["all-absent", "all-skipped", "coverage-failed", "passed"])
def test_the_check_run_is_green_only_when_something_was_tested_and_passed(
        double, tmp_path, actions_env, suite: SuiteResult, conclusion: str) -> None:
    context = context_for(double, tmp_path)
    run = RunResult(run_id="r1", project="/work/project", started_at="2026-11-25T10:00:00+00:00",
                    finished_at="2026-11-25T10:01:00+00:00", duration=1.0, suites=[suite])
    publish(run, tmp_path, 0, context, comment_mode="off", check_run=True, check_name="doorbell-ci",
            client=client_for(context))
    assert double.requests_to("POST", CHECK_RUNS)[0].body["conclusion"] == conclusion
    assert double.invalid == []
@pytest.mark.parametrize("fault", [502, 504, "reset", "hang"])
@pytest.mark.parametrize("token", ["ghs_installation_token", "ghp_personal_access_token"])
def test_a_comment_made_before_the_answer_was_lost_is_not_posted_twice(double, tmp_path, actions_env, fault,
                                                                         token):
    """GitHub created the comment, then the answer was a 5xx, a reset connection or nothing (a timeout)."""
    context = api.GitHubContext(**{**context_for(double, tmp_path).__dict__, "token": token})
    double.fail_after("POST", COMMENTS, fault)
    client = api.make_client(context, retries=3, backoff=0.01, timeout=1, seconds_between_requests=0,
                             seconds_between_writes=0, secondary_rate_wait=0.01)
    report = publish(make_run(failures=1), tmp_path, 1, context, comment_mode="always", check_run=False,
                     check_name="x", client=client)

    assert report.comment == "created on #7" and report.notices == []
    assert len(double.comments) == 1
    assert len(double.requests_to("POST", COMMENTS)) == 1  # found by its attempt marker, not sent again
    assert double.invalid == []


def test_a_lost_answer_and_a_failing_look_still_give_one_comment(double, tmp_path, actions_env):
    context = context_for(double, tmp_path)
    double.fail_after("POST", COMMENTS, 503)
    # the list before the POST answers; the looks after the lost answer meet 502s (no session retries here)
    double.fail("GET", COMMENTS, 502, times=2, after=1)
    client = api.make_client(context, retries=0, backoff=0.01, seconds_between_requests=0, seconds_between_writes=0)
    report = publish(make_run(failures=1), tmp_path, 1, context, comment_mode="always", check_run=False,
                     check_name="x", client=client)
    assert report.comment == "created on #7"
    assert len(double.comments) == 1 and len(double.requests_to("POST", COMMENTS)) == 1


def test_a_lost_answer_then_a_later_publish_edits_that_comment(double, tmp_path, actions_env):
    context = context_for(double, tmp_path)
    double.fail_after("POST", COMMENTS, "reset")
    publish(make_run(failures=1), tmp_path, 1, context, comment_mode="always", check_run=False, check_name="x",
            client=client_for(context))
    again = publish(make_run(), tmp_path, 0, context, comment_mode="always", check_run=False, check_name="x",
                    client=client_for(context))
    assert again.comment == "updated on #7" and len(double.comments) == 1


def test_a_post_that_made_nothing_is_sent_again_after_looking(double, tmp_path, actions_env):
    context = context_for(double, tmp_path)
    double.fail("POST", COMMENTS, 500, times=2)  # refused before anything was made
    report = publish(make_run(), tmp_path, 0, context, comment_mode="always", check_run=False, check_name="x",
                     client=client_for(context))
    assert report.comment == "created on #7" and len(double.comments) == 1
    assert [r.status for r in double.requests_to("POST", COMMENTS)] == [500, 500, 201]


def test_two_legs_of_a_matrix_create_two_differently_named_check_runs(double, tmp_path, actions_env):
    for matrix, failures in (('{"python": "3.11"}', 1), ('{"python": "3.12"}', 0)):
        context = api.GitHubContext(**{**context_for(double, tmp_path).__dict__, "matrix": matrix})
        publish(make_run(failures=failures), tmp_path, failures, context, comment_mode="always", check_run=True,
                check_name=None, client=client_for(context))
    created = [c["create"] for c in double.check_runs.values()]
    assert [(c["name"], c["conclusion"]) for c in created] == [
        ("doorbell-ci / tests (Linux-X64, 3.11)", "failure"), ("doorbell-ci / tests (Linux-X64, 3.12)", "success")]
    assert len(double.comments) == 2  # and one comment per leg: the passing leg does not overwrite the failing one
    assert double.invalid == []
    outputs = actions_env["output"].read_text(encoding="utf-8")  # and one results artifact name per leg
    assert "\ndoorbell-ci-tests-Linux-X64-3.11\n" in outputs and "\ndoorbell-ci-tests-Linux-X64-3.12\n" in outputs
