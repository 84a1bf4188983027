"""Streaming: frames from the mock camera through motion detection onto the bus and into storage."""

from __future__ import annotations

from doorbell.app import DoorbellSystem
from doorbell.camera import MockCamera, MotionDetector, watch_stream
from doorbell.events import Event, EventBus, EventType
from doorbell.storage import EventStore


def test_stream_yields_requested_frames() -> None:
    camera = MockCamera(seed=1)
    frames = list(camera.stream(12))
    assert len(frames) == 12
    assert {len(f) for f in frames} == {camera.width * camera.height}
    assert frames[0] != frames[1]  # sensor noise differs from frame to frame


def test_static_scene_never_triggers_motion() -> None:
    camera = MockCamera(seed=2)
    detector = MotionDetector(camera.width, camera.height)
    assert watch_stream(camera.stream(40), detector) == []
    assert detector.frames_seen == 40


def test_motion_frames_publish_motion_events() -> None:
    camera = MockCamera(seed=3, motion_frames={5, 6, 7, 20})
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append, EventType.MOTION)
    moving = watch_stream(camera.stream(30), MotionDetector(camera.width, camera.height, bus=bus))
    assert moving == [5, 6, 7, 20]
    assert [e.data["frame"] for e in seen] == moving
    assert all(e.data["score"] >= 0.01 for e in seen)


def test_motion_is_stored_alongside_presses(system: DoorbellSystem, store: EventStore) -> None:
    camera = MockCamera(seed=4, motion_frames=range(8, 11))
    detector = MotionDetector(camera.width, camera.height, bus=system.bus)
    for index, frame in enumerate(camera.stream(16)):
        detector.feed(frame)
        if index == 9:
            system.ring()
    assert store.count_by_type() == {"doorbell_press": 1, "motion": 3}
    assert [e.data["frame"] for e in store.recent(event_type="motion")] == [10, 9, 8]


def test_streams_are_reproducible() -> None:
    first = list(MockCamera(seed=5, motion_frames={2}).stream(4))
    again = list(MockCamera(seed=5, motion_frames={2}).stream(4))
    other = list(MockCamera(seed=6, motion_frames={2}).stream(4))
    assert first == again
    assert first != other


def test_motion_frame_is_saved_as_snapshot(store: EventStore) -> None:
    camera = MockCamera(seed=8, motion_frames={3})
    detector = MotionDetector(camera.width, camera.height)
    saved = [
        store.save_snapshot(f"motion-{index:04d}", frame)
        for index, frame in enumerate(camera.stream(6))
        if detector.feed(frame)
    ]
    assert [p.name for p in saved] == ["motion-0003.jpg"]
    assert saved[0].read_bytes() == camera.capture(3)
