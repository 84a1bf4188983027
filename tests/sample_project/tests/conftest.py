"""Shared fixtures. Everything that touches disk lives under tmp_path, so any order and any
number of xdist workers is safe; nothing reads DOORBELL_CONFIG unless a test sets it itself."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from doorbell.app import DoorbellSystem
from doorbell.config import Config
from doorbell.faces import FaceDatabase, encoding_from_seed
from doorbell.notify import Dispatcher, MemorySender
from doorbell.storage import EventStore
from doorbell.web import StatusServer

HttpJson = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config.rooted_at(tmp_path)


@pytest.fixture
def store(config: Config) -> Iterator[EventStore]:
    with EventStore(config.database_path, snapshots_dir=config.database_path.parent / "snapshots") as db:
        yield db


@pytest.fixture
def sender() -> MemorySender:
    return MemorySender("phone")


@pytest.fixture
def faces() -> FaceDatabase:
    """Two residents and one person the owner never wants to let in."""
    return FaceDatabase(
        known={"alice": encoding_from_seed("alice"), "bob": encoding_from_seed("bob")},
        blacklist={"mallory": encoding_from_seed("mallory")},
    )


@pytest.fixture
def system(config: Config, store: EventStore, sender: MemorySender, faces: FaceDatabase) -> DoorbellSystem:
    return DoorbellSystem(config, store, dispatcher=Dispatcher([sender]), faces=faces)


@pytest.fixture
def server(system: DoorbellSystem) -> Iterator[StatusServer]:
    """The status endpoint on 127.0.0.1 and a port the OS picks."""
    with StatusServer(system, port=0) as running:
        yield running


@pytest.fixture
def http_json() -> HttpJson:
    """GET (or POST when ``body`` is given) over loopback; returns (status, parsed JSON)."""

    def call(url: str, body: dict[str, Any] | bytes | None = None) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            with err:
                return err.code, json.loads(err.read())

    return call
