"""Doorbell events and the in-process event bus.

Everything the doorbell notices (a press, motion, a face verdict) becomes an Event on the bus;
storage and notifications are just subscribers, so a slow or broken one never stops the rest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

log = logging.getLogger(__name__)


class EventType(StrEnum):
    DOORBELL_PRESS = "doorbell_press"
    MOTION = "motion"
    FACE_RECOGNISED = "face_recognised"
    UNKNOWN_VISITOR = "unknown_visitor"
    BLACKLIST_ALERT = "blacklist_alert"


@dataclass(frozen=True)
class Event:
    """One thing that happened at the door; ``data`` must stay JSON-serialisable for storage."""

    type: EventType
    data: Mapping[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)

    @property
    def visitor(self) -> str | None:
        value = self.data.get("visitor")
        return value if isinstance(value, str) else None

    def to_dict(self) -> dict[str, Any]:
        return {"type": str(self.type), "timestamp": self.timestamp, "data": dict(self.data)}


def doorbell_pressed(source: str = "button", **data: Any) -> Event:
    return Event(EventType.DOORBELL_PRESS, {"source": source, **data})


def motion_detected(score: float, frame: int) -> Event:
    return Event(EventType.MOTION, {"score": round(score, 4), "frame": frame})


Handler = Callable[[Event], None]


class EventBus:
    """Synchronous publish/subscribe, safe to use from the GPIO, camera and web threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: list[tuple[EventType | None, Handler]] = []
        self.errors: list[tuple[Event, Exception]] = []

    def subscribe(self, handler: Handler, event_type: EventType | None = None) -> Callable[[], None]:
        """Register ``handler`` for one type (or all when None); returns a function that unsubscribes."""
        entry = (event_type, handler)
        with self._lock:
            self._handlers.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._handlers:
                    self._handlers.remove(entry)

        return unsubscribe

    def publish(self, event: Event) -> int:
        """Deliver to every matching handler, in subscription order; returns how many ran cleanly.

        A failing handler is logged and kept in ``errors`` instead of propagating: one broken
        notifier must not prevent the press from being stored.
        """
        with self._lock:
            handlers = [h for t, h in self._handlers if t is None or t == event.type]
        delivered = 0
        for handler in handlers:
            try:
                handler(event)
            except Exception as exc:
                log.exception("event handler %r failed for %s", handler, event.type)
                with self._lock:
                    self.errors.append((event, exc))
            else:
                delivered += 1
        return delivered
