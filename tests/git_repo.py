"""Real git repositories for the impact tests: a folder of files, committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True,  # noqa: S603
                          timeout=60).stdout.strip()


def commit_files(root: Path, files: dict[str, str], message: str, init: bool = False) -> None:
    """Write ``files`` (relative path -> text) under ``root`` and commit everything there as ``message``."""
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    if init:
        git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
