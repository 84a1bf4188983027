"""Notifications: what the owner's phone says, and getting it there despite flaky networks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from doorbell.events import Event, EventType
from doorbell.faces import MatchResult, MatchStatus

log = logging.getLogger(__name__)


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


@dataclass(frozen=True)
class Notification:
    title: str
    body: str
    priority: Priority
    event_type: EventType


class NotificationError(Exception):
    """A transient delivery failure (timeout, HTTP 5xx): worth retrying."""


class Sender(Protocol):
    name: str

    def send(self, notification: Notification) -> None: ...


def format_notification(event: Event, result: MatchResult | None = None) -> Notification:
    """Turn an event (plus the face verdict, if any) into a short, phone-sized message."""
    when = datetime.fromtimestamp(event.timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if result is not None and result.status is MatchStatus.BLACKLISTED:
        return Notification(
            f"ALERT: {result.name} is at the door",
            f"Blacklisted person detected at {when} (distance {result.distance:.2f}).",
            Priority.HIGH,
            EventType.BLACKLIST_ALERT,
        )
    if result is not None and result.status is MatchStatus.KNOWN:
        return Notification(
            f"{result.name} is at the door",
            f"Recognised at {when}.",
            Priority.NORMAL,
            EventType.FACE_RECOGNISED,
        )
    if event.type is EventType.MOTION:
        score = float(event.data.get("score", 0.0))
        return Notification(
            "Motion at the door", f"Motion score {score:.2f} at {when}.", Priority.LOW, event.type
        )
    if result is not None:
        return Notification(
            "Unknown visitor at the door",
            f"Someone rang at {when}.",
            Priority.NORMAL,
            EventType.UNKNOWN_VISITOR,
        )
    return Notification("Doorbell", f"Someone rang at {when}.", Priority.NORMAL, event.type)


class MemorySender:
    """Keeps notifications in a list; can fail its first ``fail_times`` sends to mimic a bad network."""

    def __init__(self, name: str = "memory", fail_times: int = 0, error: Exception | None = None) -> None:
        self.name = name
        self.sent: list[Notification] = []
        self.attempts = 0
        self._fail_times = fail_times
        self._error = error

    def send(self, notification: Notification) -> None:
        self.attempts += 1
        if self.attempts <= self._fail_times:
            raise self._error or NotificationError(f"{self.name}: temporary failure #{self.attempts}")
        self.sent.append(notification)


@dataclass(frozen=True)
class Delivery:
    sender: str
    delivered: bool
    attempts: int
    error: str | None = None


class Dispatcher:
    """Sends each notification through every sender, retrying transient failures with back-off."""

    def __init__(
        self,
        senders: Sequence[Sender],
        retries: int = 2,
        backoff_s: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.senders = list(senders)
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep

    def dispatch(self, notification: Notification) -> list[Delivery]:
        """One Delivery per sender; a sender that keeps failing does not stop the others."""
        return [self._deliver(sender, notification) for sender in self.senders]

    def _deliver(self, sender: Sender, notification: Notification) -> Delivery:
        attempts = 0
        while True:
            attempts += 1
            try:
                sender.send(notification)
            except NotificationError as exc:
                if attempts > self.retries:
                    log.warning("giving up on %s after %d attempts: %s", sender.name, attempts, exc)
                    return Delivery(sender.name, False, attempts, str(exc))
                self._sleep(self.backoff_s * attempts)
            except Exception as exc:  # a bug in the sender: retrying would not help
                log.exception("sender %s failed", sender.name)
                return Delivery(sender.name, False, attempts, f"{type(exc).__name__}: {exc}")
            else:
                return Delivery(sender.name, True, attempts)
