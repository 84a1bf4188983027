"""The generated test configuration: the reference default, the project's template over it.

The Doorbell Security System reads its settings from one file; under test that file must point
every path into the run's own tree. The default below follows the reference test environment
(SQLite database, DEBUG log file, face recognition tolerance 0.6 with the ``hog`` model,
known/blacklist face folders, hardware mocked with camera and GPIO off, web on 127.0.0.1).
A project replaces or extends any part of it with ``[tool.doorbell-ci.environment.test_config]``,
a nested table merged key by key over the default; strings may use ``{placeholders}`` naming
the folders of the tree. Only known placeholder names are substituted (no ``str.format``
attribute lookups), so a template can never reach into Python objects.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from doorbell_ci import jsonsafe
from doorbell_ci.errors import ConfigError

DEFAULT_TEST_CONFIG: dict[str, Any] = {
    "database": {"path": "{data}/doorbell.db"},
    "logging": {"level": "DEBUG", "file": "{logs}/doorbell.log"},
    "faces": {
        "tolerance": 0.6,
        "model": "hog",
        "known_dir": "{data}/known_faces",
        "blacklist_dir": "{data}/blacklist_faces",
    },
    "hardware": {"mock_mode": True, "camera_enabled": False, "gpio_enabled": False},
    "web": {"host": "127.0.0.1", "port": 0},
}

PLACEHOLDERS = ("root", "data", "logs", "config", "fixtures", "home", "tmp", "project", "run_id")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")  # one pass: escaped braces, then names


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; anything else in ``override`` replaces the default's value."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def render(value: Any, places: Mapping[str, str], where: str = "test_config") -> Any:
    """Substitute ``{name}`` in every string; ``{{`` and ``}}`` stand for literal braces."""
    if isinstance(value, Mapping):
        return {key: render(item, places, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, places, f"{where}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) in {"{{", "}}"}:
            return match.group(0)[0]
        name = match.group(1)
        if name not in places:
            raise ConfigError(
                f"[tool.doorbell-ci.environment] {where}: unknown placeholder {{{name}}}; "
                f"use one of {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
            )
        return places[name]

    return _PLACEHOLDER.sub(substitute, value)


def build(template: Mapping[str, Any], places: Mapping[str, str]) -> dict[str, Any]:
    """The default merged with the project's template, placeholders filled in."""
    return render(merge(DEFAULT_TEST_CONFIG, template), places)


def write(document: Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(jsonsafe.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
