"""The per-run temporary tree both environments give the tests.

::

    doorbell-ci-<run id>-XXXX/
        data/ (known_faces/, blacklist_faces/)   logs/   config/<test config>   fixtures/
        home/   tmp/   xdg/{config,cache,data,state}/   owner.json

HOME, TMPDIR and the XDG folders point inside it, so nothing a test writes lands in the user's
real home or in another run's files. ``owner.json`` names the process that made the tree;
``doorbell-ci env cleanup`` removes trees whose owner is gone (a run killed with SIGKILL).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil

from doorbell_ci import nofollow
from doorbell_ci.environments import testconfig
from doorbell_ci.environments.settings import EnvironmentSettings

TREE_PREFIX = "doorbell-ci-"
OWNER_FILE = "owner.json"
FOLDERS = (
    "data/known_faces", "data/blacklist_faces", "logs", "config", "fixtures", "home", "tmp",
    "xdg/config", "xdg/cache", "xdg/data", "xdg/state", "appdata/roaming", "appdata/local",
)


@dataclass(frozen=True)
class EnvironmentTree:
    root: Path
    config_path: Path
    variables: dict[str, str]  # what the suites get: HOME, TMPDIR, XDG_*, the config variable


def create_tree(run_id: str, project: Path, settings: EnvironmentSettings,
                parent: Path | None = None) -> EnvironmentTree:
    """Make the tree, copy the fixtures, write the test config. Removes what it made if it fails."""
    # Short on purpose: tests make Unix sockets deep inside the tree (108-byte AF_UNIX limit);
    # the owner file, not the name, says which run a tree belongs to.
    root = Path(tempfile.mkdtemp(prefix=f"{TREE_PREFIX}{run_id[-8:]}-", dir=parent or base_temp_folder()))
    try:
        for folder in FOLDERS:
            (root / folder).mkdir(parents=True, exist_ok=True)
        _write_owner(root, run_id)
        fixtures = project / settings.fixtures
        if fixtures.is_dir():
            # symlinks are copied as links, never followed out of the project
            shutil.copytree(fixtures, root / "fixtures", symlinks=True, dirs_exist_ok=True)
        places = {
            "root": str(root), "data": str(root / "data"), "logs": str(root / "logs"),
            "config": str(root / "config"), "fixtures": str(root / "fixtures"), "home": str(root / "home"),
            "tmp": str(root / "tmp"), "project": str(project), "run_id": run_id,
        }
        config_path = testconfig.write(testconfig.build(settings.test_config, places), root / settings.config_file)
        extra = {name: testconfig.render(value, places, f"env.{name}") for name, value in settings.env.items()}
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    tmp = str(root / "tmp")
    variables = {
        "HOME": str(root / "home"),
        "USERPROFILE": str(root / "home"),
        "TMPDIR": tmp,
        "TEMP": tmp,
        "TMP": tmp,
        "XDG_CONFIG_HOME": str(root / "xdg/config"),
        "XDG_CACHE_HOME": str(root / "xdg/cache"),
        "XDG_DATA_HOME": str(root / "xdg/data"),
        "XDG_STATE_HOME": str(root / "xdg/state"),
        # Windows keeps per-user settings and caches here, not under HOME (platformdirs, pip, ...)
        "APPDATA": str(root / "appdata/roaming"),
        "LOCALAPPDATA": str(root / "appdata/local"),
        "DOORBELL_CI_ENV_ROOT": str(root),
        "DOORBELL_CI_FIXTURES": str(root / "fixtures"),
        settings.config_env_var: str(config_path),
        **extra,
    }
    return EnvironmentTree(root=root, config_path=config_path, variables=variables)


def base_temp_folder() -> Path:
    """Where run trees go: the temp folder, except on macOS, whose per-user /var/folders/.../T/ is so
    long that a Unix socket a test makes inside the tree passes the 104-byte AF_UNIX path limit."""
    if sys.platform == "darwin" and os.path.isdir("/tmp"):
        return Path("/tmp")
    return Path(tempfile.gettempdir())


def _write_owner(root: Path, run_id: str) -> None:
    process = psutil.Process(os.getpid())
    owner = {"run_id": run_id, "pid": process.pid, "create_time": process.create_time()}
    (root / OWNER_FILE).write_text(json.dumps(owner), encoding="utf-8")


def remove_tree(root: Path) -> None:
    """Remove the tree even when a test left read-only folders in it, never touching anything outside.

    The tests wrote the tree, so any entry may be a link to a file that is not ours. shutil.rmtree
    works through directory descriptors and unlinks links without following them; folders a test
    made unreadable (``chmod 000``) are first given ``u+rwx`` by :func:`nofollow.walk`, which opens
    each folder through its parent and never changes a link's target (the old error handler
    chmodded whatever a link pointed at).
    """
    if root.is_symlink() or not root.is_dir():
        return
    nofollow.make_owner_accessible(root.name, None, str(root.parent))
    try:
        for _path, _folders, _entries, _dir_fd in nofollow.walk(root):
            pass
    except OSError:
        pass
    shutil.rmtree(root, ignore_errors=True)


def orphaned_trees(parent: Path | None = None) -> list[Path]:
    """Trees in the temp folder whose owning process no longer runs (left by a killed run)."""
    folder = Path(parent or base_temp_folder())
    orphans = []
    for candidate in folder.glob(f"{TREE_PREFIX}*"):
        owner_file = candidate / OWNER_FILE
        if not candidate.is_dir() or candidate.is_symlink() or not owner_file.is_file():
            continue  # not ours: we only ever remove folders carrying our owner file
        try:
            owner = json.loads(owner_file.read_text(encoding="utf-8"))
            pid, created = int(owner["pid"]), float(owner["create_time"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not _process_alive(pid, created):
            orphans.append(candidate)
    return sorted(orphans)


def owner_label() -> str:
    """This process as ``pid:create time``, so a later cleanup can tell a live run from a dead one."""
    process = psutil.Process(os.getpid())
    return f"{process.pid}:{process.create_time():.3f}"


def owner_alive(label: str) -> bool:
    pid, _, created = label.partition(":")
    try:
        return _process_alive(int(pid), float(created))
    except ValueError:
        return False  # unreadable: not a live run of ours


def _process_alive(pid: int, create_time: float) -> bool:
    try:
        return abs(psutil.Process(pid).create_time() - create_time) < 1.0
    except psutil.Error:
        return False
