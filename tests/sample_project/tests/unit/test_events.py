"""Event bus behaviour the rest of the doorbell relies on."""

from __future__ import annotations

import json

from doorbell.events import Event, EventBus, EventType, doorbell_pressed, motion_detected


def test_subscriber_receives_published_event() -> None:
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    event = doorbell_pressed("button")
    assert bus.publish(event) == 1
    assert seen == [event]


def test_typed_subscription_ignores_other_types() -> None:
    bus = EventBus()
    presses: list[Event] = []
    bus.subscribe(presses.append, EventType.DOORBELL_PRESS)
    bus.publish(motion_detected(0.2, frame=3))
    bus.publish(doorbell_pressed())
    assert [e.type for e in presses] == [EventType.DOORBELL_PRESS]


def test_unsubscribe_stops_delivery() -> None:
    bus = EventBus()
    seen: list[Event] = []
    unsubscribe = bus.subscribe(seen.append)
    bus.publish(doorbell_pressed())
    unsubscribe()
    unsubscribe()  # idempotent: shutdown paths may call it twice
    bus.publish(doorbell_pressed())
    assert len(seen) == 1


def test_failing_handler_does_not_block_later_handlers() -> None:
    bus = EventBus()
    seen: list[Event] = []

    def broken(_event: Event) -> None:
        raise RuntimeError("notifier crashed")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    event = doorbell_pressed()
    assert bus.publish(event) == 1
    assert seen == [event]
    assert [(e, str(exc)) for e, exc in bus.errors] == [(event, "notifier crashed")]


def test_event_dict_is_json_ready() -> None:
    event = Event(EventType.FACE_RECOGNISED, {"visitor": "alice"}, timestamp=1700000000.0)
    assert json.loads(json.dumps(event.to_dict())) == {
        "type": "face_recognised",
        "timestamp": 1700000000.0,
        "data": {"visitor": "alice"},
    }
    assert event.visitor == "alice"
