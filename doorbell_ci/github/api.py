"""The REST API side of publishing, through PyGithub: the PR comment and the check run.

``base_url`` comes from ``GITHUB_API_URL`` so GitHub Enterprise Server works unchanged. Every
request goes through PyGithub's requester to a path we build under that base URL; URLs the
server hands back (``Link`` pages, an object's ``url``) are never followed, so neither a mock
nor a misconfigured proxy can make us send the token to another host.
Transient failures (5xx, rate limits) are retried with exponential backoff by PyGithub's
``GithubRetry``; anything else (a read-only fork token's 403, a 404, a network error) is
turned into a notice by the caller, never an exception that could change the verdict.
Creating the PR comment is the one request that is not simply retried: GitHub may have made the
comment before answering 5xx (or before the connection broke), so we look for this attempt's
marker before sending it again. Which comment is ours is decided by its author, compared with
the identity the token itself reports, whatever kind of token it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from github import Auth, Github, GithubException, GithubRetry
from github.Requester import Requester
from urllib3.util.retry import Retry

from doorbell_ci.analysis.signatures import failure_frame
from doorbell_ci.github.limits import (
    ANNOTATION_MESSAGE_BYTES,
    ANNOTATION_TITLE_CHARS,
    ANNOTATIONS_PER_REQUEST,
    CHECK_OUTPUT_BYTES,
    COMMENT_BODY_CHARS,
    MAX_CHECK_ANNOTATIONS,
    cut_bytes,
    escape_astral,
    fit,
)
from doorbell_ci.impact.summary import missed, number
from doorbell_ci.reports.text import prefixed, verdict
from doorbell_ci.results import RunResult, TestResult

COMMENT_MODES = ("always", "changes", "failures", "off")
CHECK_NAME_CHARS = 100  # the longest name options.parse_check_name accepts; longer ones are cut in GitHub's UI
COMMENTS_PER_PAGE = 100
MAX_COMMENT_PAGES = 20  # 2,000 comments; past that a PR gets a second comment rather than an endless search
MARKER_PREFIX = "<!-- doorbell-ci:"
CREATE_ATTEMPTS = 4  # sends of the comment-creating POST, each after looking for what the last one made
CREATE_BACKOFF_SECONDS = 2.0  # doubled after each failed send
VIEWER_QUERY = "query { viewer { login databaseId } }"


@dataclass(frozen=True)
class GitHubContext:
    """What the runner tells us about this job, read once from its environment variables."""

    api_url: str = "https://api.github.com"
    server_url: str = "https://github.com"
    repository: str = ""  # owner/name
    sha: str = ""
    run_id: str = ""
    workflow: str = ""
    job: str = ""
    event_name: str = ""
    event_path: Path | None = None
    runner: str = ""  # RUNNER_OS-RUNNER_ARCH, so matrix legs on different platforms stay apart
    workspace: Path | None = None
    token: str = ""
    key: str = ""  # extra identity, e.g. a matrix value, for several reports in one job
    matrix: str = ""  # the job's matrix as JSON (the action passes toJSON(matrix)): legs on one platform differ here

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> GitHubContext:
        env = os.environ if environ is None else environ
        runner = "-".join(part for part in (env.get("RUNNER_OS", ""), env.get("RUNNER_ARCH", "")) if part)
        values: dict[str, Any] = {
            "api_url": env.get("GITHUB_API_URL") or "https://api.github.com",
            "server_url": env.get("GITHUB_SERVER_URL") or "https://github.com",
            "repository": env.get("GITHUB_REPOSITORY", ""),
            "sha": env.get("GITHUB_SHA", ""),
            "run_id": env.get("GITHUB_RUN_ID", ""),
            "workflow": env.get("GITHUB_WORKFLOW", ""),
            "job": env.get("GITHUB_JOB", ""),
            "event_name": env.get("GITHUB_EVENT_NAME", ""),
            "event_path": Path(env["GITHUB_EVENT_PATH"]) if env.get("GITHUB_EVENT_PATH") else None,
            "runner": runner,
            "workspace": Path(env["GITHUB_WORKSPACE"]) if env.get("GITHUB_WORKSPACE") else None,
            "token": env.get("DOORBELL_CI_GITHUB_TOKEN") or env.get("GITHUB_TOKEN", ""),
            "key": env.get("DOORBELL_CI_REPORT_KEY", ""),
            "matrix": env.get("DOORBELL_CI_MATRIX", ""),
        }
        values.update({k: v for k, v in overrides.items() if v not in (None, "")})
        return cls(**values)

    @property
    def identity(self) -> str:
        """Which comment is ours: one per workflow, job, platform, matrix leg and optional key."""
        parts = [self.workflow or "workflow", self.job or "job", self.runner, *self.matrix_values(), self.key]
        return re.sub(r"[^A-Za-z0-9_.:/ -]", "_", "/".join(p for p in parts if p))

    def matrix_values(self) -> list[str]:
        """This leg's matrix values in the matrix's order (empty outside a matrix), as GitHub names legs.

        Two legs of one matrix always differ in at least one value, so names built from all of
        them never collide; unlike ``strategy.job-index`` they also stay the same when the matrix
        grows, so a re-run's check run replaces its own leg's.
        """
        if not self.matrix.strip():
            return []
        try:
            data = json.loads(self.matrix)
        except ValueError:
            return [" ".join(self.matrix.split())]
        if not isinstance(data, dict):
            return []  # null outside a matrix
        return [value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)
                for value in data.values()]

    def default_check_name(self) -> str:
        """``doorbell-ci / JOB (PLATFORM, matrix values, key)``: one name per job, platform and matrix leg.

        GitHub shows only the newest check run of a name on a commit, so legs sharing a name would
        hide each other's failures. A name too long for GitHub's UI keeps its start and ends in a
        digest of everything that identifies the leg, so it stays unique.
        """
        detail = [part for part in (self.runner, *self.matrix_values(), self.key) if part]
        name = f"doorbell-ci / {self.job or 'job'}" + (f" ({', '.join(detail)})" if detail else "")
        name = " ".join(name.split())  # a matrix value with a newline must not make a two-line name
        if len(name) <= CHECK_NAME_CHARS:
            return name
        digest = hashlib.sha256(json.dumps([self.job, *detail]).encode()).hexdigest()[:10]
        return name[:CHECK_NAME_CHARS - 14] + f"… #{digest})"

    def artifact_name(self) -> str:
        """``doorbell-ci-JOB-OS-ARCH[-matrix values][-key]``: the results artifact, one per leg.

        upload-artifact refuses a second artifact of the same name in a run, so legs of a matrix
        on one platform need their own. Characters an artifact name may not hold become ``_``;
        when that changed a value (two values could then meet) or the name grew past 100
        characters, a digest of the leg's identity keeps it unique.
        """
        raw = [self.job or "job", *self.runner.split("-"), *self.matrix_values(), self.key]
        raw = [part for part in raw if part]
        safe = [re.sub(r"[^A-Za-z0-9._-]+", "_", part) for part in raw]
        name = "-".join(["doorbell-ci", *safe])
        if safe != raw or len(name) > CHECK_NAME_CHARS:
            digest = hashlib.sha256(json.dumps(raw).encode()).hexdigest()[:10]
            name = name[:CHECK_NAME_CHARS - 11] + "-" + digest
        return name

    @property
    def run_url(self) -> str | None:
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url.rstrip('/')}/{self.repository}/actions/runs/{self.run_id}"

    def event(self) -> dict[str, Any]:
        if self.event_path is None:
            return {}
        try:
            data = json.loads(self.event_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def pull_request_number(self) -> int | None:
        """The PR of a pull_request event, or of the event file a fork's test run uploaded."""
        event = self.event()
        for key in ("pull_request", "issue"):
            number = (event.get(key) or {}).get("number") if isinstance(event.get(key), dict) else None
            if isinstance(number, int) and (key == "pull_request" or "pull_request" in event.get("issue", {})):
                return number
        number = event.get("number")
        return number if isinstance(number, int) and "pull_request" in event else None

    def head_sha(self) -> str:
        """A PR's head commit, not the merge commit GITHUB_SHA names on pull_request events."""
        head = (self.event().get("pull_request") or {}).get("head") or {}
        sha = head.get("sha") if isinstance(head, dict) else None
        return sha if isinstance(sha, str) and sha else self.sha


