"""Frame-pipeline timings.

Each test times one work function from doorbell.camera with time.perf_counter and checks a
generous budget (the Pi 4 runs this at camera rate). ``measure`` is the only timing code, so
moving these tests onto a benchmark fixture later means replacing that one helper.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest

from doorbell.camera import MockCamera, MotionDetector, downscale, histogram, process_frame, watch_stream

WIDTH, HEIGHT = 320, 240


def measure(func: Callable[..., Any], *args: Any, rounds: int = 5) -> tuple[float, Any]:
    """Median seconds per call over ``rounds`` calls, and the last result (so work is checked too)."""
    timings = []
    result = None
    for _ in range(rounds):
        start = time.perf_counter()
        result = func(*args)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings), result


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    camera = MockCamera(WIDTH, HEIGHT, seed=42, motion_frames={1}, square=48)
    return [camera.capture(0), camera.capture(1)]


def test_downscale_320x240(frames: list[bytes]) -> None:
    seconds, small = measure(downscale, frames[0], WIDTH, HEIGHT)
    assert len(small) == (WIDTH // 2) * (HEIGHT // 2)
    assert seconds < 0.25


def test_histogram_320x240(frames: list[bytes]) -> None:
    seconds, hist = measure(histogram, frames[0])
    assert sum(hist) == WIDTH * HEIGHT
    assert seconds < 0.1


def test_full_frame_pipeline_with_motion(frames: list[bytes]) -> None:
    reference = downscale(frames[0], WIDTH, HEIGHT)
    seconds, stats = measure(process_frame, frames[1], WIDTH, HEIGHT, reference)
    assert stats.motion is not None and stats.motion > 0.02
    assert seconds < 0.5


def test_detector_keeps_up_with_a_short_stream() -> None:
    camera = MockCamera(seed=7, motion_frames=range(10, 14))
    clip = list(camera.stream(20))
    seconds, moving = measure(
        lambda: watch_stream(clip, MotionDetector(camera.width, camera.height)), rounds=3
    )
    assert moving == [10, 11, 12, 13]
    assert seconds / len(clip) < 0.1  # per frame
