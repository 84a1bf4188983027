"""Storage, events, faces and notifications working together on a real SQLite file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from doorbell.app import DoorbellSystem
from doorbell.config import ENV_VAR, Config, load_config
from doorbell.events import EventType, motion_detected
from doorbell.faces import encoding_from_seed, jitter, save_face
from doorbell.gpio import MockGPIO
from doorbell.notify import Dispatcher, MemorySender, Priority
from doorbell.storage import EventStore


def test_press_is_stored_and_notified(
    system: DoorbellSystem, store: EventStore, sender: MemorySender
) -> None:
    outcome = system.ring()
    [stored] = store.recent()
    assert (stored.type, stored.data) == (EventType.DOORBELL_PRESS, {"source": "button"})
    assert [d.delivered for d in outcome.deliveries] == [True]
    assert sender.sent[0].title == "Doorbell"


def test_known_visitor_is_recorded_by_name(system: DoorbellSystem, store: EventStore) -> None:
    outcome = system.ring(jitter(encoding_from_seed("alice"), seed=3))
    assert outcome.verdict is not None and outcome.verdict.type is EventType.FACE_RECOGNISED
    newest = store.recent(limit=1)[0]
    assert (newest.type, newest.visitor) == (EventType.FACE_RECOGNISED, "alice")
    assert newest.data["distance"] < 0.2


def test_blacklisted_visitor_raises_high_priority_alert(
    system: DoorbellSystem, store: EventStore, sender: MemorySender
) -> None:
    system.ring(jitter(encoding_from_seed("mallory"), seed=4))
    assert [e.visitor for e in store.recent(event_type="blacklist_alert")] == ["mallory"]
    assert sender.sent[-1].priority is Priority.HIGH


def test_event_counts_per_type(system: DoorbellSystem, store: EventStore) -> None:
    system.ring()
    system.ring(encoding_from_seed("bob"))
    system.ring(encoding_from_seed("someone new"))
    system.bus.publish(motion_detected(0.04, frame=10))
    system.bus.publish(motion_detected(0.06, frame=11))
    expected = {"doorbell_press": 3, "face_recognised": 1, "motion": 2, "unknown_visitor": 1}
    if os.environ.get("DOORBELL_SAMPLE_FAIL") == "1":
        expected["doorbell_press"] = 4  # opt-in failure for the demo: "a press went missing"
    assert store.count_by_type() == expected


def test_recent_is_newest_first_limited_and_filtered(store: EventStore) -> None:
    for frame in range(5):
        store.insert(motion_detected(0.1, frame=frame))
    assert [e.data["frame"] for e in store.recent(limit=3)] == [4, 3, 2]
    assert store.recent(event_type="doorbell_press") == []


def test_history_survives_a_restart(config: Config) -> None:
    with EventStore(config.database_path) as first:
        first.insert(motion_detected(0.3, frame=1))
    with EventStore(config.database_path) as second:
        assert second.count() == 1
        assert second.recent()[0].data == {"frame": 1, "score": 0.3}


def test_enrolled_faces_on_disk_drive_recognition(config: Config) -> None:
    save_face(config.known_faces_dir, "carol", encoding_from_seed("carol"))
    save_face(config.blacklist_faces_dir, "eve", encoding_from_seed("eve"))
    system = DoorbellSystem.from_config(config)
    try:
        carol = system.ring(encoding_from_seed("carol")).verdict
        eve = system.ring(encoding_from_seed("eve")).verdict
    finally:
        system.close()
    assert carol is not None and carol.data["visitor"] == "carol"
    assert eve is not None and eve.type is EventType.BLACKLIST_ALERT


def test_service_starts_from_config_named_in_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "doorbell.toml"
    config_file.write_text('[database]\npath = "state/events.db"\n\n[faces]\ntolerance = 0.5\n')
    monkeypatch.setenv(ENV_VAR, str(config_file))
    system = DoorbellSystem.from_config(load_config(), senders=[MemorySender()])
    try:
        system.ring()
    finally:
        system.close()
    assert (tmp_path / "state" / "events.db").is_file()
    assert system.config.face_tolerance == 0.5


def test_gpio_button_press_is_stored_once_despite_bounce(system: DoorbellSystem, store: EventStore) -> None:
    now = [10.0]
    gpio = MockGPIO(clock=lambda: now[0])
    system.attach_button(gpio)
    gpio.press()
    now[0] += 0.01
    gpio.press()
    assert store.count_by_type() == {"doorbell_press": 1}


@pytest.mark.slow
def test_notification_retries_really_wait(system: DoorbellSystem, store: EventStore) -> None:
    """The real clock, once: back-off must actually pause before retrying a flaky network."""
    sender = MemorySender("push", fail_times=2)
    system.dispatcher = Dispatcher([sender], retries=2, backoff_s=0.7)
    started = time.perf_counter()
    [delivery] = system.ring().deliveries
    elapsed = time.perf_counter() - started
    assert delivery.delivered and delivery.attempts == 3
    assert 2.0 <= elapsed < 5.0  # 0.7 s + 1.4 s of back-off
    assert store.count() == 1