def make_client(context: GitHubContext, retries: int = 4, backoff: float = 1.0, timeout: float = 30.0,
                seconds_between_requests: float = 0.25, seconds_between_writes: float = 1.0,
                secondary_rate_wait: float = 60.0) -> Github:
    """A PyGithub client for ``context.api_url`` that retries 5xx and rate limits with backoff.

    ``GithubRetry`` retries GET and POST only; PATCH (edits of the comment and the check run) is
    added, since sending the same edit twice is harmless. Writes are spaced (1 s by default, as
    EnricoMi's action does) to stay clear of GitHub's secondary rate limits.
    """
    retry = GithubRetry(
        total=retries,
        backoff_factor=backoff,
        allowed_methods=Retry.DEFAULT_ALLOWED_METHODS.union({"GET", "POST", "PATCH"}),
        raise_on_status=False,
        status_forcelist=[429, *range(500, 600)],  # GithubRetry adds 403, retried only for rate limits
        secondary_rate_wait=secondary_rate_wait,
        max_rate_limit_wait=300,
    )
    auth = Auth.Token(context.token) if context.token else None
    return Github(auth=auth, base_url=context.api_url.rstrip("/"), retry=retry, timeout=int(timeout),
                  seconds_between_requests=seconds_between_requests, seconds_between_writes=seconds_between_writes,
                  lazy=True)


