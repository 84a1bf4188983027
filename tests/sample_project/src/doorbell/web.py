"""A tiny status endpoint for the doorbell (what the owner's dashboard polls).

Binds to loopback on an ephemeral port by default: tests never fight over ports and the
service is never exposed by accident. Routes: GET /health, GET /events, POST /ring.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from doorbell.app import DoorbellSystem

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4096
MAX_ENCODING_DIMS = 128


class StatusServer:
    """Runs the HTTP server in a daemon thread; use as a context manager or start()/stop()."""

    def __init__(self, system: DoorbellSystem, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("BoundHandler", (_Handler,), {"system": system, "started": time.monotonic()})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._httpd.server_address[0]}:{self.port}"

    def start(self) -> StatusServer:
        # A short poll interval keeps stop() quick; shutdown() waits for the loop's next poll.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="doorbell-web", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> StatusServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    system: DoorbellSystem
    started: float
    server_version = "DoorbellStatus/0.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/health":
            uptime = round(time.monotonic() - self.started, 3)
            self._json(
                HTTPStatus.OK, {"status": "ok", "events": self.system.store.count(), "uptime_s": uptime}
            )
        elif url.path == "/events":
            query = parse_qs(url.query, keep_blank_values=True)
            try:
                limit = int(query.get("limit", ["50"])[-1])
                events = self.system.store.recent(limit, query.get("type", [None])[-1])
            except ValueError as exc:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return
            self._json(HTTPStatus.OK, {"events": [event.to_dict() for event in events]})
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no route for {url.path}"})

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/ring":
            self._json(HTTPStatus.NOT_FOUND, {"error": "no such route"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "bad Content-Length"})
            return
        if length < 0 or length > MAX_BODY_BYTES:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"body over {MAX_BODY_BYTES} bytes"})
            return
        try:
            encoding = _parse_ring_body(self.rfile.read(length) if length else b"")
        except ValueError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        outcome = self.system.ring(encoding, source="web")
        self._json(
            HTTPStatus.CREATED,
            {
                "ring": outcome.press.to_dict(),
                "verdict": outcome.verdict.to_dict() if outcome.verdict else None,
                "notified": sum(1 for d in outcome.deliveries if d.delivered),
            },
        )

    def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _parse_ring_body(body: bytes) -> tuple[float, ...] | None:
    """An optional ``{"encoding": [...]}``: the face the door camera saw, if any."""
    if not body.strip():
        return None
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    values = document.get("encoding") if isinstance(document, dict) else None
    if values is None:
        return None
    if (
        not isinstance(values, list)
        or not 0 < len(values) <= MAX_ENCODING_DIMS
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    ):
        raise ValueError(f"'encoding' must be a list of 1 to {MAX_ENCODING_DIMS} numbers")
    return tuple(float(v) for v in values)
