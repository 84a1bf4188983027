"""Frame-pipeline benchmarks, measured with doorbell-ci's ``perf`` fixture.

``perf(func, *args)`` warms up, calibrates inner loops to >= 20 ms a sample, takes 20 samples of
wall and CPU time and returns the warm-up call's result, so each test still checks the work is right.
doorbell-ci compares the samples with ``baselines/`` (history mode) or with the merge base measured
in the same job (paired mode). The budgets below stay as a coarse sanity check: the regression
gate is doorbell-ci's job, not an ``assert seconds < x``.
"""

from __future__ import annotations

import pytest

from doorbell.camera import MockCamera, MotionDetector, downscale, histogram, process_frame, watch_stream

WIDTH, HEIGHT = 320, 240


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    camera = MockCamera(WIDTH, HEIGHT, seed=42, motion_frames={1}, square=48)
    return [camera.capture(0), camera.capture(1)]


def test_downscale_320x240(perf, frames: list[bytes]) -> None:
    small = perf(downscale, frames[0], WIDTH, HEIGHT)
    assert len(small) == (WIDTH // 2) * (HEIGHT // 2)
    assert perf.median < 0.25


def test_histogram_320x240(perf, frames: list[bytes]) -> None:
    hist = perf(histogram, frames[0])
    assert sum(hist) == WIDTH * HEIGHT
    assert perf.median < 0.1


def test_full_frame_pipeline_with_motion(perf, frames: list[bytes]) -> None:
    reference = downscale(frames[0], WIDTH, HEIGHT)
    stats = perf(process_frame, frames[1], WIDTH, HEIGHT, reference)
    assert stats.motion is not None and stats.motion > 0.02
    perf.metric("frames_per_second", 1 / perf.median, unit="fps")
    assert perf.median < 0.5


def watch_clip(clip: list[bytes], width: int, height: int) -> list[int]:
    return watch_stream(clip, MotionDetector(width, height))


def test_detector_keeps_up_with_a_short_stream(perf) -> None:
    camera = MockCamera(seed=7, motion_frames=range(10, 14))
    clip = list(camera.stream(20))
    moving = perf(watch_clip, clip, camera.width, camera.height)
    assert moving == [10, 11, 12, 13]
    perf.metric("frames_per_second", len(clip) / perf.median, unit="fps")
    assert perf.median / len(clip) < 0.1  # per frame


def capture_and_process(count: int) -> int:
    """A burst of frames held in memory at once, as the recorder does before writing a clip."""
    camera = MockCamera(WIDTH, HEIGHT, seed=3, motion_frames=range(count))
    clip = list(camera.stream(count))
    return len(watch_clip(clip, WIDTH, HEIGHT))


def test_peak_memory_of_a_recorded_burst(perf) -> None:
    peak = perf.peak_memory(capture_and_process, 30)
    assert peak > 0
