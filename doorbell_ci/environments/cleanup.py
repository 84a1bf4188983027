"""``doorbell-ci env cleanup``: remove what crashed runs left behind.

A run cleans up after itself on success, failure, timeout, Ctrl-C and SIGTERM; only a run that
was SIGKILLed (or whose machine lost power) can leave containers, networks or temp trees. They
are found by the labels every Docker object of a run carries, and by the ``owner.json`` file
in every temp tree: anything whose owning doorbell-ci process is gone is removed. Objects of a
run that is still going are left alone unless ``--all`` is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from doorbell_ci.environments.images import MANAGED_LABEL, OWNER_LABEL, RUN_LABEL
from doorbell_ci.environments.tree import orphaned_trees, owner_alive, remove_tree


def register_commands(subparsers: Any) -> None:
    env = subparsers.add_parser("env", help="manage test environments (cleanup of crashed runs)",
                                description="Manage doorbell-ci's test environments.")
    actions = env.add_subparsers(dest="env_command", required=True, metavar="ACTION")
    cleanup = actions.add_parser(
        "cleanup", help="remove containers, networks and temp folders left by crashed runs",
        description="Remove Docker containers and networks labelled by doorbell-ci and temp trees whose "
                    "run is no longer alive. Live runs are left alone unless --all is given.")
    cleanup.add_argument("--run-id", help="only this run's objects (its run id from report.json)")
    cleanup.add_argument("--all", action="store_true", help="also remove objects of runs that are still going")
    cleanup.add_argument("--images", action="store_true",
                         help="also remove the cached test images and the offline base image")
    cleanup.add_argument("--no-docker", action="store_true", help="only remove temp folders; do not contact Docker")
    cleanup.add_argument("--temp-dir", type=Path, default=None, help=argparse.SUPPRESS)  # tests: another temp root
    cleanup.set_defaults(handler=_cleanup)


def _cleanup(args: argparse.Namespace) -> int:
    trees = [tree for tree in orphaned_trees(args.temp_dir) if args.run_id is None or args.run_id in tree.name]
    for tree in trees:
        remove_tree(tree)
    print(f"temp folders removed: {len(trees)}")
    if args.no_docker:
        return 0
    from doorbell_ci.environments.docker import connect  # raises one clear EnvironmentError_ without an engine

    counts = cleanup_docker(connect(), run_id=args.run_id, include_live=args.all, images=args.images)
    print(f"containers removed: {counts['containers']}")
    print(f"networks removed: {counts['networks']}")
    if args.images:
        print(f"images removed: {counts['images']}")
    return 0


def cleanup_docker(client: Any, run_id: str | None = None, include_live: bool = False,
                   images: bool = False) -> dict[str, int]:
    """Remove labelled containers, then networks (a network in use cannot go first), then images."""
    import docker.errors

    labels = [f"{MANAGED_LABEL}=true"] + ([f"{RUN_LABEL}={run_id}"] if run_id else [])
    counts = {"containers": 0, "networks": 0, "images": 0}

    def abandoned(item_labels: dict[str, str]) -> bool:
        return include_live or not owner_alive(item_labels.get(OWNER_LABEL, ""))

    for container in client.containers.list(all=True, filters={"label": labels}):
        if abandoned(container.labels):
            try:
                container.remove(force=True)
                counts["containers"] += 1
            except docker.errors.NotFound:
                pass
    for network in client.networks.list(filters={"label": labels}):
        if abandoned(network.attrs.get("Labels") or {}):
            try:
                network.remove()
                counts["networks"] += 1
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError:
                pass  # still used by a container of a live run
    if images and run_id is None:
        # the test images and the offline base (labelled through the import's LABEL change)
        for image in client.images.list(filters={"label": f"{MANAGED_LABEL}=true"}):
            try:
                client.images.remove(image.id, force=True)
                counts["images"] += 1
            except docker.errors.APIError:
                pass
    return counts
