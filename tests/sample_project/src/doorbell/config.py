"""Runtime configuration.

The Pi service reads its settings from one file. Tests and the demo point ``DOORBELL_CONFIG``
at a small JSON or TOML file so every run can use its own temporary database and folders;
without it the built-in defaults apply. Unknown keys are errors so a typo never goes unnoticed.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doorbell.faces import DEFAULT_TOLERANCE, validate_tolerance

ENV_VAR = "DOORBELL_CONFIG"
MODELS = ("hog", "cnn")


class ConfigError(ValueError):
    """A config that cannot be used; raised at start-up so a bad file never half-starts the doorbell."""


@dataclass(frozen=True)
class Config:
    """Resolved settings. Relative paths in a file are taken relative to that file."""

    database_path: Path = Path("data/doorbell.db")
    log_file: Path = Path("logs/doorbell.log")
    face_tolerance: float = DEFAULT_TOLERANCE
    face_model: str = "hog"
    known_faces_dir: Path = Path("data/known_faces")
    blacklist_faces_dir: Path = Path("data/blacklist_faces")
    mock_mode: bool = True
    log_level: str = "INFO"
    camera_enabled: bool = True
    gpio_enabled: bool = True
    web_host: str = "127.0.0.1"
    web_port: int = 8080

    @classmethod
    def rooted_at(cls, root: Path, **overrides: Any) -> Config:
        """Defaults with every path under ``root``: how tests keep all writes inside tmp_path."""
        root = Path(root)
        paths = {
            "database_path": root / "data" / "doorbell.db",
            "log_file": root / "logs" / "doorbell.log",
            "known_faces_dir": root / "data" / "known_faces",
            "blacklist_faces_dir": root / "data" / "blacklist_faces",
        }
        return cls(**{**paths, **overrides})


# file section -> key -> (Config field, expected kind)
_SCHEMA: dict[str, dict[str, tuple[str, str]]] = {
    "database": {"path": ("database_path", "path")},
    "logging": {"file": ("log_file", "path"), "level": ("log_level", "str")},
    "faces": {
        "tolerance": ("face_tolerance", "number"),
        "model": ("face_model", "str"),
        "known_dir": ("known_faces_dir", "path"),
        "blacklist_dir": ("blacklist_faces_dir", "path"),
    },
    "hardware": {
        "mock_mode": ("mock_mode", "bool"),
        "camera_enabled": ("camera_enabled", "bool"),
        "gpio_enabled": ("gpio_enabled", "bool"),
    },
    "web": {"host": ("web_host", "str"), "port": ("web_port", "int")},
}


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Explicit ``path`` first, then ``$DOORBELL_CONFIG``, then the defaults."""
    env = os.environ if environ is None else environ
    if path is None:
        from_env = env.get(ENV_VAR, "").strip()
        if not from_env:
            return Config()
        path = from_env
    path = Path(path)
    return from_mapping(_read(path), base_dir=path.parent, source=str(path))


def _read(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from exc
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix == ".json":
            document = json.loads(text)
            if not isinstance(document, dict):
                raise ConfigError(f"{path}: the top level must be an object")
            return document
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from exc
    raise ConfigError(f"{path}: unsupported config format {suffix!r}; use .json or .toml")


def from_mapping(
    document: Mapping[str, Any], base_dir: Path | None = None, source: str = "<config>"
) -> Config:
    """Build a Config from parsed sections, checking every key and type."""
    values: dict[str, Any] = {}
    for section, table in document.items():
        keys = _SCHEMA.get(section)
        if keys is None:
            raise ConfigError(f"{source}: unknown section {section!r}; expected one of {', '.join(_SCHEMA)}")
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: {section!r} must be a table")
        for key, value in table.items():
            if key not in keys:
                raise ConfigError(f"{source}: unknown key {section}.{key}")
            field_name, kind = keys[key]
            values[field_name] = _convert(value, kind, f"{source}: {section}.{key}", base_dir)
    config = Config(**values)
    try:
        validate_tolerance(config.face_tolerance)
    except ValueError as exc:
        raise ConfigError(f"{source}: faces.tolerance: {exc}") from exc
    if config.face_model not in MODELS:
        raise ConfigError(
            f"{source}: faces.model must be one of {', '.join(MODELS)}, got {config.face_model!r}"
        )
    return config


def _convert(value: Any, kind: str, where: str, base_dir: Path | None) -> Any:
    if kind == "path":
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: expected a non-empty path string, got {value!r}")
        path = Path(value).expanduser()
        return base_dir / path if base_dir is not None and not path.is_absolute() else path
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
            raise ConfigError(f"{where}: expected a port number (0-65535), got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value
