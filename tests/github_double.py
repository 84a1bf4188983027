"""A stateful stand-in for the GitHub REST API, checked against GitHub's own OpenAPI description.

Prism (used by the e2e test) validates requests but forgets everything between them, so it
cannot show that a second publish *edits* the comment the first one made. This double keeps
state (comments, check runs, artifacts), and validates every request it receives (path,
path and query parameter types, JSON body) against ``api.github.com.deref.json`` from npm
``@octokit/openapi``: a request GitHub would refuse is answered 422 and recorded in
``invalid``, so a test can assert that none of ours was. Faults (a 502, a 403) are injected
per route to test retries and degradation; ``fail_after`` injects them after the operation took
effect (GitHub made the comment, then the answer was a 502, a reset or nothing at all).

Like GitHub, the double knows who each token acts as: an installation token (``ghs_``, the
workflow's GITHUB_TOKEN) is the ``github-actions[bot]``, refused by ``GET /user`` and named by
GraphQL's ``viewer``; any other token is the person in ``users`` (default ``octocat``). A
comment's author is whoever's token created it. ``/graphql`` is not in the REST description, so
it is answered separately and only for the ``viewer`` query.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from openapi_schema_validator import OAS30Validator

from tests.tooling import require_tool

REPO_ROOT = Path(__file__).resolve().parents[1]
ACTIONS_BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
PERSON = {"login": "octocat", "id": 583231, "type": "User"}
SPEC_NAME = "@octokit/openapi/generated/api.github.com.deref.json"


def node_modules_candidates() -> list[Path]:
    """Where the npm tools live: $DOORBELL_CI_TOOLS_DIR (a .bin folder), the repo's .tools, /tmp/npmtools."""
    found = []
    tools_dir = os.environ.get("DOORBELL_CI_TOOLS_DIR")
    if tools_dir:
        found.append(Path(tools_dir).parent)
    found += [REPO_ROOT / ".tools" / "node_modules", Path("/tmp/npmtools/node_modules")]
    return found


def find_node_file(relative: str) -> Path | None:
    for folder in node_modules_candidates():
        if (folder / relative).exists():
            return folder / relative
    return None


def require_spec(name: str = SPEC_NAME) -> Path:
    path = find_node_file(name)
    require_tool("@octokit/openapi", path is not None,
                 "GitHub's OpenAPI description (npm install @octokit/openapi; scripts/setup.sh --full)")
    assert path is not None
    return path


