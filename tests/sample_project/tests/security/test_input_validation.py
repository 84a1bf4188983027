"""Hostile input: names that try to leave their folder, SQL in data, junk over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from doorbell.events import Event, EventType
from doorbell.faces import InvalidNameError, encoding_from_seed, face_path, load_faces_dir, save_face
from doorbell.storage import EventStore
from doorbell.web import MAX_BODY_BYTES, StatusServer

HttpJson = Callable[..., tuple[int, dict[str, Any]]]

TRAVERSAL_NAMES = [
    "../../etc/passwd",
    "..",
    "snapshots/../../escape",
    "/etc/shadow",
    "..\\..\\windows\\win.ini",
    "alice\x00.jpg",
]

SQL_PAYLOADS = [
    "Robert'); DROP TABLE events;--",
    "' OR '1'='1",
    'x"; DELETE FROM events; --',
]


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", TRAVERSAL_NAMES)
def test_snapshot_name_cannot_escape_folder(store: EventStore, tmp_path: Path, name: str) -> None:
    before = files_under(tmp_path)
    with pytest.raises(InvalidNameError):
        store.save_snapshot(name, b"\xff\xd8 not really a jpeg")
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("name", TRAVERSAL_NAMES)
def test_face_name_cannot_escape_folder(tmp_path: Path, name: str) -> None:
    faces_dir = tmp_path / "faces" / "known"
    with pytest.raises(InvalidNameError):
        save_face(faces_dir, name, encoding_from_seed("intruder"))
    assert files_under(tmp_path) == set()


def test_face_loader_refuses_symlink_out_of_folder(tmp_path: Path) -> None:
    outside = tmp_path / "secret.json"
    outside.write_text(json.dumps({"encoding": [0.1, 0.2]}))
    faces_dir = tmp_path / "known"
    save_face(faces_dir, "alice", encoding_from_seed("alice"))
    (faces_dir / "bob.json").symlink_to(outside)
    with pytest.raises(InvalidNameError, match="regular files"):
        load_faces_dir(faces_dir)


def test_face_loader_refuses_odd_file_names(tmp_path: Path) -> None:
    save_face(tmp_path, "alice", encoding_from_seed("alice"))
    (tmp_path / "...json").write_text(json.dumps({"encoding": [0.5]}))
    with pytest.raises(InvalidNameError, match="invalid face name '..'"):
        load_faces_dir(tmp_path)
    assert face_path(tmp_path, "alice") == tmp_path / "alice.json"


@pytest.mark.parametrize("payload", SQL_PAYLOADS)
def test_sql_in_visitor_names_is_stored_as_data(store: EventStore, payload: str) -> None:
    store.insert(Event(EventType.DOORBELL_PRESS, {"source": "button"}))
    store.insert(Event(EventType.FACE_RECOGNISED, {"visitor": payload}))
    assert store.count() == 2
    assert store.recent(limit=1)[0].visitor == payload
    assert store.table_names() == ["events", "sqlite_sequence"]


def test_event_type_filter_rejects_sql(store: EventStore) -> None:
    store.insert(Event(EventType.MOTION, {"score": 0.5}))
    with pytest.raises(ValueError, match="unknown event type"):
        store.recent(event_type="motion' OR '1'='1")
    with pytest.raises(ValueError, match="limit must be"):
        store.recent(limit=10**9)


def test_web_rejects_bad_query_parameters(server: StatusServer, http_json: HttpJson) -> None:
    for query in ("limit=1;DROP%20TABLE%20events", "limit=-1", "type=motion'--"):
        status, body = http_json(f"{server.url}/events?{query}")
        assert status == 400, query
        assert "error" in body
    assert http_json(f"{server.url}/health")[1]["events"] == 0


def test_web_rejects_oversized_or_malformed_ring_bodies(server: StatusServer, http_json: HttpJson) -> None:
    assert http_json(f"{server.url}/ring", b"x" * (MAX_BODY_BYTES + 1))[0] == 413
    assert http_json(f"{server.url}/ring", b"{not json")[0] == 400
    assert http_json(f"{server.url}/ring", {"encoding": ["a", "b"]})[0] == 400
    assert http_json(f"{server.url}/health")[1]["events"] == 0
