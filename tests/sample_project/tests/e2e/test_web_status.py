"""End to end: the status server on loopback, a ring, and what the owner's dashboard then sees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from doorbell.app import DoorbellSystem
from doorbell.faces import encoding_from_seed
from doorbell.gpio import MockGPIO
from doorbell.notify import MemorySender
from doorbell.web import StatusServer

HttpJson = Callable[..., tuple[int, dict[str, Any]]]


def test_health_reports_ok(server: StatusServer, http_json: HttpJson) -> None:
    status, body = http_json(f"{server.url}/health")
    assert status == 200
    assert body["status"] == "ok" and body["events"] == 0
    assert server.url.startswith("http://127.0.0.1:") and server.port > 0


def test_button_ring_shows_up_in_events(
    server: StatusServer, system: DoorbellSystem, http_json: HttpJson
) -> None:
    gpio = MockGPIO()
    system.attach_button(gpio)
    gpio.press()
    status, body = http_json(f"{server.url}/events")
    assert status == 200
    assert [(e["type"], e["data"]) for e in body["events"]] == [("doorbell_press", {"source": "button"})]


def test_ring_over_http_recognises_visitor(
    server: StatusServer, sender: MemorySender, http_json: HttpJson
) -> None:
    status, body = http_json(f"{server.url}/ring", {"encoding": list(encoding_from_seed("alice"))})
    assert status == 201
    assert body["verdict"]["data"]["visitor"] == "alice" and body["notified"] == 1
    assert sender.sent[0].title == "alice is at the door"
    _, events = http_json(f"{server.url}/events?type=face_recognised")
    assert [e["visitor"] for e in events["events"]] == ["alice"]


def test_events_limit_and_health_count(
    server: StatusServer, system: DoorbellSystem, http_json: HttpJson
) -> None:
    for _ in range(5):
        system.ring()
    _, body = http_json(f"{server.url}/events?limit=2")
    assert [e["id"] for e in body["events"]] == [5, 4]
    _, health = http_json(f"{server.url}/health")
    assert health["events"] == 5


def test_unknown_route_is_a_json_404(server: StatusServer, http_json: HttpJson) -> None:
    assert http_json(f"{server.url}/admin")[0] == 404
    assert http_json(f"{server.url}/open-door", {"now": True}) == (404, {"error": "no such route"})