def comment_state(run: RunResult) -> str:
    """A short digest of what a reader of the comment cares about: verdict and counts per suite."""
    facts = [("failed" if run.failed else "passed", *run.counts.astuple())]
    facts += [(s.name, s.status.value, *s.counts.astuple()) for s in run.suites]
    if isinstance(run.impact, dict):  # another selection is news even with the same counts (only then: old states stay)
        facts.append(("impact", run.impact.get("mode"), number(run.impact.get("selected")),
                      number(run.impact.get("total")), len(missed(run.impact))))
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:16]


def marker(identity: str, state: str, attempt: str = "") -> str:
    """The hidden first line of our comment: which report it is, its state, and the publish that wrote it."""
    return f"{MARKER_PREFIX}{identity} state:{state}{f' attempt:{attempt}' if attempt else ''} -->"


def _marker_fields(body: str, identity: str) -> dict[str, str] | None:
    """``state`` and ``attempt`` of our marker at the start of ``body`` for ``identity``, else None."""
    head = f"{MARKER_PREFIX}{identity} state:"
    if not body.startswith(head):
        return None
    end = body.find(" -->", len(head))
    words = (body[len(head):end] if end > 0 else "").split(" ")
    fields = {"state": words[0]}
    fields.update(word.split(":", 1) for word in words[1:] if ":" in word)  # type: ignore[arg-type]
    return fields


def _marker_state(body: str, identity: str) -> str | None:
    """The state recorded in ``body`` if it is our comment for ``identity``, else None."""
    fields = _marker_fields(body, identity)
    return None if fields is None else fields["state"]


@dataclass(frozen=True)
class Identity:
    """Who the token acts as: a person (PAT, fine-grained, OAuth token) or an app's bot (installation token)."""

    login: str
    id: int


def token_identity(client: Github) -> Identity | None:
    """The account the token acts as, asked of GitHub rather than guessed from the token's prefix.

    ``GET /user`` answers for every token that acts as a person; an installation token (the
    workflow's GITHUB_TOKEN or a GitHub App's) is refused there (403), and GraphQL's ``viewer``
    names its bot. None when neither answers: then no existing comment is ever treated as ours.
    """
    try:
        _, user = client.requester.requestJsonAndCheck("GET", "/user")
        if isinstance(user, dict) and isinstance(user.get("login"), str) and _is_int(user.get("id")):
            return Identity(user["login"], user["id"])
    except GithubException as error:
        if error.status not in (401, 403, 404):
            return None
    except OSError:
        return None
    try:
        _, answer = client.requester.graphql_query(VIEWER_QUERY, {})
    except (GithubException, OSError):
        return None
    viewer = ((answer or {}).get("data") or {}).get("viewer") if isinstance(answer, dict) else None
    if isinstance(viewer, dict) and isinstance(viewer.get("login"), str) and _is_int(viewer.get("databaseId")):
        return Identity(viewer["login"], viewer["databaseId"])
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class CommentOutcome:
    action: str  # created, updated, unchanged, skipped
    comment_id: int | None = None
    notice: str | None = None  # something the reader of the log should know, e.g. why no comment was edited


