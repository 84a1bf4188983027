"""Notification wording and the retrying dispatcher."""

from __future__ import annotations

from doorbell.events import Event, EventType, doorbell_pressed, motion_detected
from doorbell.faces import FaceDatabase, MatchResult, MatchStatus, encoding_from_seed, match
from doorbell.notify import (
    Dispatcher,
    MemorySender,
    Priority,
    format_notification,
)

PRESS = Event(EventType.DOORBELL_PRESS, {"source": "button"}, timestamp=0.0)


def test_blacklisted_visitor_is_a_high_priority_alert() -> None:
    result = MatchResult(MatchStatus.BLACKLISTED, "mallory", 0.12)
    note = format_notification(PRESS, result)
    assert note.priority is Priority.HIGH
    assert note.event_type is EventType.BLACKLIST_ALERT
    assert "mallory" in note.title
    assert "1970-01-01 00:00:00 UTC" in note.body


def test_recognised_visitor_notification_names_them(faces: FaceDatabase, configured_tolerance: float) -> None:
    hit = match(encoding_from_seed("bob"), faces.known, tolerance=configured_tolerance)
    assert hit is not None
    note = format_notification(PRESS, MatchResult(MatchStatus.KNOWN, *hit))
    assert note.title == "bob is at the door"
    assert note.priority is Priority.NORMAL


def test_motion_and_plain_presses_have_their_own_wording() -> None:
    assert format_notification(motion_detected(0.25, frame=1)).priority is Priority.LOW
    assert format_notification(doorbell_pressed()).title == "Doorbell"
    unknown = format_notification(PRESS, MatchResult(MatchStatus.UNKNOWN))
    assert unknown.title == "Unknown visitor at the door"


def test_dispatcher_retries_transient_failures() -> None:
    naps: list[float] = []
    sender = MemorySender("push", fail_times=2)
    [delivery] = Dispatcher([sender], retries=2, backoff_s=0.5, sleep=naps.append).dispatch(
        format_notification(PRESS)
    )
    assert (delivery.delivered, delivery.attempts) == (True, 3)
    assert naps == [0.5, 1.0]  # linear back-off
    assert len(sender.sent) == 1


def test_one_dead_sender_does_not_stop_the_others() -> None:
    dead = MemorySender("sms", fail_times=99)
    buggy = MemorySender("email", fail_times=1, error=KeyError("smtp_host"))
    ok = MemorySender("push")
    deliveries = Dispatcher([dead, buggy, ok], retries=1, sleep=lambda _s: None).dispatch(
        format_notification(PRESS)
    )
    assert [(d.sender, d.delivered, d.attempts) for d in deliveries] == [
        ("sms", False, 2),
        ("email", False, 1),  # a bug, not a network blip: no retry
        ("push", True, 1),
    ]
    assert deliveries[1].error == "KeyError: 'smtp_host'"
