"""The REST API side of publishing, through PyGithub: the PR comment and the check run.

``base_url`` comes from ``GITHUB_API_URL`` so GitHub Enterprise Server works unchanged. Every
request goes through PyGithub's requester to a path we build under that base URL; URLs the
server hands back (``Link`` pages, an object's ``url``) are never followed, so neither a mock
nor a misconfigured proxy can make us send the token to another host.
Transient failures (5xx, rate limits) are retried with exponential backoff by PyGithub's
``GithubRetry``; anything else (a read-only fork token's 403, a 404, a network error) is
turned into a notice by the caller, never an exception that could change the verdict.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from github import Auth, Github, GithubException, GithubRetry
from urllib3.util.retry import Retry

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
from doorbell_ci.reports.text import verdict
from doorbell_ci.results import RunResult, TestResult

COMMENT_MODES = ("always", "changes", "failures", "off")
COMMENTS_PER_PAGE = 100
MAX_COMMENT_PAGES = 20  # 2,000 comments; past that a PR gets a second comment rather than an endless search
MARKER_PREFIX = "<!-- doorbell-ci:"


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
        }
        values.update({k: v for k, v in overrides.items() if v not in (None, "")})
        return cls(**values)

    @property
    def identity(self) -> str:
        """Which comment is ours: one per workflow, job, platform and optional key."""
        parts = [self.workflow or "workflow", self.job or "job", self.runner, self.key]
        return re.sub(r"[^A-Za-z0-9_.:/ -]", "_", "/".join(p for p in parts if p))

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
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:16]


def marker(identity: str, state: str) -> str:
    return f"{MARKER_PREFIX}{identity} state:{state} -->"


def _marker_state(body: str, identity: str) -> str | None:
    """The state recorded in ``body`` if it is our comment for ``identity``, else None."""
    head = f"{MARKER_PREFIX}{identity} state:"
    start = body.find(head)
    if start < 0:
        return None
    end = body.find(" -->", start)
    return body[start + len(head):end] if end > 0 else ""


@dataclass
class CommentOutcome:
    action: str  # created, updated, unchanged, skipped
    comment_id: int | None = None


def upsert_comment(client: Github, context: GitHubContext, pr_number: int, body: str, run: RunResult,
                   mode: str) -> CommentOutcome:
    """Create or edit our one comment on the PR, as ``mode`` asks; raises GithubException on failure."""
    if mode == "off":
        return CommentOutcome("skipped")
    state = comment_state(run)
    existing = _find_our_comment(client, context, pr_number)
    previous_state = _marker_state(existing["body"], context.identity) if existing is not None else None
    if mode == "changes" and existing is not None and previous_state == state:
        return CommentOutcome("unchanged", existing["id"])
    if mode == "failures" and not run.failed and existing is None:
        return CommentOutcome("skipped")
    full_body = marker(context.identity, state) + "\n" + body
    full_body = fit(full_body, COMMENT_BODY_CHARS * 4, context.run_url, limit_chars=COMMENT_BODY_CHARS - 64)
    repo_path = f"/repos/{context.repository}"
    if existing is not None:
        client.requester.requestJsonAndCheck("PATCH", f"{repo_path}/issues/comments/{existing['id']}",
                                             input={"body": full_body})
        return CommentOutcome("updated", existing["id"])
    _, created = client.requester.requestJsonAndCheck("POST", f"{repo_path}/issues/{pr_number}/comments",
                                                      input={"body": full_body})
    return CommentOutcome("created", created.get("id") if isinstance(created, dict) else None)


def _is_ours(comment: Any, context: GitHubContext) -> bool:
    """Our marker opens the body, and with the job's app token (``ghs_``) a bot wrote it.

    Anyone can paste the marker into a comment of their own; the workflow token may edit any
    comment, so without the author check we would overwrite a person's words.
    """
    if not isinstance(comment, dict) or not isinstance(comment.get("body"), str):
        return False
    if not comment["body"].startswith(f"{MARKER_PREFIX}{context.identity} state:"):
        return False
    if context.token.startswith("ghs_"):
        user = comment.get("user") or {}
        return isinstance(user, dict) and user.get("type") == "Bot"
    return True


def _find_our_comment(client: Github, context: GitHubContext, pr_number: int) -> dict[str, Any] | None:
    """Our newest comment on the PR, looking through at most MAX_COMMENT_PAGES pages of 100.

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
            if _is_ours(comment, context):
                found = {"id": comment["id"], "body": comment["body"]}  # oldest first: the last match is newest
        if len(comments) < COMMENTS_PER_PAGE:
            break
    return found


def annotation(test: TestResult, path_prefix: str = "") -> dict[str, Any] | None:
    """One check-run annotation for a failing test, or None when it names no file to attach to."""
    if not test.file:
        return None
    path = (path_prefix.rstrip("/") + "/" if path_prefix else "") + test.file.replace("\\", "/")
    line = test.line if test.line and test.line > 0 else 1
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
