"""The Docker environment: each suite in its own container, through the Docker SDK (never the CLI).

``prepare`` checks the engine, makes the run's temp tree (the same one the local environment
uses, see ``tree.py``), finds or builds the test image (``images.py``; cached by a hash of its
inputs), creates a per-run network and starts the declared service containers, waiting until
each is ready. ``command`` returns a host-side helper (``docker_exec``) that runs the suite's
container, so the execution layer's timeouts and interrupts reach the container through an
ordinary process. ``cleanup`` removes containers and the network by the run's label, and the tree.

Paths: the project, the tree and the run's result folder are mounted at the *same* paths
inside the container, so the plan's pytest arguments, the generated test config and coverage
data all name host paths and need no translation. Results are written into a staging folder
mounted at the output folder's path and copied into the real output folder by ``collect``; the
real output folder is never writable from inside a container.

Every container: no privileged mode, all capabilities dropped, no-new-privileges, a non-root
user where the image allows, CPU / memory / pids limits, labels with the run id.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

from doorbell_ci import nofollow
from doorbell_ci.config import Config
from doorbell_ci.environments import images, reaper
from doorbell_ci.environments.base import SuiteCommand, leftovers_report_name
from doorbell_ci.environments.images import (
    MANAGED_LABEL,
    OWNER_LABEL,
    ROLE_LABEL,
    ROOT_LABEL,
    RUN_LABEL,
    ImageChoice,
    Mount,
)
from doorbell_ci.environments.settings import TABLE, EnvironmentSettings, ServiceSettings, parse_settings
from doorbell_ci.environments.tree import EnvironmentTree, create_tree, owner_label, remove_tree
from doorbell_ci.errors import EnvironmentError_
from doorbell_ci.plan import Plan, PlannedSuite, pytest_arguments, suite_environment

# doorbell-ci itself (for its pytest progress plugin) is mounted at its host path, like everything else
PACKAGE_DIR = Path(__file__).resolve().parents[1]
READY_POLL = 0.5


def engine_errors() -> tuple[type[BaseException], ...]:
    """What a failing engine raises: the SDK's errors, and requests' connection errors it lets through."""
    import docker.errors
    import requests.exceptions

    return (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


def connect() -> Any:
    """A client for a reachable engine, or one clear EnvironmentError_."""
    import docker
    import docker.errors

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except engine_errors() as error:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        reason = str(error).split("(")[0].strip().rstrip(":") or type(error).__name__
        raise EnvironmentError_(
            f"no reachable Docker engine at {where} ({reason}); start the Docker daemon, "
            "set DOCKER_HOST, or use --environment local"
        ) from None
    return client


class DockerEnvironment:
    name = "docker"

    def __init__(self, config: Config, keep: bool = False) -> None:
        self.config = config
        self.keep = keep or bool(getattr(config, "keep_env", False))
        self.base = str(getattr(config, "docker_base", "python"))
        self.settings: EnvironmentSettings = parse_settings(config.tables.get(TABLE))
        self.client: Any = None
        self.tree: EnvironmentTree | None = None
        self.image: ImageChoice | None = None
        self.user = ""
        self.network_name: str | None = None
        self.services: list[dict[str, Any]] = []
        self.engine_version = ""
        self.cleanup_problem: str | None = None
        self._collect_lock = threading.Lock()
        self._plan: Plan | None = None

    # --- prepare --------------------------------------------------------------------------------

    def prepare(self, plan: Plan) -> None:
        self._plan = plan
        self.client = connect()  # before anything is created: no engine, nothing half-made
        try:
            self.engine_version = str(self.client.version().get("Version", ""))
            self.tree = create_tree(plan.run_id, plan.project, self.settings)
            self.image = images.ensure_test_image(self.client, plan.project, self.settings.docker, self.base)
            declared = images.image_user(self.client, self.image.tag)
            self.user = images.container_user(self.settings.docker.user, declared)
            (self.tree.root / "output").mkdir()
            (self.tree.root / "specs").mkdir()
            for folder in ("junit", "logs", "coverage"):
                (self.tree.root / "output" / folder).mkdir()
            self._hand_tree_to_container_user()
            self._create_network(plan)
            for service in self.settings.docker.services:
                self._start_service(plan, service)
        except BaseException as error:
            self.cleanup(force=True)
            if isinstance(error, EnvironmentError_ | KeyboardInterrupt):
                raise
            if isinstance(error, engine_errors()):
                raise EnvironmentError_(f"could not prepare the Docker test environment: {error}") from None
            raise

    def _labels(self, role: str) -> dict[str, str]:
        assert self._plan is not None and self.tree is not None
        return {
            MANAGED_LABEL: "true",
            RUN_LABEL: self._plan.run_id,
            ROLE_LABEL: role,
            ROOT_LABEL: str(self.tree.root),
            f"{images.LABEL_PREFIX}.project": str(self._plan.project),
            OWNER_LABEL: owner_label(),
        }

    def _hand_tree_to_container_user(self, top: Path | None = None) -> None:
        """When the host user is root and the container user is not, the tree must be theirs."""
        assert self.tree is not None
        top = top or self.tree.root
        if not hasattr(os, "getuid") or os.getuid() != 0 or self.user in {"root", "0", "0:0"}:
            return
        uid_text, _, gid_text = self.user.partition(":")
        if not uid_text.isdigit():
            return  # a user name: only the image knows its uid; the tree stays root-owned
        uid, gid = int(uid_text), int(gid_text) if gid_text.isdigit() else int(uid_text)
        os.chown(top, uid, gid, follow_symlinks=False)
        for path, folders, entries, dir_fd in nofollow.walk(top):  # a link a container made is never followed
            for name in folders + entries:
                if dir_fd is not None:
                    os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
                else:
                    os.chown(os.path.join(path, name), uid, gid, follow_symlinks=False)

    def _create_network(self, plan: Plan) -> None:
        name = f"doorbell-ci-{plan.run_id}"
        self.client.networks.create(name, driver="bridge", labels=self._labels("network"))
        self.network_name = name

    def _start_service(self, plan: Plan, service: ServiceSettings) -> None:
        assert self.image is not None and self.tree is not None
        image = service.image or self.image.tag
        options: dict[str, Any] = {
            "image": image,
            "command": list(service.command) if service.command else None,
            "environment": dict(service.env),
            "name": f"doorbell-ci-{plan.run_id}-{service.name}",
            "hostname": service.name,
            "labels": self._labels("service"),
            "detach": True,
            "privileged": False,
            "security_opt": ["no-new-privileges"],
            "mem_limit": self.settings.docker.memory,
            "pids_limit": self.settings.docker.pids,
            "network": self.network_name,
            # the service is reachable from the suites by its name
            "networking_config": {self.network_name: self.client.api.create_endpoint_config(aliases=[service.name])},
        }
        if image == self.image.tag:
            options["mounts"] = self._docker_mounts(self.image.runtime_mounts)
            options["user"] = self.user
        container = self.client.containers.create(**options)
        container.start()
        started = time.monotonic()
        self._wait_until_ready(container, service)
        self.services.append({"name": service.name, "image": image,
                              "ready_seconds": round(time.monotonic() - started, 3)})

    def _wait_until_ready(self, container: Any, service: ServiceSettings) -> None:
        deadline = time.monotonic() + service.ready_timeout
        last = ""
        while time.monotonic() < deadline:
            container.reload()
            state = container.attrs.get("State", {})
            if state.get("Status") in {"exited", "dead"}:
                logs = container.logs(tail=5).decode("utf-8", "replace").strip().replace("\n", " | ")
                raise EnvironmentError_(
                    f"service {service.name!r} stopped with exit code {state.get('ExitCode')} before it was "
                    f"ready: {logs[:300]}"
                )
            if service.ready:
                result = container.exec_run(list(service.ready), user=container.attrs["Config"].get("User") or "")
                if result.exit_code == 0:
                    return
                last = result.output.decode("utf-8", "replace").strip()[-200:]
            else:
                health = state.get("Health", {}).get("Status")
                if health in {None, "healthy"} and state.get("Status") == "running":
                    return
            time.sleep(READY_POLL)
        raise EnvironmentError_(
            f"service {service.name!r} was not ready after {service.ready_timeout:g}s"
            + (f" (its ready command last said: {last})" if last else "")
            + "; raise ready_timeout or check the service's image and command"
        )

    # --- per suite ------------------------------------------------------------------------------

    def _docker_mounts(self, extra: tuple[Mount, ...] = ()) -> list[Any]:
        from docker.types import Mount as DockerMount

        return [DockerMount(m.target, m.source, type="bind", read_only=m.read_only) for m in extra]

    def _mounts(self) -> list[Mount]:
        assert self._plan is not None and self.tree is not None and self.image is not None
        plan = self._plan
        return [
            *self.image.runtime_mounts,
            Mount(str(plan.project), str(plan.project), read_only=self.settings.docker.project_read_only),
            Mount(str(self.tree.root), str(self.tree.root), read_only=False),
            Mount(str(self.tree.root / "output"), str(plan.output_dir), read_only=False),
            Mount(str(PACKAGE_DIR), str(PACKAGE_DIR), read_only=True),
        ]

    def spec(self, suite: PlannedSuite) -> dict[str, Any]:
        """Everything the helper needs to run ``suite``'s container (written as JSON)."""
        assert self._plan is not None and self.tree is not None and self.image is not None
        plan = self._plan
        environment = {**self.tree.variables, **suite_environment(suite, plan.output_dir)}
        inherited = [environment["PYTHONPATH"]] if environment.get("PYTHONPATH") else []
        environment["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_DIR.parent), *inherited])
        if suite.config.command is not None:
            command = list(suite.config.command)
        else:
            command = [self.image.python, "-m", "pytest",
                       *pytest_arguments(suite, plan.project, plan.output_dir, plan.coverage_source)]
        cpus = self.settings.docker.cpus or float(min(suite.cost, plan.cores))
        # under the watchdog inside the container too: the container's end kills every process in it, but
        # the watchdog names what the suite left running (report read by execution.container_leftovers)
        report = plan.output_dir / leftovers_report_name(suite.name)
        command = reaper.watched(self.image.python, f"file:{report}", 3.0, command)
        return {
            "image": self.image.tag,
            "command": command,
            "environment": environment,
            "mounts": [{"source": m.source, "target": m.target, "read_only": m.read_only} for m in self._mounts()],
            "user": self.user,
            "network": self.network_name,
            "labels": {**self._labels("suite"), f"{images.LABEL_PREFIX}.suite": suite.name},
            "name": f"doorbell-ci-{plan.run_id}-{suite.name}",
            "working_dir": str(plan.project),
            "nano_cpus": int(cpus * 1e9),
            "mem_limit": self.settings.docker.memory,
            "pids_limit": self.settings.docker.pids,
        }

    def command(self, suite: PlannedSuite) -> SuiteCommand:
        assert self._plan is not None and self.tree is not None, "prepare() first"
        spec_path = self.tree.root / "specs" / f"{suite.name}.json"
        spec_path.write_text(json.dumps(self.spec(suite), indent=2), encoding="utf-8")
        if suite.selection:  # node ids chosen on the host (--shard, reruns): the container reads its output folder
            staged = self.tree.root / "output" / suite.selection
            staged.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self._plan.output_dir / suite.selection, staged)
            self._hand_tree_to_container_user(self.tree.root / "output")  # new folders must stay writable
        return SuiteCommand(argv=[sys.executable, "-m", "doorbell_ci.environments.docker_exec", str(spec_path)],
                            cwd=self._plan.project)

    def collect(self, suite: PlannedSuite) -> None:
        """Copy everything the containers wrote into the staging folder over to the output folder.

        Not a list of known names: whatever a suite writes under the output folder's path (JUnit
        XML, progress events, coverage data, perf samples, collected node ids, files of later
        stages) must arrive. Files already copied and unchanged are skipped; copies go through a
        temporary name, so a reader never sees half a file, under a lock, since suites finish on
        different threads.
        """
        assert self._plan is not None
        if self.tree is None:
            return
        staging, output = self.tree.root / "output", self._plan.output_dir
        with self._collect_lock:
            # The staging folder is shared with every container of the run, some maybe still running:
            # walked through directory descriptors, files opened with O_NOFOLLOW, so neither a link
            # nor a folder swapped for one mid-walk reaches a host file.
            for path, _folders, entries, dir_fd in nofollow.walk(staging):
                for name in sorted(entries):
                    try:
                        source, info = nofollow.open_regular(name, dir_fd, path)
                    except OSError:
                        continue  # a link, a FIFO, a socket: could point anywhere on the host
                    with source:
                        target = output / Path(path).relative_to(staging) / name
                        try:
                            known = target.lstat()
                            if (known.st_size, known.st_mtime_ns) == (info.st_size, info.st_mtime_ns):
                                continue
                        except OSError:
                            pass
                        target.parent.mkdir(parents=True, exist_ok=True)
                        partial = target.with_name(f".{target.name}.doorbell-ci-partial")
                        with open(partial, "wb") as copy:
                            shutil.copyfileobj(source, copy)
                        os.utime(partial, ns=(info.st_atime_ns, info.st_mtime_ns))
                        os.replace(partial, target)

    # --- cleanup --------------------------------------------------------------------------------

    def cleanup(self, force: bool = False) -> None:
        """Remove this run's containers and network (always) and its tree (unless kept)."""
        if self.client is not None and self._plan is not None:
            try:
                remove_labelled(self.client, {RUN_LABEL: self._plan.run_id})
            except engine_errors() as error:  # the engine went away: keep the results anyway
                self.cleanup_problem = (f"could not remove this run's containers/network ({error}); "
                                        f"run `doorbell-ci env cleanup --run-id {self._plan.run_id}`")
                print(f"doorbell-ci: warning: {self.cleanup_problem}", flush=True)
            self.client.close()
            self.client = None
        self.network_name = None
        if self.tree is None:
            return
        if self.keep and not force:
            print(f"doorbell-ci: kept the test environment at {self.tree.root} (--keep-env)", flush=True)
            return
        remove_tree(self.tree.root)
        self.tree = None

    def describe(self) -> dict[str, Any]:
        docker_settings = self.settings.docker
        return {
            "kind": self.name,
            "engine": self.engine_version or None,
            "image": self.image.tag if self.image else None,
            "image_recipe": self.image.recipe if self.image else None,
            "image_built": self.image.built if self.image else None,
            "image_seconds": round(self.image.seconds, 3) if self.image else None,
            "base": self.base,
            "python": self.image.python if self.image else None,
            "user": self.user or None,
            "limits": {"cpus": docker_settings.cpus or "suite share", "memory": docker_settings.memory,
                       "pids": docker_settings.pids},
            "services": self.services,
            "config_env_var": self.settings.config_env_var,
            "root": str(self.tree.root) if self.keep and self.tree is not None else None,
            "kept": self.keep,
            "cleanup_problem": self.cleanup_problem,
        }


def remove_labelled(client: Any, labels: dict[str, str]) -> dict[str, int]:
    """Force-remove containers, then networks, carrying all of ``labels``. Returns what was removed."""
    import docker.errors

    filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
    removed = {"containers": 0, "networks": 0}
    for container in client.containers.list(all=True, filters=filters):
        try:
            container.remove(force=True)
            removed["containers"] += 1
        except docker.errors.NotFound:
            pass
    for network in client.networks.list(filters=filters):
        try:
            network.remove()
            removed["networks"] += 1
        except docker.errors.NotFound:
            pass
    return removed
