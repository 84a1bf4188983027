"""Face matching stand-in.

The real doorbell compares 128-d dlib encodings from ``face_recognition``. This module keeps
the same decision rule (euclidean distance against a tolerance, blacklist checked first) with
short deterministic vectors, so the logic is testable without a camera or a model.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

Encoding = tuple[float, ...]

DEFAULT_TOLERANCE = 0.6
ENCODING_DIMS = 8
SUPPORTED_MODELS = ("hog",)

# Letters, digits, space, underscore and hyphen only: no dots or separators, so a person's
# name can never walk out of the faces directory when it becomes a file name.
_NAME_RE = re.compile(r"^\w[\w -]{0,63}$")


class InvalidNameError(ValueError):
    """A person or file name that is unsafe to turn into a path."""


class MatchStatus(StrEnum):
    KNOWN = "known"
    BLACKLISTED = "blacklisted"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class MatchResult:
    """Outcome of one face check; ``distance`` is kept so alerts can show how sure we were."""

    status: MatchStatus
    name: str | None = None
    distance: float | None = None


def validate_name(name: str) -> str:
    """Reject names that could escape a directory (``..``, separators, NUL) before any path is built."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name != name.strip():
        raise InvalidNameError(f"invalid face name {name!r}: use letters, digits, spaces, '_' or '-'")
    return name


def validate_tolerance(tolerance: float) -> float:
    """Check a tolerance up front: a value above 1 would silently accept almost every stranger."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0.0 <= tolerance <= 1.0:
        raise ValueError(f"tolerance must be between 0 and 1, got {tolerance}")
    return float(tolerance)


def face_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Euclidean distance, as face_recognition uses; mismatched sizes mean mixed-up models."""
    if len(a) != len(b):
        raise ValueError(f"encodings have different sizes: {len(a)} and {len(b)}")
    return math.dist(a, b)


def encoding_from_seed(seed: str, dims: int = ENCODING_DIMS) -> Encoding:
    """A stable fake encoding for a person, so tests can name people instead of listing floats."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    while len(digest) < dims:
        digest += hashlib.sha256(digest).digest()
    return tuple(round(byte / 255, 4) for byte in digest[:dims])


def jitter(encoding: Encoding, amount: float = 0.05, seed: int = 0) -> Encoding:
    """The same face in a different photo: a small deterministic perturbation."""
    rng = random.Random(seed)
    return tuple(value + rng.uniform(-amount, amount) for value in encoding)


def match(
    encoding: Encoding, candidates: Mapping[str, Encoding], tolerance: float = DEFAULT_TOLERANCE
) -> tuple[str, float] | None:
    """Closest candidate within ``tolerance``, or None; closest wins so look-alikes don't shadow."""
    limit = validate_tolerance(tolerance)
    best: tuple[str, float] | None = None
    for name, known in candidates.items():
        distance = face_distance(encoding, known)
        if distance <= limit and (best is None or distance < best[1]):
            best = (name, distance)
    return best


@dataclass
class FaceDatabase:
    """Known residents and blacklisted people, keyed by name."""

    known: dict[str, Encoding] = field(default_factory=dict)
    blacklist: dict[str, Encoding] = field(default_factory=dict)

    def classify(
        self, encoding: Encoding, tolerance: float = DEFAULT_TOLERANCE, model: str = "hog"
    ) -> MatchResult:
        """Blacklist first: someone on both lists must raise the alert, not be welcomed."""
        if model not in SUPPORTED_MODELS:
            raise NotImplementedError(f"model {model!r} is not available in the sample; use 'hog'")
        hit = match(encoding, self.blacklist, tolerance)
        if hit is not None:
            return MatchResult(MatchStatus.BLACKLISTED, hit[0], hit[1])
        hit = match(encoding, self.known, tolerance)
        if hit is not None:
            return MatchResult(MatchStatus.KNOWN, hit[0], hit[1])
        return MatchResult(MatchStatus.UNKNOWN)

    @classmethod
    def from_dirs(cls, known_dir: Path, blacklist_dir: Path) -> FaceDatabase:
        """Load both lists; a missing folder just means nobody is on that list yet."""
        return cls(known=load_faces_dir(known_dir), blacklist=load_faces_dir(blacklist_dir))


def face_path(directory: Path, name: str) -> Path:
    """Where a person's encoding lives; validated so the result is always inside ``directory``."""
    path = Path(directory) / f"{validate_name(name)}.json"
    if path.resolve().parent != Path(directory).resolve():
        raise InvalidNameError(f"invalid face name {name!r}: resolves outside {directory}")
    return path


def save_face(directory: Path, name: str, encoding: Encoding) -> Path:
    """Store one encoding as JSON (the enrolment step of the real system)."""
    path = face_path(directory, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"name": name, "encoding": list(encoding)}), encoding="utf-8")
    return path


def load_faces_dir(directory: Path) -> dict[str, Encoding]:
    """Read every ``<name>.json``; refuse symlinks and odd names rather than follow them."""
    directory = Path(directory)
    if not directory.is_dir():
        return {}
    root = directory.resolve()
    faces: dict[str, Encoding] = {}
    for entry in sorted(directory.glob("*.json")):
        name = validate_name(entry.stem)
        if entry.is_symlink() or not entry.is_file() or entry.resolve().parent != root:
            raise InvalidNameError(f"{entry.name}: face files must be regular files inside {directory}")
        faces[name] = _parse_encoding(json.loads(entry.read_text(encoding="utf-8")), entry)
    return faces


def _parse_encoding(document: Any, source: Path) -> Encoding:
    values = document.get("encoding") if isinstance(document, dict) else None
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    ):
        raise ValueError(f"{source}: 'encoding' must be a non-empty list of numbers")
    return tuple(float(v) for v in values)
