"""Shared by the tests that need a Docker engine: a client, or skip (fail in CI) with the reason.

Containers in these tests use the offline base (no registry on CI or on a developer's laptop
without network), so DOORBELL_CI_DOCKER_BASE=offline is set for the runs they start.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.tooling import require_tool


def docker_client() -> Any:
    """A client for a reachable engine; skips (or fails with DOORBELL_CI_REQUIRE_TOOLS=1) otherwise."""
    try:
        import docker

        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as error:  # noqa: BLE001 - any failure means "no usable engine"
        require_tool("docker engine", False, f"no reachable Docker engine ({type(error).__name__}); start dockerd")
        raise AssertionError("unreachable") from error
    return client


def offline_env(**extra: str) -> dict[str, str]:
    """The host environment for a doorbell-ci run in Docker on a machine that cannot pull images."""
    return {**os.environ, "DOORBELL_CI_DOCKER_BASE": "offline", **extra}


def readable_by_containers(project: Path) -> None:
    """pytest's tmp_path is private (0700); a container's non-root user must be able to read the project."""
    for folder, _dirs, files in os.walk(project):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


def labelled(client: Any, run_id: str) -> tuple[list[Any], list[Any]]:
    """Containers and networks the engine still has for ``run_id``."""
    filters = {"label": [f"doorbell-ci.run-id={run_id}"]}
    return client.containers.list(all=True, filters=filters), client.networks.list(filters=filters)