@functools.cache
def _load_spec(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@dataclass
class Operation:
    template: str
    pattern: re.Pattern[str]
    method: str
    spec: dict[str, Any]


@functools.cache
def _operations(path: str) -> tuple[Operation, ...]:
    spec = _load_spec(path)
    operations = []
    for template, item in spec["paths"].items():
        regex = "^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$"
        for method, op in item.items():
            if method in {"get", "post", "patch", "put", "delete"}:
                operations.append(Operation(template, re.compile(regex), method.upper(), op))
    # literal segments win over parameters: /issues/comments/{id} before /issues/{number}/...
    operations.sort(key=lambda o: o.template.count("{"))
    return tuple(operations)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int
    authorization: str | None
    template: str | None = None


@dataclass
class GitHubDouble:
    spec_path: Path
    owner: str = "octo"
    repo: str = "doorbell"
    repository_id: int = 4242
    default_branch: str = "main"
    requests: list[Recorded] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> {issue, body}
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    blobs: dict[int, bytes] = field(default_factory=dict)
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    faults: dict[tuple[str, str], list[tuple[int, dict[str, Any], dict[str, str]] | None]] = field(
        default_factory=dict)
    after_faults: dict[tuple[str, str], list[str | int]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> the person it acts as
    app_tokens: set[str] = field(default_factory=set)  # tokens without the ghs_ prefix that are installation tokens
    graphql_down: bool = False
    _next_id: int = 100
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- lifecycle ---

    def start(self) -> str:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                double._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                double._handle(self, "POST")

            def do_PATCH(self) -> None:  # noqa: N802
                double._handle(self, "PATCH")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- test set-up helpers ---

    def fail(self, method: str, template: str, status: int, times: int = 1, message: str = "",
             headers: dict[str, str] | None = None, after: int = 0) -> None:
        """Answer ``times`` ``method template`` requests, after ``after`` normal ones, with ``status``."""
        body = {"message": message or f"injected {status}", "documentation_url": "https://docs.github.com/rest"}
        queue = self.faults.setdefault((method, template), [])
        queue.extend([None] * after)  # type: ignore[list-item]
        queue.extend([(status, body, headers or {})] * times)

    def fail_after(self, method: str, template: str, fault: str | int, times: int = 1) -> None:
        """Carry out the next ``times`` requests, then answer ``fault``: a status, "reset" or "hang" (3 s, none)."""
        self.after_faults.setdefault((method, template), []).extend([fault] * times)

    def identity_of(self, authorization: str | None) -> tuple[dict[str, Any] | None, bool]:
        """(account, is an installation) for an ``Authorization`` header, as GitHub resolves it."""
        token = (authorization or "").split(" ", 1)[-1]
        if not token:
            return None, False
        if token.startswith("ghs_") or token in self.app_tokens:
            return ACTIONS_BOT, True
        return self.users.get(token, PERSON), False

    def add_artifact(self, name: str, payload: bytes, *, branch: str | None = None,
                     head_repository_id: int | None = None, expired: bool = False,
                     created_at: str = "2026-11-20T10:00:00Z", conclusion: str = "success",
                     workflow_path: str = ".github/workflows/ci.yml") -> int:
        artifact_id = self._new_id()
        run_id = self._new_id()
        run = {"id": run_id, "repository_id": self.repository_id,
               "head_repository_id": self.repository_id if head_repository_id is None else head_repository_id,
               "head_branch": branch or self.default_branch, "head_sha": "a" * 40}
        self.runs[run_id] = {"id": run_id, "conclusion": conclusion, "status": "completed", "path": workflow_path}
        self.artifacts.append({
            "id": artifact_id, "node_id": "x", "name": name, "size_in_bytes": len(payload),
            "url": f"{self.url}/repos/{self.owner}/{self.repo}/actions/artifacts/{artifact_id}",
            "archive_download_url": f"{self.url}/repos/{self.owner}/{self.repo}/actions/artifacts/{artifact_id}/zip",
            "expired": expired, "created_at": created_at, "expires_at": "2099-01-01T00:00:00Z",
            "updated_at": created_at, "workflow_run": run,
        })
        self.blobs[artifact_id] = payload
        return artifact_id

    def requests_to(self, method: str, template: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.template == template]

    # --- request handling ---

    def _new_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parsed = urlparse(handler.path)
        query = parse_qs(parsed.query)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = "<not json>"
        record = Recorded(method, parsed.path, query, body, 0, handler.headers.get("Authorization"))
        with self._lock:
            self.requests.append(record)
        if parsed.path.startswith("/blob/"):
            self._send_raw(handler, record, self.blobs.get(int(parsed.path.rsplit("/", 1)[1]), b""))
            return
        if parsed.path == "/graphql" and method == "POST":
            self._graphql(handler, record, body)
            return
        operation, params = self._match(method, parsed.path)
        if operation is None:
            self._send(handler, record, 404, {"message": f"no such operation {method} {parsed.path}"})
            self.invalid.append(f"{method} {parsed.path}: not in the OpenAPI description")
            return
        record.template = operation.template
        problem = self._validate(operation, params, query, body)
        if problem:
            self.invalid.append(f"{method} {operation.template}: {problem}")
            self._send(handler, record, 422, {"message": f"Validation Failed: {problem}"})
            return
        faults = self.faults.get((method, operation.template))
        fault_now = faults.pop(0) if faults else None
        if fault_now is not None:
            status, fault_body, fault_headers = fault_now
            self._send(handler, record, status, fault_body, fault_headers)
            return
        status, answer, headers = self._respond(method, operation.template, params, query, body,
                                                record.authorization)
        after = self.after_faults.get((method, operation.template))
        if after and status < 400:
            fault = after.pop(0)
            record.status = -1
            if fault == "hang":
                time.sleep(3)
            if fault in ("hang", "reset"):
                handler.close_connection = True
                handler.connection.shutdown(2)  # socket.SHUT_RDWR: no answer at all
                return
            status, answer, headers = int(fault), {"message": f"injected {fault} after the fact"}, {}
        self._send(handler, record, status, answer, headers)

    def _graphql(self, handler: BaseHTTPRequestHandler, record: Recorded, body: Any) -> None:
        account, _ = self.identity_of(record.authorization)
        query = body.get("query", "") if isinstance(body, dict) else ""
        if self.graphql_down:
            self._send(handler, record, 502, {"message": "Bad Gateway"})
        elif account is None:
            self._send(handler, record, 401, {"message": "Bad credentials"})
        elif re.sub(r"\s+", " ", query).strip() != "query { viewer { login databaseId } }":
            self.invalid.append(f"POST /graphql: a query the double does not know: {query[:200]!r}")
            self._send(handler, record, 200, {"errors": [{"message": "unknown query"}]})
        else:
            self._send(handler, record, 200, {"data": {"viewer": {"login": account["login"],
                                                                  "databaseId": account["id"]}}})

    def _match(self, method: str, path: str) -> tuple[Operation | None, dict[str, str]]:
        for operation in _operations(str(self.spec_path)):
            if operation.method != method:
                continue
            found = operation.pattern.match(path)
            if found:
                names = re.findall(r"\{([^}]+)\}", operation.template)
                return operation, dict(zip(names, found.groups(), strict=True))
        return None, {}

    def _validate(self, operation: Operation, params: dict[str, str], query: dict[str, list[str]], body: Any) -> str:
        for parameter in operation.spec.get("parameters", []):
            where, name = parameter["in"], parameter["name"]
            kind = parameter.get("schema", {}).get("type")
            value = params.get(name) if where == "path" else (query.get(name) or [None])[0]
            if value is None:
                if parameter.get("required"):
                    return f"missing required {where} parameter {name}"
                continue
            if kind == "integer" and not re.fullmatch(r"-?\d+", value):
                return f"{where} parameter {name}={value!r} is not an integer"
            allowed = parameter.get("schema", {}).get("enum")
            if allowed and value not in allowed:
                return f"{where} parameter {name}={value!r} not one of {allowed}"
        request_body = operation.spec.get("requestBody")
        if request_body is None:
            return ""
        if body is None:
            return "missing request body" if request_body.get("required") else ""
        schema = request_body["content"].get("application/json", {}).get("schema")
        if schema is None:
            return ""
        errors = sorted(OAS30Validator(schema).iter_errors(body), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            return f"body {'/'.join(map(str, first.path)) or '(root)'}: {first.message[:300]}"
        return ""

    def _respond(self, method: str, template: str, params: dict[str, str], query: dict[str, list[str]],
                 body: Any, authorization: str | None = None) -> tuple[int, Any, dict[str, str]]:
        base = f"/repos/{self.owner}/{self.repo}"
        account, installation = self.identity_of(authorization)
        if (method, template) == ("GET", "/user"):
            if account is None:
                return 401, {"message": "Requires authentication"}, {}
            if installation:
                return 403, {"message": "Resource not accessible by integration"}, {}
            return 200, {**account, "node_id": "U", "url": f"{self.url}/users/{account['login']}"}, {}
        if (method, template) == ("GET", "/repos/{owner}/{repo}"):
            return 200, {"id": self.repository_id, "name": self.repo, "full_name": f"{self.owner}/{self.repo}",
                         "default_branch": self.default_branch, "url": f"{self.url}{base}"}, {}
        if (method, template) == ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments"):
            number = int(params["issue_number"])
            listed = [self._comment(cid, c) for cid, c in sorted(self.comments.items()) if c["issue"] == number]
            return 200, listed, {}
        if (method, template) == ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"):
            comment_id = self._new_id()
            self.comments[comment_id] = {"issue": int(params["issue_number"]), "body": body["body"],
                                         "user": account or PERSON}
            return 201, self._comment(comment_id, self.comments[comment_id]), {}
        if (method, template) == ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}"):
            comment = self.comments[int(params["comment_id"])]
            comment["body"] = body["body"]
            return 200, self._comment(int(params["comment_id"]), comment), {}
        if (method, template) == ("POST", "/repos/{owner}/{repo}/check-runs"):
            check_id = self._new_id()
            self.check_runs[check_id] = {"create": body, "updates": []}
            return 201, self._check(check_id), {}
        if (method, template) == ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}"):
            self.check_runs[int(params["check_run_id"])]["updates"].append(body)
            return 200, self._check(int(params["check_run_id"])), {}
        if (method, template) == ("GET", "/repos/{owner}/{repo}/actions/artifacts"):
            names = query.get("name")
            listed = [a for a in self.artifacts if not names or a["name"] == names[0]]
            return 200, {"total_count": len(listed), "artifacts": listed}, {}
        if (method, template) == ("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}"):
            return 200, self.runs[int(params["run_id"])], {}
        if (method, template) == ("GET", "/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}"):
            return 302, None, {"Location": f"{self.url}/blob/{params['artifact_id']}"}
        return 404, {"message": "the double does not implement this operation"}, {}

    def _comment(self, comment_id: int, comment: dict[str, Any]) -> dict[str, Any]:
        return {"id": comment_id, "node_id": "c", "body": comment["body"],
                "url": f"{self.url}/repos/{self.owner}/{self.repo}/issues/comments/{comment_id}",
                "html_url": f"https://github.com/{self.owner}/{self.repo}/pull/1#issuecomment-{comment_id}",
                "user": comment.get("user") or ACTIONS_BOT}

    def _check(self, check_id: int) -> dict[str, Any]:
        return {"id": check_id, "name": self.check_runs[check_id]["create"].get("name"),
                "url": f"{self.url}/repos/{self.owner}/{self.repo}/check-runs/{check_id}",
                "html_url": f"https://github.com/{self.owner}/{self.repo}/runs/{check_id}"}

    def _send(self, handler: BaseHTTPRequestHandler, record: Recorded, status: int, body: Any,
              headers: dict[str, str] | None = None) -> None:
        record.status = status
        data = b"" if body is None else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _send_raw(self, handler: BaseHTTPRequestHandler, record: Recorded, data: bytes) -> None:
        record.status = 200
        handler.send_response(200)
        handler.send_header("Content-Type", "application/zip")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return buffer.getvalue()
