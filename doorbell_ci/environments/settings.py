"""``[tool.doorbell-ci.environment]``: what a project may say about its test environments.

The table is read once into frozen dataclasses; every unknown key or malformed value is a
ConfigError naming the key, so a typo in a service declaration never turns into a silently
different environment.

    [tool.doorbell-ci.environment]
    kind = "docker"                         # instead of `environment = "docker"` one level up
    config_file = "config/test.json"        # where the generated test config goes (inside the tree)
    config_env_var = "DOORBELL_CONFIG"      # the variable that points the tests at it
    fixtures = "tests/fixtures"             # copied into the tree's fixtures/ folder
    env = { DOORBELL_MODE = "test" }        # extra variables; {placeholders} allowed

    [tool.doorbell-ci.environment.test_config]   # merged over the built-in default
    web = { port = 8081 }

    [tool.doorbell-ci.environment.docker]
    memory = "1g"
    [tool.doorbell-ci.environment.docker.services.redis]
    image = "redis:7-alpine"
    ready = ["redis-cli", "ping"]
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from doorbell_ci.errors import ConfigError
from doorbell_ci.options import parse_seconds, shown

TABLE = "environment"
WHERE = "[tool.doorbell-ci.environment]"

# kind: local | docker, read by config.load_config (the table takes the place of `environment = "..."`)
_ENV_KEYS = {"kind", "test_config", "config_file", "config_env_var", "fixtures", "env", "docker"}
_DOCKER_KEYS = {
    "image", "dockerfile", "base_image", "system_packages", "requirements", "python", "user",
    "cpus", "memory", "pids", "project_read_only", "services", "build_timeout",
}
_SERVICE_KEYS = {"image", "command", "env", "ready", "ready_timeout"}
MAX_CPUS = 1024
MAX_PIDS = 4_194_304  # Linux's highest pid_max
MAX_SERVICES = 16
_MEMORY = re.compile(r"^\d+(\.\d+)?[bkmg]?$", re.IGNORECASE)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ServiceSettings:
    """A helper container (database, broker, fake camera stream) started before the suites."""

    name: str
    image: str | None = None  # None: the test image itself
    command: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    ready: tuple[str, ...] | None = None  # run inside the service until it exits 0
    ready_timeout: float = 60.0


@dataclass(frozen=True)
class DockerSettings:
    image: str | None = None  # use this image as it is: no build
    dockerfile: str | None = None  # default: the project's Dockerfile when it has one
    base_image: str = "python:3.11-slim"  # FROM of the generated Dockerfile
    system_packages: tuple[str, ...] = ()
    requirements: tuple[str, ...] | None = None  # None: every requirements*.txt at the project root
    python: str | None = None  # interpreter inside the image; None: python (or the host's, offline)
    user: str = "auto"  # auto: the host user when not root, else the image's non-root user, else 1000
    cpus: float | None = None  # None: the suite's share of the core budget
    memory: str = "2g"
    pids: int = 1024
    project_read_only: bool = True
    services: tuple[ServiceSettings, ...] = ()
    build_timeout: float = 1800.0


@dataclass(frozen=True)
class EnvironmentSettings:
    test_config: Mapping[str, Any] = field(default_factory=dict)  # the project's template (unmerged)
    config_file: str = "config/doorbell-test.json"
    config_env_var: str = "DOORBELL_CONFIG"
    fixtures: str = "tests/fixtures"
    env: Mapping[str, str] = field(default_factory=dict)
    docker: DockerSettings = field(default_factory=DockerSettings)


def parse_settings(table: Mapping[str, Any] | None) -> EnvironmentSettings:
    """Turn the raw TOML table into settings, refusing anything it does not understand."""
    table = dict(table or {})
    _unknown(table, _ENV_KEYS, WHERE)
    values: dict[str, Any] = {}
    if "test_config" in table:
        values["test_config"] = _test_config(table["test_config"], f"{WHERE} key 'test_config'")
    if "config_file" in table:
        values["config_file"] = _relative_path(table["config_file"], f"{WHERE} key 'config_file'")
        if PurePosixPath(values["config_file"]).suffix not in {".json"}:
            raise ConfigError(f"{WHERE} key 'config_file': the generated test config is JSON; end the name in .json")
    if "config_env_var" in table:
        values["config_env_var"] = _env_name(table["config_env_var"], f"{WHERE} key 'config_env_var'")
    if "fixtures" in table:
        values["fixtures"] = _relative_path(table["fixtures"], f"{WHERE} key 'fixtures'")
    if "env" in table:
        values["env"] = _env_table(table["env"], f"{WHERE} key 'env'")
    if "docker" in table:
        values["docker"] = _docker(table["docker"])
    return EnvironmentSettings(**values)


def _docker(raw: Any) -> DockerSettings:
    where = "[tool.doorbell-ci.environment.docker]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table")
    _unknown(raw, _DOCKER_KEYS, where)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        label = f"{where} key {key!r}"
        if key in {"image", "base_image", "python"}:
            values[key] = _string(value, label)
        elif key == "dockerfile":
            values[key] = _relative_path(value, label)
        elif key == "user":
            values[key] = _string(value, label)
        elif key in {"system_packages", "requirements"}:
            items = _string_list(value, label)
            if key == "system_packages":
                for item in items:
                    if not re.fullmatch(r"[a-z0-9][a-z0-9+.:=~-]*", item):
                        raise ConfigError(f"{label}: {item!r} is not a Debian package name")
                values[key] = items
            else:
                values[key] = tuple(_relative_path(item, label) for item in items)
        elif key == "cpus":
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_CPUS:
                raise ConfigError(f"{label}: expected CPUs above 0, at most {MAX_CPUS}, got {shown(value)}")
            values[key] = float(value)
        elif key == "memory":
            if not isinstance(value, str) or not _MEMORY.match(value):
                raise ConfigError(f"{label}: expected a size such as '512m' or '2g', got {value!r}")
            values[key] = value.lower()
        elif key == "pids":
            if isinstance(value, bool) or not isinstance(value, int) or not 16 <= value <= MAX_PIDS:
                raise ConfigError(f"{label}: expected a whole number from 16 to {MAX_PIDS}, got {shown(value)}")
            values[key] = value
        elif key == "project_read_only":
            if not isinstance(value, bool):
                raise ConfigError(f"{label}: expected true or false, got {value!r}")
            values[key] = value
        elif key == "build_timeout":
            values[key] = _seconds(value, label)
        elif key == "services":
            values[key] = _services(value, f"{where} key 'services'")
    return DockerSettings(**values)


def _services(raw: Any, where: str) -> tuple[ServiceSettings, ...]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table of [...docker.services.NAME] tables")
    if len(raw) > MAX_SERVICES:
        raise ConfigError(f"{where}: {len(raw)} services declared; at most {MAX_SERVICES}")
    services = []
    for name, spec in raw.items():
        label = f"[tool.doorbell-ci.environment.docker.services.{name}]"
        if not _NAME.match(name):
            raise ConfigError(f"{label}: {name!r} is not a usable service name (lowercase letters, digits, - and _)")
        if not isinstance(spec, dict):
            raise ConfigError(f"{label}: must be a table")
        _unknown(spec, _SERVICE_KEYS, label)
        values: dict[str, Any] = {"name": name}
        if "image" in spec:
            values["image"] = _string(spec["image"], f"{label} key 'image'")
        if "command" in spec:
            values["command"] = _string_list(spec["command"], f"{label} key 'command'")
        if "ready" in spec:
            values["ready"] = _string_list(spec["ready"], f"{label} key 'ready'")
        if "env" in spec:
            values["env"] = _env_table(spec["env"], f"{label} key 'env'")
        if "ready_timeout" in spec:
            values["ready_timeout"] = _seconds(spec["ready_timeout"], f"{label} key 'ready_timeout'")
        services.append(ServiceSettings(**values))
    return tuple(services)


def _test_config(raw: Any, label: str) -> dict[str, Any]:
    """Only what JSON can hold: tables, lists, strings, numbers, booleans (TOML dates are refused)."""

    def check(value: Any, path: str) -> Any:
        if isinstance(value, dict):
            return {str(k): check(v, f"{path}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [check(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, float) and not math.isfinite(value):  # TOML has inf and nan; JSON does not
            raise ConfigError(f"{label}: {path} is {value}; the test config is JSON, which holds only finite numbers")
        if isinstance(value, str | int | float | bool):
            return value
        raise ConfigError(f"{label}: {path} is a {type(value).__name__}; use a string, number, boolean or table")

    if not isinstance(raw, dict):
        raise ConfigError(f"{label}: must be a table (it is merged over the default test configuration)")
    return check(raw, "test_config")


def _unknown(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(known))}")


def _string(value: Any, label: str) -> str:
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ConfigError(f"{label}: expected a non-empty string, got {value!r}")
    return value


def _string_list(value: Any, label: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{label}: expected a non-empty list of strings, got {value!r}")
    return tuple(_string(item, label) for item in value)


def _relative_path(value: Any, label: str) -> str:
    """A path inside the project or the environment tree: relative, never climbing out."""
    text = _string(value, label)
    path = PurePosixPath(text.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", text):
        raise ConfigError(f"{label}: {text!r} must be a relative path that stays inside its folder")
    return path.as_posix()


def _env_name(value: Any, label: str) -> str:
    text = _string(value, label)
    if not _ENV_NAME.match(text):
        raise ConfigError(f"{label}: {text!r} is not an environment variable name")
    return text


def _env_table(value: Any, label: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"{label}: must be a table of strings")
    result = {}
    for key, item in value.items():
        _env_name(key, label)
        if not isinstance(item, str) or "\x00" in item:
            raise ConfigError(f"{label}: {key} must be a string, got {item!r}")
        result[key] = item
    return result


def _seconds(value: Any, label: str) -> float:
    try:
        seconds = parse_seconds(value)  # from 1 s to 24 h, like every duration (options.py)
    except ValueError as error:
        raise ConfigError(f"{label}: {error}") from None
    if seconds is None:
        raise ConfigError(f"{label}: expected a number of seconds, got {shown(value)}")
    return seconds