def upsert_comment(client: Github, context: GitHubContext, pr_number: int, body: str, run: RunResult,
                   mode: str) -> CommentOutcome:
    """Create or edit our one comment on the PR, as ``mode`` asks; raises GithubException on failure."""
    if mode == "off":
        return CommentOutcome("skipped")
    me = token_identity(client)
    notice = None if me is not None else (
        "the token's own account could not be read (GET /user, GraphQL viewer), so no earlier comment is "
        "edited: a new one is written")
    state = comment_state(run)
    existing = _find_our_comment(client, context, pr_number, me) if me is not None else None
    previous_state = _marker_state(existing["body"], context.identity) if existing is not None else None
    if mode == "changes" and existing is not None and previous_state == state:
        return CommentOutcome("unchanged", existing["id"], notice)
    if mode == "failures" and not run.failed and existing is None:
        return CommentOutcome("skipped", None, notice)
    attempt = secrets.token_hex(8)
    full_body = marker(context.identity, state, attempt) + "\n" + body
    full_body = fit(full_body, COMMENT_BODY_CHARS * 4, context.run_url, limit_chars=COMMENT_BODY_CHARS - 64)
    repo_path = f"/repos/{context.repository}"
    if existing is not None:
        client.requester.requestJsonAndCheck("PATCH", f"{repo_path}/issues/comments/{existing['id']}",
                                             input={"body": full_body})
        return CommentOutcome("updated", existing["id"], notice)
    return CommentOutcome("created", _create_comment(client, context, pr_number, full_body, attempt, me), notice)


def _create_comment(client: Github, context: GitHubContext, pr_number: int, body: str, attempt: str,
                    me: Identity | None) -> int | None:
    """POST the comment at most once per success, though an answer may be lost after GitHub made it.

    A 5xx, a timeout or a reset connection after the request went out does not say whether the
    comment exists, so the session's automatic retries (which would simply send it again) are
    off for this request, except for refusals that say nothing was done (rate limits, a
    connection never made). Before each new send we list the comments and stop if one carries
    this publish's ``attempt`` marker.
    """
    requester = _single_send_requester(client)
    path = f"/repos/{context.repository}/issues/{pr_number}/comments"
    error: Exception | None = None
    for round_ in range(CREATE_ATTEMPTS):
        if round_:
            time.sleep(CREATE_BACKOFF_SECONDS * 2 ** (round_ - 1))
            try:
                made = _find_our_comment(client, context, pr_number, me, attempt=attempt)
            except (GithubException, OSError):
                continue  # cannot tell yet: wait and look again rather than risk a second comment
            if made is not None:
                return made["id"]
        try:
            _, created = requester.requestJsonAndCheck("POST", path, input={"body": body})
            return created.get("id") if isinstance(created, dict) else None
        except GithubException as failure:
            if failure.status < 500:
                raise  # GitHub refused it (403, 404, 422): nothing was made, and sending again will not help
            error = failure
        except OSError as failure:  # requests' ConnectionError and Timeout are OSErrors
            error = failure
    assert error is not None
    raise error


def _single_send_requester(client: Github) -> Requester:
    """The client's requester, but retrying only what GitHub certainly did not act on."""
    settings = client.requester.kwargs
    retry = settings.get("retry")
    if isinstance(retry, Retry):
        settings["retry"] = retry.new(read=0, other=0, status_forcelist=[429])  # GithubRetry adds its 403 check
    return Requester(**settings)


def _is_ours(comment: Any, context: GitHubContext, me: Identity | None, attempt: str | None = None) -> bool:
    """Our marker opens the body, and the token's own account wrote it.

    Anyone can paste the marker into a comment of their own, and any token that may comment may
    edit other people's comments; the author, as GitHub records it, is what makes a comment ours.
    """
    if not isinstance(comment, dict) or not isinstance(comment.get("body"), str):
        return False
    fields = _marker_fields(comment["body"], context.identity)
    if fields is None or (attempt is not None and fields.get("attempt") != attempt):
        return False
    if me is None:  # only while looking for what our own lost POST made: this attempt's random marker
        return attempt is not None
    user = comment.get("user")
    return isinstance(user, dict) and user.get("id") == me.id and not isinstance(user.get("id"), bool)


def _find_our_comment(client: Github, context: GitHubContext, pr_number: int, me: Identity | None,
                      attempt: str | None = None) -> dict[str, Any] | None:
    """Our newest comment on the PR (or the one of ``attempt``), looking through at most 20 pages of 100.

    Pages are requested by number from GITHUB_API_URL rather than by following the server's
    ``Link`` header, so every request (and the token with it) goes to the host we were given.
    """
    found = None
    for page in range(1, MAX_COMMENT_PAGES + 1):
        _, comments = client.requester.requestJsonAndCheck(
            "GET", f"/repos/{context.repository}/issues/{pr_number}/comments",
            parameters={"per_page": COMMENTS_PER_PAGE, "page": page})
        if not isinstance(comments, list):
            break
        for comment in comments:
            if _is_ours(comment, context, me, attempt):
                found = {"id": comment["id"], "body": comment["body"]}  # oldest first: the last match is newest
        if len(comments) < COMMENTS_PER_PAGE:
            break
    return found


