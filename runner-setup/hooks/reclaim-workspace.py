#!/usr/bin/python3
"""Give the runner user back every file in its work folder that someone else owns.

A container job runs as root inside the container, and what it writes to the mounted workspace
(``__pycache__``, test results, a build folder) stays owned by root on the Pi. The runner user
cannot remove it, so the next checkout fails: the known failure of runner cleanup
(actions/runner#434). The job hooks run as the runner user and call this helper through one
sudoers rule that allows it with no arguments; it reads the work folder and the user from the
root-owned ``settings`` file install-runner.sh wrote next to it, so a job cannot point it anywhere.

A job may call it too, while its own processes swap folders for symlinks. Every step therefore
works relative to a folder opened with ``O_NOFOLLOW`` (``os.fwalk``, ``dir_fd``,
``follow_symlinks=False``): a symlink is re-owned as a link, never followed, and a folder swapped
for a symlink after it was listed is not entered. Nothing is changed outside the work folder's
file system (``st_dev``).
"""

from __future__ import annotations

import os
import pwd
import stat
import sys
from pathlib import Path

SETTINGS = Path(__file__).resolve().parents[1] / "settings"


def settings() -> dict[str, str]:
    """KEY=value lines of the root-owned settings file; refused unless root owns it and only root can write it."""
    info = os.stat(SETTINGS, follow_symlinks=False)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise SystemExit(f"reclaim-workspace: {SETTINGS} must be a regular file owned and only writable by root")
    pairs = (line.partition("=") for line in SETTINGS.read_text(encoding="utf-8").splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, _, value in pairs}


def reclaim(work: str, uid: int, gid: int) -> int:
    """Re-own everything below ``work`` that ``uid`` does not own; the count of entries changed."""
    top = os.open(work, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        device = os.fstat(top).st_dev
        changed = 0
        for _folder, dirs, files, folder_fd in os.fwalk(dir_fd=top, follow_symlinks=False):
            for name in [*dirs, *files]:
                try:
                    info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if info.st_dev != device:
                    dirs[:] = [d for d in dirs if d != name]  # a mount inside the workspace: leave it alone
                    continue
                if info.st_uid != uid or info.st_gid != gid:
                    os.chown(name, uid, gid, dir_fd=folder_fd, follow_symlinks=False)
                    changed += 1
                if stat.S_ISDIR(info.st_mode) and not info.st_mode & stat.S_IWUSR:
                    os.chmod(name, stat.S_IMODE(info.st_mode) | stat.S_IRWXU, dir_fd=folder_fd)  # so it can be emptied
        return changed
    finally:
        os.close(top)


def main() -> int:
    if len(sys.argv) > 1:
        raise SystemExit("reclaim-workspace: takes no arguments (the work folder comes from its settings file)")
    if os.geteuid() != 0:
        raise SystemExit("reclaim-workspace: must run as root (the hooks call it through sudo)")
    config = settings()
    user = pwd.getpwnam(config["RUNNER_USER"])
    work = config["RUNNER_WORK_DIR"]
    if user.pw_uid == 0 or not os.path.isabs(work):
        raise SystemExit("reclaim-workspace: refusing a root runner user or a relative work folder")
    try:
        changed = reclaim(work, user.pw_uid, user.pw_gid)
    except FileNotFoundError:
        return 0  # no work folder yet: nothing to reclaim
    except OSError as error:  # e.g. the work folder replaced by a symlink (ELOOP from O_NOFOLLOW)
        raise SystemExit(f"reclaim-workspace: not reclaiming {work}: {error.strerror or error}") from None
    print(f"reclaim-workspace: {changed} entries in {work} given back to {user.pw_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
