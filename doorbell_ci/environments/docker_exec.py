"""Host-side helper that runs one suite's container: ``python -m doorbell_ci.environments.docker_exec SPEC``.

Why a helper process: the execution layer enforces timeouts and interrupts by killing the
*host* process tree of a suite (SIGTERM, then SIGKILL). A container is not in that tree, so
this small process stands in for it: it creates and starts the container through the Docker
SDK, streams the container's output to its own stdout (which execution logs as usual), exits
with the container's exit code, and removes the container on the way out, including when it
is sent SIGTERM or SIGINT. If it is SIGKILLed before it can, the environment's cleanup removes
every container labelled with the run id, so nothing is left either way.

SPEC is a JSON file the Docker environment wrote: image, command, environment, mounts, user,
network, labels, name, working folder and resource limits.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

EXIT_ENGINE = 125  # like `docker run`: the container could not be created or started


class _Terminated(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, _frame: object) -> None:
    raise _Terminated(signum)


def container_options(spec: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``containers.create`` for a spec (pure; tested without an engine)."""
    from docker.types import Mount

    return {
        "image": spec["image"],
        "command": spec["command"],
        "environment": spec.get("environment", {}),
        "mounts": [Mount(m["target"], m["source"], type="bind", read_only=bool(m.get("read_only", True)))
                   for m in spec.get("mounts", [])],
        "user": spec.get("user") or None,
        "network": spec.get("network") or None,
        "labels": spec.get("labels", {}),
        "name": spec.get("name") or None,
        "working_dir": spec.get("working_dir") or None,
        "nano_cpus": spec.get("nano_cpus") or None,
        "mem_limit": spec.get("mem_limit") or None,
        "pids_limit": spec.get("pids_limit") or None,
        "privileged": False,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "init": True,  # a real PID 1 that reaps and forwards signals to pytest
        "detach": True,
    }


def run(spec_path: Path) -> int:
    import docker
    import docker.errors
    import requests.exceptions

    engine_errors = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _on_signal)
    container = None
    try:
        client = docker.from_env(timeout=60)
        options = container_options(spec)
        options.pop("detach")
        container = client.containers.create(**options)
        container.start()
        for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
        status = container.wait()
        return int(status.get("StatusCode", 1))
    except _Terminated as stop:
        print(f"doorbell-ci: stopping the container after signal {stop.signum}", flush=True)
        return 128 + stop.signum
    except engine_errors as error:
        print(f"doorbell-ci: the suite's container could not run: {error}", flush=True)
        return EXIT_ENGINE
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)  # finish the removal even if signalled again
        if container is not None:
            try:
                container.remove(force=True)
            except engine_errors:
                pass  # already gone, or the engine is down; the environment's cleanup retries by label


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m doorbell_ci.environments.docker_exec SPEC.json", file=sys.stderr)
        return 2
    return run(Path(args[0]))


if __name__ == "__main__":
    raise SystemExit(main())
