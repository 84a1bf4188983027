"""Load: a burst of presses (a stuck button, a prankster) must all be logged, and quickly."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from doorbell.app import DoorbellSystem
from doorbell.notify import MemorySender
from doorbell.storage import EventStore

RINGS = 2000


def test_2000_rings_are_all_stored(system: DoorbellSystem, store: EventStore, sender: MemorySender) -> None:
    started = time.perf_counter()
    for _ in range(RINGS):
        system.ring()
    elapsed = time.perf_counter() - started
    assert store.count_by_type() == {"doorbell_press": RINGS}
    assert len(sender.sent) == RINGS
    assert elapsed < 2.0, f"{RINGS} rings took {elapsed:.2f} s"


def test_rings_from_several_threads_are_all_stored(system: DoorbellSystem, store: EventStore) -> None:
    """GPIO, web and camera threads ring concurrently on the Pi; no press may be lost."""
    per_thread, threads = 250, 4

    def burst(_: int) -> None:
        for _ in range(per_thread):
            system.ring(source="web")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(burst, range(threads)))
    assert store.count() == per_thread * threads
    ids = [event.id for event in store.recent(limit=1000)]
    assert len(set(ids)) == per_thread * threads
    assert system.bus.errors == []