def annotation(test: TestResult, path_prefix: str = "", project: str | None = None) -> dict[str, Any] | None:
    """One check-run annotation at the line where ``test`` failed, or None when it names no file."""
    where = failure_frame(test, project)
    file, line = (where.file, where.line) if where is not None else (test.file, test.line)
    if not file:
        return None
    path = prefixed(path_prefix, file)
    line = line if line and line > 0 else 1
    message = escape_astral(test.message or f"{test.outcome.value}")
    details = escape_astral(test.details or "")
    note: dict[str, Any] = {
        "path": path,
        "start_line": line,
        "end_line": line,
        "annotation_level": "failure",
        "title": escape_astral(f"{test.suite}: {test.nodeid}")[:ANNOTATION_TITLE_CHARS],
        "message": cut_bytes(message, ANNOTATION_MESSAGE_BYTES),
    }
    if details:
        note["raw_details"] = cut_bytes(details, ANNOTATION_MESSAGE_BYTES)
    return note


def batches(items: list[dict[str, Any]], size: int = ANNOTATIONS_PER_REQUEST) -> list[list[dict[str, Any]]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


@dataclass
class CheckRunOutcome:
    check_run_id: int
    requests: int
    annotations: int
    annotations_dropped: int
    html_url: str | None = None


def create_check_run(client: Github, context: GitHubContext, name: str, run: RunResult, summary: str,
                     annotations: list[dict[str, Any]], cap: int = MAX_CHECK_ANNOTATIONS) -> CheckRunOutcome:
    """A completed check run: summary first, then annotations in batches of at most 50 (each call appends)."""
    counts = run.counts
    title = f"{counts.passed} passed, {counts.failed} failed, {counts.errors} errors, {counts.skipped} skipped"
    title += selection_title(run.impact)
    summary = fit(escape_astral(summary), CHECK_OUTPUT_BYTES - 512, context.run_url)
    kept, dropped = annotations[:cap], max(0, len(annotations) - cap)
    chunks = batches(kept) or [[]]
    output: dict[str, Any] = {"title": title, "summary": summary}
    body: dict[str, Any] = {
        "name": name, "head_sha": context.head_sha(), "status": "completed",
        # a run that tested nothing, or whose coverage failed, is no success either (reports.text.verdict)
        "conclusion": "success" if verdict(run)[1] == "passed" else "failure",
        "output": {**output, "annotations": chunks[0]} if chunks[0] else output,
    }
    if context.run_url:
        body["details_url"] = context.run_url
    repo_path = f"/repos/{context.repository}"
    _, check = client.requester.requestJsonAndCheck("POST", f"{repo_path}/check-runs", input=body)
    check_id = check["id"]
    for chunk in chunks[1:]:  # each update appends its annotations to the ones already there
        client.requester.requestJsonAndCheck("PATCH", f"{repo_path}/check-runs/{check_id}",
                                             input={"output": {**output, "annotations": chunk}})
    return CheckRunOutcome(check_id, len(chunks), len(kept), dropped, check.get("html_url"))


def selection_title(impact: dict[str, Any] | None) -> str:
    """`` (412 of 3,120 tests selected)`` after the check run's counts: a partial run says so in its title."""
    if not isinstance(impact, dict) or impact.get("mode") != "affected" or impact.get("full_run_reason"):
        return " (selection would have missed a failing test)" if missed(impact) else ""
    selected, total = number(impact.get("selected")), number(impact.get("total"))
    return f" ({selected:,} of {total:,} tests selected)" if selected is not None and total is not None else ""


def describe_failure(error: Exception) -> str:
    """One line saying what went wrong with the API and what it usually means."""
    if isinstance(error, GithubException):
        message = error.data.get("message") if isinstance(error.data, dict) else str(error.data or "")
        if error.status == 403:
            return (f"403 {message or 'Forbidden'}: the token may not write here (pull requests from forks get a "
                    "read-only token; see docs/GITHUB.md for the workflow_run pattern)")
        if error.status == 404:
            return f"404 {message or 'Not Found'}: wrong repository, or the token cannot see it"
        return f"{error.status} {message}".strip()
    return f"{type(error).__name__}: {error}"
