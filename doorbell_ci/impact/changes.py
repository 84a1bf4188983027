"""What changed between the map's recorded commit and the working tree, as blocks of old lines.

``git diff --no-renames -U0 <commit>`` (committed and uncommitted changes alike) plus untracked
files gives each changed file and the OLD line ranges its hunks touch. A Python file's ranges
are then widened to blocks with ``ast`` on the OLD text, the text the map's lines refer to:

* a change inside a function or method body -> that whole function (innermost one);
* a change at module or class level, in a decorator or a signature -> the whole file: default
  values, decorators and module constants run at import time, outside any test, so no test's
  recorded lines show who depends on them.

An insertion between two old lines touches both neighbours. Rename detection is off: a rename
is a deletion plus an addition, which the rules below treat soundly on both sides.
"""

from __future__ import annotations

import ast
import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

GIT_TIMEOUT = 120.0
WHOLE_FILE: tuple[tuple[int, int], ...] = ((1, 10_000_000),)


class GitError(Exception):
    """A git command that failed; its message is one line for a full-run reason."""


@dataclass
class ChangedFile:
    path: str  # project-relative posix path ("../x" when outside the project folder)
    kind: str  # "modified" | "added" | "deleted"
    old_ranges: tuple[tuple[int, int], ...] = ()  # lines of the OLD text touched by the change
    blocks: tuple[tuple[int, int], ...] = ()  # old_ranges widened to blocks; WHOLE_FILE for a file-wide change
    new_ranges: tuple[tuple[int, int], ...] = ()  # lines of the NEW text (for the reports)
    why_whole: str = ""  # why the whole file counts as changed

    @property
    def whole(self) -> bool:
        return self.blocks == WHOLE_FILE


@dataclass
class Changes:
    base: str
    head: str
    files: list[ChangedFile] = field(default_factory=list)

    def by_path(self) -> dict[str, ChangedFile]:
        return {changed.path: changed for changed in self.files}


def git(project: Path, *args: str, check: bool = True, binary: bool = False) -> str | bytes:
    try:
        done = subprocess.run(["git", "-C", str(project), "-c", "core.quotepath=off", *args],
                              capture_output=True, timeout=GIT_TIMEOUT, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} took longer than {GIT_TIMEOUT:g} s") from None
    if check and done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout if binary else done.stdout.decode("utf-8", "surrogateescape")


def head_commit(project: Path) -> str:
    try:
        text = str(git(project, "rev-parse", "HEAD")).strip()
    except GitError:
        return ""
    return text if len(text) <= 64 and text.isalnum() else ""


def is_dirty(project: Path) -> bool:
    """Tracked files differ from HEAD (untracked ones do not count: they are listed as added)."""
    try:
        return bool(str(git(project, "status", "--porcelain", "--untracked-files=no", "--", ".")).strip())
    except GitError:
        return True


def commit_problem(project: Path, commit: str, max_commits: int) -> str | None:
    """Why ``commit`` cannot be diffed against: unknown here, or too far back; None when usable."""
    if not commit:
        return "the map was recorded outside a git checkout"
    exists = subprocess.run(["git", "-C", str(project), "cat-file", "-e", f"{commit}^{{commit}}"],
                            capture_output=True, timeout=GIT_TIMEOUT, check=False)
    if exists.returncode != 0:
        return (f"the map's commit {commit[:12]} is not in this clone (a shallow clone? fetch more history, "
                "e.g. actions/checkout with fetch-depth: 0)")
    try:
        behind = int(str(git(project, "rev-list", "--count", f"{commit}..HEAD")).strip() or 0)
    except (GitError, ValueError) as error:
        return f"cannot count the commits since the map's commit {commit[:12]}: {error}"
    if behind > max_commits:
        return f"the map is {behind} commits behind HEAD (impact_max_commits is {max_commits})"
    return None


def sha1_of(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


# --- the diff ------------------------------------------------------------------------------------


def _to_project(path: str, prefix: str) -> str:
    """A repository-relative path as project-relative; ``../`` prefixed when outside the project."""
    if not prefix:
        return path
    if path.startswith(prefix):
        return path[len(prefix):]
    depth = prefix.rstrip("/").count("/") + 1
    return "../" * depth + path


def parse_name_status(text: str) -> list[tuple[str, str]]:
    """``git diff --name-status -z`` -> [(status letter, path)]; renames are off, so one path each."""
    parts = text.split("\0")
    entries = []
    for index in range(0, len(parts) - 1, 2):
        status, path = parts[index], parts[index + 1]
        if status:
            entries.append((status[0], path))
    return entries


def parse_hunks(diff: str) -> list[tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...], list[str]]]:
    """Per file section of a ``-U0`` diff, in order: (old ranges, new ranges, changed text lines).

    An insertion after old line ``a`` (``-a,0``) touches lines ``a`` and ``a + 1``: the code on both
    sides of the new lines. A deletion of ``-a,n`` touches ``a .. a+n-1``.
    """
    sections: list[tuple[list[tuple[int, int]], list[tuple[int, int]], list[str]]] = []
    for line in diff.split("\n"):
        if line.startswith("diff --git "):
            sections.append(([], [], []))
        elif line.startswith("@@ ") and sections:
            header = line.split("@@")[1].split()
            old_start, _, old_count = header[0][1:].partition(",")
            new_start, _, new_count = header[1][1:].partition(",")
            first, count = int(old_start), int(old_count) if old_count else 1
            if count == 0:
                sections[-1][0].append((max(1, first), first + 1))
            else:
                sections[-1][0].append((first, first + count - 1))
            start, added = int(new_start), int(new_count) if new_count else 1
            if added:
                sections[-1][1].append((start, start + added - 1))
        elif sections and line[:1] in "+-" and not line.startswith(("+++ ", "--- ")):
            sections[-1][2].append(line[1:])
    return [(tuple(old), tuple(new), text) for old, new, text in sections]


