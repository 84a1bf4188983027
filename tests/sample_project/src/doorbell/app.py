"""Wires the pieces together the way the Pi service does: bus -> storage, face check, notifications."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from doorbell.config import Config
from doorbell.events import Event, EventBus, EventType, doorbell_pressed
from doorbell.faces import Encoding, FaceDatabase, MatchResult, MatchStatus
from doorbell.gpio import BUTTON_PIN, Edge, MockGPIO, PinMode
from doorbell.notify import Delivery, Dispatcher, Sender, format_notification
from doorbell.storage import EventStore

_VERDICT_TYPES = {
    MatchStatus.KNOWN: EventType.FACE_RECOGNISED,
    MatchStatus.BLACKLISTED: EventType.BLACKLIST_ALERT,
    MatchStatus.UNKNOWN: EventType.UNKNOWN_VISITOR,
}


@dataclass(frozen=True)
class RingOutcome:
    """Everything one press produced, so callers (and tests) need not dig through the bus."""

    press: Event
    verdict: Event | None
    deliveries: list[Delivery]


class DoorbellSystem:
    """The doorbell service. Every event on the bus is stored; presses also notify the owner."""

    def __init__(
        self,
        config: Config,
        store: EventStore,
        *,
        bus: EventBus | None = None,
        dispatcher: Dispatcher | None = None,
        faces: FaceDatabase | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.bus = bus if bus is not None else EventBus()
        self.dispatcher = dispatcher if dispatcher is not None else Dispatcher([])
        self.faces = faces if faces is not None else FaceDatabase()
        self._unsubscribe = self.bus.subscribe(self._record)

    @classmethod
    def from_config(cls, config: Config, senders: Sequence[Sender] = ()) -> DoorbellSystem:
        """Build the service from settings alone, as the Pi's start-up script does."""
        store = EventStore(config.database_path, snapshots_dir=config.database_path.parent / "snapshots")
        faces = FaceDatabase.from_dirs(config.known_faces_dir, config.blacklist_faces_dir)
        return cls(config, store, dispatcher=Dispatcher(senders), faces=faces)

    def _record(self, event: Event) -> None:
        self.store.insert(event)

    def ring(self, encoding: Encoding | None = None, source: str = "button") -> RingOutcome:
        """Handle one press: log it, check the face if the camera saw one, tell the owner."""
        press = doorbell_pressed(source)
        self.bus.publish(press)
        result: MatchResult | None = None
        verdict: Event | None = None
        if encoding is not None:
            result = self.faces.classify(encoding, self.config.face_tolerance, self.config.face_model)
            data: dict[str, object] = {"status": str(result.status)}
            if result.name is not None:
                data["visitor"] = result.name
                data["distance"] = round(result.distance or 0.0, 4)
            verdict = Event(_VERDICT_TYPES[result.status], data)
            self.bus.publish(verdict)
        deliveries = self.dispatcher.dispatch(format_notification(press, result))
        return RingOutcome(press, verdict, deliveries)

    def attach_button(self, gpio: MockGPIO, pin: int = BUTTON_PIN, bouncetime_ms: float = 200) -> None:
        """Ring on the falling edge of the pulled-up button, ignoring contact bounce."""
        gpio.setup(pin, PinMode.IN, pull_up=True)
        gpio.add_event_detect(
            pin, Edge.FALLING, lambda _pin: self.ring(source="button"), bouncetime_ms=bouncetime_ms
        )

    def close(self) -> None:
        self._unsubscribe()
        self.store.close()
