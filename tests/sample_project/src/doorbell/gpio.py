"""Mock GPIO, shaped like the parts of RPi.GPIO the doorbell uses.

On the Pi the button sits on a pulled-up input pin and the chime on an output; here pins are
plain objects so tests can "press" the button, including the contact bounce a real one has.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

BUTTON_PIN = 18
CHIME_PIN = 23
VALID_PINS = range(2, 28)  # BCM numbering on the 40-pin header


class PinMode(StrEnum):
    IN = "in"
    OUT = "out"


class Edge(StrEnum):
    RISING = "rising"
    FALLING = "falling"
    BOTH = "both"


class HardwareUnavailableError(RuntimeError):
    """Raised when real GPIO is asked for where there is none (any machine but the Pi)."""


@dataclass
class _Watch:
    edge: Edge
    callback: Callable[[int], None]
    bounce_s: float
    last_fired: float = float("-inf")


@dataclass
class _Pin:
    mode: PinMode
    level: int
    watches: list[_Watch] = field(default_factory=list)


class MockGPIO:
    """Pins, levels and edge callbacks with debounce; ``clock`` is injectable for exact timing."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._pins: dict[int, _Pin] = {}

    def setup(self, pin: int, mode: PinMode, *, pull_up: bool = False) -> None:
        if pin not in VALID_PINS:
            raise ValueError(f"GPIO {pin} is not a usable BCM pin")
        self._pins[pin] = _Pin(mode, 1 if pull_up else 0)

    def input(self, pin: int) -> int:
        return self._pin(pin).level

    def output(self, pin: int, value: int) -> None:
        state = self._pin(pin)
        if state.mode is not PinMode.OUT:
            raise RuntimeError(f"GPIO {pin} is not set up as an output")
        state.level = 1 if value else 0

    def add_event_detect(
        self, pin: int, edge: Edge, callback: Callable[[int], None], *, bouncetime_ms: float = 0
    ) -> None:
        state = self._pin(pin)
        if state.mode is not PinMode.IN:
            raise RuntimeError(f"GPIO {pin} is not set up as an input")
        state.watches.append(_Watch(edge, callback, bouncetime_ms / 1000))

    def drive(self, pin: int, level: int) -> None:
        """Simulate the outside world changing an input's level (fires matching edge callbacks)."""
        state = self._pin(pin)
        new = 1 if level else 0
        if new == state.level:
            return
        state.level = new
        edge = Edge.RISING if new else Edge.FALLING
        now = self._clock()
        for watch in list(state.watches):
            if watch.edge in (edge, Edge.BOTH) and now - watch.last_fired >= watch.bounce_s:
                watch.last_fired = now
                watch.callback(pin)

    def press(self, pin: int = BUTTON_PIN) -> None:
        """A press on a pulled-up button: the line goes low, then back high on release."""
        self.drive(pin, 0)
        self.drive(pin, 1)

    def cleanup(self) -> None:
        self._pins.clear()

    def _pin(self, pin: int) -> _Pin:
        try:
            return self._pins[pin]
        except KeyError:
            raise RuntimeError(f"GPIO {pin} has not been set up") from None


def open_gpio(mock_mode: bool) -> MockGPIO:
    """The only way the app gets GPIO, so ``hardware.mock_mode`` decides in one place."""
    if not mock_mode:
        raise HardwareUnavailableError(
            "real GPIO needs RPi.GPIO on a Raspberry Pi; run on the Pi or set hardware.mock_mode = true"
        )
    return MockGPIO()
