"""SQLite event log and snapshot files.

The doorbell keeps a local history so the owner can see who came by even when the network was
down. Values always travel as query parameters, never as SQL text, and snapshot names are
validated before they become paths.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doorbell.events import Event, EventType
from doorbell.faces import InvalidNameError, validate_name

MAX_QUERY_LIMIT = 1000

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    timestamp REAL NOT NULL,
    visitor TEXT,
    payload TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS idx_events_type ON events (type);
"""


@dataclass(frozen=True)
class StoredEvent:
    id: int
    type: EventType
    timestamp: float
    visitor: str | None
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": str(self.type),
            "timestamp": self.timestamp,
            "visitor": self.visitor,
            "data": self.data,
        }


class EventStore:
    """One SQLite database shared by the bus, camera and web threads (hence the lock)."""

    def __init__(self, path: str | Path, snapshots_dir: Path | None = None) -> None:
        self.path = path if path == ":memory:" else Path(path)
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.snapshots_dir = Path(snapshots_dir) if snapshots_dir is not None else None
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False)
        # WAL + NORMAL: a doorbell press is committed without an fsync per row, which keeps the
        # SD card alive on the Pi and lets readers (the web page) run while the bus writes.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def insert(self, event: Event) -> int:
        """Store one event; returns its row id."""
        row = _row(event)
        with self._lock, self._db:
            cursor = self._db.execute(
                "INSERT INTO events (type, timestamp, visitor, payload) VALUES (?, ?, ?, ?)", row
            )
        return int(cursor.lastrowid or 0)

    def insert_many(self, events: Iterable[Event]) -> int:
        """Bulk insert in one transaction (used when replaying a backlog)."""
        rows = [_row(event) for event in events]
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO events (type, timestamp, visitor, payload) VALUES (?, ?, ?, ?)", rows
            )
        return len(rows)

    def recent(self, limit: int = 50, event_type: str | None = None) -> list[StoredEvent]:
        """Newest first. ``event_type`` is checked against EventType, so free text never reaches SQL."""
        limit = validate_limit(limit)
        query = "SELECT id, type, timestamp, visitor, payload FROM events"
        params: list[Any] = []
        if event_type is not None:
            query += " WHERE type = ?"
            params.append(str(parse_event_type(event_type)))
        query += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [StoredEvent(r[0], EventType(r[1]), r[2], r[3], json.loads(r[4])) for r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def count_by_type(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT type, COUNT(*) FROM events GROUP BY type ORDER BY type"
            ).fetchall()
        return {str(t): int(n) for t, n in rows}

    def table_names(self) -> list[str]:
        """Lets tests prove that injected SQL did not create or drop anything."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            ).fetchall()
        return [r[0] for r in rows]

    def save_snapshot(self, name: str, data: bytes) -> Path:
        """Write a camera snapshot as ``<name>.jpg`` inside the snapshots folder, never elsewhere."""
        if self.snapshots_dir is None:
            raise RuntimeError("this store has no snapshots folder")
        root = self.snapshots_dir.resolve()
        path = self.snapshots_dir / f"{validate_name(name)}.jpg"
        if path.resolve().parent != root:
            raise InvalidNameError(f"invalid snapshot name {name!r}: resolves outside {self.snapshots_dir}")
        self.snapshots_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path


def validate_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_QUERY_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_QUERY_LIMIT}, got {limit!r}")
    return limit


def parse_event_type(value: str) -> EventType:
    try:
        return EventType(value)
    except ValueError:
        raise ValueError(f"unknown event type {value!r}") from None


def _row(event: Event) -> tuple[str, float, str | None, str]:
    return (str(event.type), event.timestamp, event.visitor, json.dumps(dict(event.data), sort_keys=True))