def find_changes(project: Path, base: str) -> Changes:
    """Every file that differs between ``base`` and the working tree (untracked files included)."""
    prefix = str(git(project, "rev-parse", "--show-prefix")).strip()
    top = Path(str(git(project, "rev-parse", "--show-toplevel")).strip())
    status = parse_name_status(str(git(top, "diff", "--no-renames", "--name-status", "-z", base, "--")))
    diff = str(git(top, "diff", "--no-renames", "-U0", "--no-color", "--no-ext-diff", "--text", base, "--"))
    hunks = parse_hunks(diff)
    changes = Changes(base=base, head=head_commit(project))
    if len(hunks) != len(status):  # one "diff --git" section per entry; anything else is not understood
        for letter, path in status:
            changes.files.append(ChangedFile(_to_project(path, prefix), _kind(letter), (), WHOLE_FILE,
                                             why_whole="the diff could not be read hunk by hunk"))
    else:
        for (letter, path), (old, new, _text) in zip(status, hunks, strict=True):
            # even a blank line counts: inside a multi-line string it is part of a value
            changes.files.append(ChangedFile(_to_project(path, prefix), _kind(letter), old, old or WHOLE_FILE, new,
                                             why_whole="" if old else "a binary or mode-only change"))
    untracked = str(git(top, "ls-files", "--others", "--exclude-standard", "-z", "--", "."))
    for path in untracked.split("\0"):
        if path:
            changes.files.append(ChangedFile(_to_project(path, prefix), "added", (), WHOLE_FILE, why_whole="new file"))
    for changed in changes.files:
        if changed.kind in ("added", "deleted"):
            changed.blocks = WHOLE_FILE
            changed.why_whole = changed.why_whole or f"{changed.kind} file"
    return changes


def _kind(letter: str) -> str:
    return {"A": "added", "D": "deleted"}.get(letter, "modified")


def old_text(project: Path, base: str, path: str) -> bytes | None:
    """The file's bytes at ``base`` (``path`` project-relative), or None when it did not exist there."""
    try:
        data = git(project, "cat-file", "blob", f"{base}:./{path}", binary=True)
    except GitError:
        return None
    return data if isinstance(data, bytes) else None


# --- blocks --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    first: int  # the def line (decorators excluded)
    last: int
    body_first: int  # first line of the body: a change before it is in the signature


def function_blocks(source: bytes) -> list[Block] | None:
    """Every function and method of ``source``, outermost first; None when it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    blocks = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
            blocks.append(Block(node.lineno, node.end_lineno, node.body[0].lineno))
    return blocks


def widen(old_ranges: tuple[tuple[int, int], ...], blocks: list[Block]) -> tuple[tuple[tuple[int, int], ...], str]:
    """The changed ranges as whole functions; WHOLE_FILE (and why) when a range leaves a function body."""
    widened: set[tuple[int, int]] = set()
    for first, last in old_ranges:
        for line in range(first, last + 1):
            inner = [b for b in blocks if b.body_first <= line <= b.last]
            if not inner:
                signature = any(b.first <= line < b.body_first for b in blocks)
                where = "a function's signature or decorator" if signature else "module or class level"
                return WHOLE_FILE, f"line {line} is at {where}"
            innermost = max(inner, key=lambda b: b.first)
            widened.add((innermost.first, innermost.last))
            if last - first > 5_000:  # a huge hunk: the whole file is as precise and far cheaper
                return WHOLE_FILE, "a change of over 5,000 lines"
    return tuple(sorted(widened)), ""


def to_blocks(project: Path, changes: Changes, recorded_sha: dict[str, str]) -> None:
    """Widen each modified Python file's old ranges to function blocks, in place.

    The old text must be the very text the map recorded (its sha1 in the map): a map recorded
    from a dirty tree, or a file git cannot show, counts as changed as a whole.
    """
    for changed in changes.files:
        if changed.kind != "modified" or not changed.path.endswith(".py") or not changed.blocks:
            continue
        if changed.whole:
            continue
        source = old_text(project, changes.base, changed.path)
        if source is None:
            changed.blocks, changed.why_whole = WHOLE_FILE, "its old text could not be read"
            continue
        if changed.path in recorded_sha and recorded_sha[changed.path] != sha1_of(source):
            changed.blocks, changed.why_whole = WHOLE_FILE, "the map was recorded from a different text of it"
            continue
        blocks = function_blocks(source)
        if blocks is None:
            changed.blocks, changed.why_whole = WHOLE_FILE, "its old text does not parse"
            continue
        changed.blocks, changed.why_whole = widen(changed.old_ranges, blocks)


def drift(project: Path, changes: Changes, recorded_sha: dict[str, str]) -> None:
    """Files the map measured whose bytes now differ though git shows no change (a dirty recording)."""
    listed = {changed.path for changed in changes.files}
    for path, sha in recorded_sha.items():
        if path in listed:
            continue
        try:
            current = sha1_of((project / PurePosixPath(path)).read_bytes())
        except FileNotFoundError:
            changes.files.append(ChangedFile(path, "deleted", (), WHOLE_FILE, why_whole="deleted since recorded"))
            continue
        except OSError:
            current = ""
        if current != sha:
            changes.files.append(ChangedFile(path, "modified", (), WHOLE_FILE,
                                             why_whole="differs from the text the map recorded"))
