"""Mock GPIO: the button the visitor presses and the guard against real hardware."""

from __future__ import annotations

import pytest

from doorbell.gpio import BUTTON_PIN, Edge, HardwareUnavailableError, MockGPIO, PinMode, open_gpio


def test_bouncing_button_fires_once() -> None:
    now = [0.0]
    gpio = MockGPIO(clock=lambda: now[0])
    gpio.setup(BUTTON_PIN, PinMode.IN, pull_up=True)
    presses: list[int] = []
    gpio.add_event_detect(BUTTON_PIN, Edge.FALLING, presses.append, bouncetime_ms=200)
    gpio.press()
    now[0] = 0.05  # contact bounce 50 ms later
    gpio.press()
    now[0] = 1.0  # a real second press
    gpio.press()
    assert presses == [BUTTON_PIN, BUTTON_PIN]
    assert gpio.input(BUTTON_PIN) == 1


def test_real_gpio_is_refused_off_the_pi() -> None:
    with pytest.raises(HardwareUnavailableError, match="mock_mode"):
        open_gpio(mock_mode=False)
    assert isinstance(open_gpio(mock_mode=True), MockGPIO)


@pytest.mark.hardware
def test_chime_sounds_on_real_hardware() -> None:
    pytest.skip("needs the Raspberry Pi doorbell rig (button on GPIO 18, chime on GPIO 23)")
