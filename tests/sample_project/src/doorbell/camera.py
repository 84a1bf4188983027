"""Mock camera and the frame pipeline.

The Pi grabs 8-bit grayscale frames, shrinks them, and compares each one with a background
model to decide whether anything moved. The work functions here (``downscale``, ``histogram``,
``motion_score``, ``process_frame``) are plain functions of bytes so performance tests can time
them directly, with no camera attached.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from operator import add

from doorbell.events import EventBus, motion_detected

DEFAULT_WIDTH = 160
DEFAULT_HEIGHT = 120
PIXEL_CHANGE_THRESHOLD = 25  # grey levels; sensor noise stays well below this
DEFAULT_SENSITIVITY = 0.01  # fraction of changed pixels that counts as motion


class MockCamera:
    """Deterministic synthetic frames: a fixed noisy scene plus a bright square on motion frames."""

    def __init__(
        self,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        seed: int = 0,
        motion_frames: Collection[int] = (),
        square: int = 24,
    ) -> None:
        if width < square or height < square or width % 2 or height % 2:
            raise ValueError(f"unsupported frame size {width}x{height}")
        self.width = width
        self.height = height
        self.seed = seed
        self.motion_frames = frozenset(motion_frames)
        self.square = square
        self._scene = random.Random(seed).randbytes(width * height)

    def capture(self, index: int) -> bytes:
        """Frame ``index``: the scene with light sensor noise, and the moving object if scheduled."""
        frame = bytearray(self._scene)
        rng = random.Random(self.seed * 1_000_003 + index)
        size = len(frame)
        for _ in range(size // 100):
            i = rng.randrange(size)
            frame[i] = min(255, max(0, frame[i] + rng.randint(-10, 10)))
        if index in self.motion_frames:
            x = (index * 8) % (self.width - self.square)
            y = (index * 5) % (self.height - self.square)
            row = b"\xff" * self.square
            for dy in range(self.square):
                start = (y + dy) * self.width + x
                frame[start : start + self.square] = row
        return bytes(frame)

    def stream(self, count: int, start: int = 0) -> Iterator[bytes]:
        """A finite stream, like reading ``count`` frames from the Pi camera."""
        for index in range(start, start + count):
            yield self.capture(index)


@dataclass(frozen=True)
class FrameStats:
    width: int  # of the downscaled frame
    height: int
    mean: float
    histogram: tuple[int, ...]
    motion: float | None  # fraction of changed pixels vs the reference, if one was given
    small: bytes


def downscale(frame: bytes, width: int, height: int, factor: int = 2) -> bytes:
    """Average ``factor``x``factor`` blocks: detection on a quarter of the pixels is 4x cheaper."""
    if len(frame) != width * height:
        raise ValueError(f"frame has {len(frame)} bytes, expected {width * height}")
    if factor < 1 or width % factor or height % factor:
        raise ValueError(f"factor {factor} does not divide {width}x{height}")
    out_w = width // factor
    area = factor * factor
    out = bytearray()
    for y in range(0, height, factor):
        sums = [0] * out_w
        for dy in range(factor):
            row = frame[(y + dy) * width : (y + dy + 1) * width]
            for dx in range(factor):
                sums = list(map(add, sums, row[dx::factor]))
        out.extend(s // area for s in sums)
    return bytes(out)


def histogram(frame: bytes, bins: int = 16) -> tuple[int, ...]:
    """Brightness histogram; the real system uses it to spot a covered or blinded lens."""
    if not 1 <= bins <= 256 or 256 % bins:
        raise ValueError(f"bins must divide 256, got {bins}")
    per_value = [frame.count(value) for value in range(256)]
    width = 256 // bins
    return tuple(sum(per_value[i : i + width]) for i in range(0, 256, width))


def motion_score(reference: bytes, current: bytes, threshold: int = PIXEL_CHANGE_THRESHOLD) -> float:
    """Fraction of pixels whose brightness changed by more than ``threshold``."""
    if len(reference) != len(current) or not current:
        raise ValueError("frames must be non-empty and the same size")
    changed = sum(1 for a, b in zip(reference, current, strict=True) if abs(a - b) > threshold)
    return changed / len(current)


def process_frame(frame: bytes, width: int, height: int, reference: bytes | None = None) -> FrameStats:
    """The per-frame pipeline: downscale, histogram, mean brightness, motion vs ``reference``."""
    small = downscale(frame, width, height)
    hist = histogram(small)
    mean = sum(small) / len(small)
    motion = motion_score(reference, small) if reference is not None else None
    return FrameStats(width // 2, height // 2, mean, hist, motion, small)


class MotionDetector:
    """Compares each frame with a background model that only learns from quiet frames.

    Learning only when nothing moves keeps a visitor who stands still from fading into the
    background, while slow light changes between quiet frames are still absorbed.
    """

    def __init__(
        self, width: int, height: int, sensitivity: float = DEFAULT_SENSITIVITY, bus: EventBus | None = None
    ) -> None:
        self.width = width
        self.height = height
        self.sensitivity = sensitivity
        self.bus = bus
        self.background: bytes | None = None
        self.frames_seen = 0

    def feed(self, frame: bytes) -> bool:
        """Process one frame; publishes a MOTION event and returns True when it moved."""
        index = self.frames_seen
        self.frames_seen += 1
        stats = process_frame(frame, self.width, self.height, self.background)
        if stats.motion is None or stats.motion < self.sensitivity:
            self.background = stats.small
            return False
        if self.bus is not None:
            self.bus.publish(motion_detected(stats.motion, index))
        return True


def watch_stream(frames: Iterable[bytes], detector: MotionDetector) -> list[int]:
    """Run a stream through the detector; returns the indices of frames with motion."""
    return [index for index, frame in enumerate(frames) if detector.feed(frame)]
