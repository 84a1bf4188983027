"""Stage 2: where the suites run. One protocol (``base.Environment``), one class per kind.

Pick one by name with :func:`create`; add a kind by adding a module and a line to ``KINDS``.
"""

from __future__ import annotations

from collections.abc import Callable

from doorbell_ci.config import Config
from doorbell_ci.environments.base import Environment, SuiteCommand
from doorbell_ci.errors import ConfigError


def _local(config: Config) -> Environment:
    from doorbell_ci.environments.local import LocalEnvironment

    return LocalEnvironment(config, keep=config.keep_env)


def _docker(config: Config) -> Environment:
    from doorbell_ci.environments.docker import DockerEnvironment

    return DockerEnvironment(config, keep=config.keep_env)


KINDS: dict[str, Callable[[Config], Environment]] = {"local": _local, "docker": _docker}


def create(config: Config) -> Environment:
    try:
        factory = KINDS[config.environment]
    except KeyError:
        raise ConfigError(
            f"unknown environment {config.environment!r}; choose from {', '.join(KINDS)}"
        ) from None
    return factory(config)


__all__ = ["Environment", "SuiteCommand", "create", "KINDS"]
