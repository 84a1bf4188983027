"""What changed between the map's recorded commit and the working tree, as blocks of old lines.

``git diff --no-renames -U0 <commit>`` (committed and uncommitted changes alike) plus untracked
files gives each changed file and the OLD line ranges its hunks touch. A Python file's ranges
are then widened to blocks with ``ast`` on the OLD text, the text the map's lines refer to:

* a change inside a function or method body -> that function's body (the innermost one);
* a change at module or class level, in a decorator or a signature -> the whole file: default
  values, decorators and module constants run at import time, outside any test, so no test's
  recorded lines show who depends on them.

An insertion between two old lines touches both neighbours. Rename detection is off: a rename
is a deletion plus an addition, which the rules below treat soundly on both sides.

Then the OLD and the NEW text are compared as code (``compare_code``), since a text change is
not always a code change:

* the same ``ast`` (``ast.dump`` without positions) before and after: comments, blank lines and
  formatting only, so the file changes no behaviour and selects nothing (``same_code``);
* otherwise, when the module bodies pair up statement by statement (same length, same kinds)
  and every pair is either the same code or a function or class whose header (name, decorators,
  signature, bases) is the same code, only the bodies of the functions that differ changed:
  those are the blocks, even where the text at module or class level changed too (a comment
  between two methods, a reformatted signature).

Docstrings and string constants are part of the ``ast``, so changing one is a code change, as is
``__version__ = "..."``. What the ``ast`` leaves out is line numbers and comments: a test that
reads source text (``inspect.getsource``, ``linecache``, a logged ``lineno``) can change outcome
without a code change, which ``--select audit`` reports as a miss (docs/IMPACT.md, Limits).
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
    hunks: tuple[Hunk, ...] = ()
    same_code: bool = False  # the old and new text are the same code (compare_code): no block, no test
    note: str = ""  # a one-line reason the change counts for less than its text says ("comments/formatting only")
    names: tuple[str, ...] = ()  # module-level constants whose value alone changed (compare_code): read by name only

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


@dataclass(frozen=True)
class Hunk:
    """One ``@@ -old_first,old_count +new_first,new_count @@`` of a ``-U0`` diff, with its added lines."""

    old_first: int
    old_count: int
    new_first: int
    new_count: int
    added: tuple[str, ...] = ()

    @property
    def old_range(self) -> tuple[int, int]:
        """The old lines it touches: an insertion after old line ``a`` touches ``a`` and ``a + 1``."""
        if self.old_count == 0:
            return max(1, self.old_first), self.old_first + 1
        return self.old_first, self.old_first + self.old_count - 1


def parse_hunks(diff: str) -> list[list[Hunk]]:
    """The hunks of every file section of a ``-U0`` diff, in order."""
    sections: list[list[Hunk]] = []
    for line in diff.split("\n"):
        if line.startswith("diff --git "):
            sections.append([])
        elif line.startswith("@@ ") and sections:
            header = line.split("@@")[1].split()
            old_start, _, old_count = header[0][1:].partition(",")
            new_start, _, new_count = header[1][1:].partition(",")
            sections[-1].append(Hunk(int(old_start), int(old_count) if old_count else 1,
                                     int(new_start), int(new_count) if new_count else 1))
        elif sections and sections[-1] and line.startswith("+") and not line.startswith("+++ "):
            last = sections[-1][-1]
            sections[-1][-1] = Hunk(last.old_first, last.old_count, last.new_first, last.new_count,
                                    (*last.added, line[1:]))
    return sections


def find_changes(project: Path, base: str) -> Changes:
    """Every file that differs between ``base`` and the working tree (untracked files included)."""
    prefix = str(git(project, "rev-parse", "--show-prefix")).strip()
    top = Path(str(git(project, "rev-parse", "--show-toplevel")).strip())
    status = parse_name_status(str(git(top, "diff", "--no-renames", "--name-status", "-z", base, "--")))
    diff = str(git(top, "diff", "--no-renames", "-U0", "--no-color", "--no-ext-diff", "--text", base, "--"))
    sections = parse_hunks(diff)
    changes = Changes(base=base, head=head_commit(project))
    if len(sections) != len(status):  # one "diff --git" section per entry; anything else is not understood
        for letter, path in status:
            changes.files.append(ChangedFile(_to_project(path, prefix), _kind(letter), (), WHOLE_FILE,
                                             why_whole="the diff could not be read hunk by hunk"))
    else:
        for (letter, path), hunks in zip(status, sections, strict=True):
            old = tuple(hunk.old_range for hunk in hunks)
            new = tuple((h.new_first, h.new_first + h.new_count - 1) for h in hunks if h.new_count)
            # even a blank line counts: inside a multi-line string it is part of a value
            changes.files.append(ChangedFile(_to_project(path, prefix), _kind(letter), old, old or WHOLE_FILE, new,
                                             why_whole="" if old else "a binary or mode-only change",
                                             hunks=tuple(hunks)))
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
    column: int  # the def's indentation: inserted code indented deeper is inside it

    @property
    def body(self) -> tuple[int, int]:
        return self.body_first, self.last


def parse(source: bytes) -> ast.Module | None:
    """The module's ``ast`` (bytes: the coding cookie decides how literals read), None when it does not parse."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def function_blocks(source: bytes) -> list[Block] | None:
    """Every function and method of ``source``; None when it does not parse."""
    tree = parse(source)
    return None if tree is None else blocks_of(tree)


def blocks_of(tree: ast.Module) -> list[Block]:
    blocks = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
            blocks.append(Block(node.lineno, node.end_lineno, node.body[0].lineno, node.col_offset))
    return blocks


def _indent(lines: tuple[str, ...]) -> int | None:
    """The least indentation of the non-blank lines (a tab counts 8), None when all are blank."""
    widths = [len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip()) for line in lines if line.strip()]
    return min(widths) if widths else None


def _innermost(blocks: list[Block], line: int) -> Block | None:
    inside = [block for block in blocks if block.body_first <= line <= block.last]
    return max(inside, key=lambda block: (block.first, -block.last)) if inside else None


def widen_hunk(hunk: Hunk, blocks: list[Block]) -> tuple[set[tuple[int, int]] | None, str]:
    """The function bodies ``hunk`` changes, or None (and why) when it reaches module or class level.

    A replaced or deleted line must lie in a function body, and code it adds must be indented
    deeper than that function's ``def``. An insertion between old lines ``a`` and ``a + 1`` is
    inside the innermost function around either of them that its indentation puts it in.
    """
    indent = _indent(hunk.added)
    if hunk.old_count == 0:
        around = [b for b in blocks if b.body_first <= hunk.old_first <= b.last
                  or b.body_first <= hunk.old_first + 1 <= b.last]
        if indent is None:  # blank lines only: inside a function only when both neighbours are
            inside = [b for b in around if b.body_first <= hunk.old_first and hunk.old_first + 1 <= b.last]
        else:
            inside = [b for b in around if b.column < indent]
        if not inside:
            return None, f"the code added after line {hunk.old_first} is at module or class level"
        block = max(inside, key=lambda b: (b.column, b.first))
        return {block.body}, ""
    touched: set[tuple[int, int]] = set()
    for line in range(hunk.old_first, hunk.old_first + hunk.old_count):
        block = _innermost(blocks, line)
        if block is None:
            signature = any(b.first <= line < b.body_first for b in blocks)
            where = "a function's signature or decorator" if signature else "module or class level"
            return None, f"line {line} is at {where}"
        if indent is not None and indent <= block.column:
            return None, f"the code replacing line {line} is at module or class level"
        touched.add(block.body)
    return touched, ""


def widen(hunks: tuple[Hunk, ...], blocks: list[Block]) -> tuple[tuple[tuple[int, int], ...], str]:
    """The changed function bodies (old line numbers), or WHOLE_FILE and why."""
    widened: set[tuple[int, int]] = set()
    for hunk in hunks:
        if hunk.old_count > 5_000:  # a huge hunk: the whole file is as precise and far cheaper
            return WHOLE_FILE, "a change of over 5,000 lines"
        bodies, why = widen_hunk(hunk, blocks)
        if bodies is None:
            return WHOLE_FILE, why
        widened |= bodies
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
        tree = parse(source)
        if tree is None:
            changed.blocks, changed.why_whole = WHOLE_FILE, "its old text does not parse"
            continue
        changed.blocks, changed.why_whole = widen(changed.hunks, blocks_of(tree))
        new_source = new_text(project, changed.path)
        new_tree = parse(new_source) if new_source is not None else None
        if new_source is None or new_tree is None or _shebang(source) != _shebang(new_source):
            continue  # the text alone decides (a new text that does not parse fails its importers anyway)
        compared = compare_code(tree, new_tree)
        if compared.same:
            changed.blocks, changed.why_whole, changed.same_code = (), "", True
            changed.note = SAME_CODE
        elif compared.bodies is not None:
            if changed.whole and not compared.names:
                changed.note = OUTSIDE_BODIES_SAME
            changed.blocks, changed.why_whole, changed.names = compared.bodies, "", compared.names
        elif compared.why:
            changed.why_whole = compared.why


def new_text(project: Path, path: str) -> bytes | None:
    """The working tree's bytes of ``path`` (what the diff compared with); None for a link or an unreadable file."""
    target = project / PurePosixPath(path)
    try:
        return None if target.is_symlink() else target.read_bytes()
    except OSError:
        return None


def _shebang(source: bytes) -> bytes:
    """``#!`` picks the interpreter of a script a test runs: a comment that is behaviour."""
    return source.split(b"\n", 1)[0].strip() if source.startswith(b"#!") else b""


# --- the same code in another text ---------------------------------------------------------------

SAME_CODE = "comments/formatting only"
OUTSIDE_BODIES_SAME = "comments/formatting only outside the changed function bodies"
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class CodeComparison:
    same: bool  # the same ``ast``: no behaviour changed
    bodies: tuple[tuple[int, int], ...] | None  # else the changed function bodies (old lines), None: not only those
    names: tuple[str, ...] = ()  # module-level constants whose value changed (bodies then include their readers)
    why: str = ""  # why a constant change still counts as the whole file


def compare_code(old: ast.Module, new: ast.Module) -> CodeComparison:
    """What changed as code between two parses of a file (the module docstring explains the rules)."""
    if ast.dump(old) == ast.dump(new):
        return CodeComparison(True, ())
    names, old_rest, new_rest = _changed_constants(old.body, new.body)
    bodies = _changed_bodies(old_rest, new_rest)
    if not names or bodies is None:
        return CodeComparison(False, tuple(sorted(bodies)) if bodies else None)
    why = _read_dynamically(old, new, names)
    if why:
        return CodeComparison(False, None, why=why)
    readers = {body for tree in (old,) for body in _bodies_reading(tree, names)}
    return CodeComparison(False, tuple(sorted(bodies | readers)), tuple(sorted(names)))


# --- a changed module-level constant -------------------------------------------------------------
#
# ``NAME = <expression without calls>`` at module level, changed in its value only: the import
# runs no other code differently, so the change reaches other code only where NAME is read. In
# the module itself that is a function body reading it (its lines are in the map, like a changed
# body); elsewhere a file that mentions NAME (select.py, imports.mentioning). Anything that could
# read NAME without naming it falls back to the whole file: see docs/IMPACT.md, "Module constants".

# nodes a constant's value may hold: no call, no await or yield, no walrus, no lambda (code run later)
_VALUE_NODES = (ast.Constant, ast.Name, ast.Attribute, ast.Subscript, ast.Slice, ast.Tuple, ast.List, ast.Set,
                ast.Dict, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.JoinedStr,
                ast.FormattedValue, ast.Starred, ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)
# module attributes that Python or the import system read by themselves
_SPECIAL = frozenset({"__all__", "__path__", "__getattr__", "__dir__", "__spec__", "__loader__", "__package__",
                      "__name__", "__file__", "__builtins__", "__annotations__", "__doc__", "__class__",
                      "__cached__", "__dict__"})
_DYNAMIC_CALLS = frozenset({"globals", "locals", "eval", "exec", "__import__"})


def _constant_target(statement: ast.stmt) -> tuple[list[str], ast.expr] | None:
    """The names and value of ``NAME = value`` / ``A = B = value`` / ``NAME: T = value``; None otherwise."""
    if isinstance(statement, ast.Assign):
        if not all(isinstance(target, ast.Name) for target in statement.targets):
            return None
        names, value = [target.id for target in statement.targets if isinstance(target, ast.Name)], statement.value
    elif isinstance(statement, ast.AnnAssign) and statement.simple and statement.value is not None \
            and isinstance(statement.target, ast.Name):
        names, value = [statement.target.id], statement.value
    else:
        return None
    if not all(isinstance(node, _VALUE_NODES) for node in ast.walk(value)):
        return None
    return names, value


def _changed_constants(old_body: list[ast.stmt], new_body: list[ast.stmt]
                       ) -> tuple[set[str], list[ast.stmt], list[ast.stmt]]:
    """The constants whose value alone changed, and both bodies without those statements.

    Only when the bodies pair up (same length and kinds, as in ``_changed_bodies``); a pair counts
    when both sides are constant assignments to the same names (and annotation) and only the value
    differs.
    """
    if len(old_body) != len(new_body) or any(type(a) is not type(b) for a, b in zip(old_body, new_body, strict=True)):
        return set(), old_body, new_body
    names: set[str] = set()
    old_rest: list[ast.stmt] = []
    new_rest: list[ast.stmt] = []
    for old, new in zip(old_body, new_body, strict=True):
        before, after = _constant_target(old), _constant_target(new)
        if before and after and before[0] == after[0] and ast.dump(before[1]) != ast.dump(after[1]) \
                and _dumped(getattr(old, "annotation", None)) == _dumped(getattr(new, "annotation", None)):
            names.update(before[0])
            continue
        old_rest.append(old)
        new_rest.append(new)
    return names, old_rest, new_rest


def _function_nodes(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [node for node in ast.walk(tree) if isinstance(node, _DEFS)]


def _inside_bodies(tree: ast.Module) -> set[int]:
    """ids of the nodes inside a function's body (not its decorators, defaults or annotations)."""
    inside: set[int] = set()
    for function in _function_nodes(tree):
        for statement in function.body:
            inside.update(id(node) for node in ast.walk(statement))
    return inside


def _read_dynamically(old: ast.Module, new: ast.Module, names: set[str]) -> str:
    """Why NAME may be read other than by name in the module (so the whole file counts), or ""."""
    special = sorted(names & _SPECIAL)
    if special:
        return f"{special[0]} changed (Python reads it by itself)"
    for label, tree in (("old", old), ("new", new)):
        inside = _inside_bodies(tree)
        for statement in tree.body:
            if isinstance(statement, _DEFS) and statement.name in ("__getattr__", "__dir__"):
                return f"the module defines {statement.name} (its {label} text)"
        own = _own_names(tree)
        for node in ast.walk(tree):
            read = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
            if read in names and isinstance(getattr(node, "ctx", None), ast.Load) and id(node) not in inside:
                return f"{read} is read at module or class level (line {node.lineno}), when the module is imported"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id in _DYNAMIC_CALLS or (node.func.id in ("vars", "dir") and not node.args):
                    return f"the module calls {node.func.id}() (line {node.lineno}): it may read its constants by name"
                if node.func.id in ("vars", "getattr", "setattr", "hasattr", "dir") and node.args \
                        and _is_itself(node.args[0], own):
                    return f"the module calls {node.func.id}() on itself (line {node.lineno})"
            if isinstance(node, ast.Attribute) and node.attr == "__dict__" and _is_itself(node.value, own):
                return f"the module reads its own __dict__ (line {node.lineno})"
            if isinstance(node, ast.Attribute) and node.attr == "modules" \
                    and isinstance(node.value, ast.Name) and node.value.id == "sys":
                return f"the module reads sys.modules (line {node.lineno}): it may reach itself"
    return ""


def _own_names(tree: ast.Module) -> set[str]:
    """Names an ``import`` of the module itself could bind (``import pkg``): any imported name, to be safe."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            bound.update(alias.asname or alias.name for alias in node.names)
    return bound


def _is_itself(node: ast.expr, own: set[str]) -> bool:
    """Could ``node`` be the module itself: an imported name, ``sys.modules[...]`` or an import call."""
    if isinstance(node, ast.Name):
        return node.id in own
    if isinstance(node, ast.Attribute):
        return _is_itself(node.value, own)
    if isinstance(node, ast.Subscript):
        return "modules" in ast.dump(node.value)
    if isinstance(node, ast.Call):
        return "import" in ast.dump(node.func)
    return False


def _bodies_reading(tree: ast.Module, names: set[str]) -> set[tuple[int, int]]:
    """The body lines of every function whose body reads one of ``names`` (nested functions' bodies too)."""
    found: set[tuple[int, int]] = set()
    for function in _function_nodes(tree):
        # by name, as an attribute (``import pkg`` then ``pkg.NAME`` inside pkg), or in a string (getattr)
        reads = any(isinstance(node, ast.Name) and node.id in names
                    or isinstance(node, ast.Attribute) and node.attr in names
                    or isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value.rsplit(".", 1)[-1] in names
                    or isinstance(node, ast.Global | ast.Nonlocal) and names & set(node.names)
                    for statement in function.body for node in ast.walk(statement))
        if reads and function.end_lineno is not None:
            found.add((function.body[0].lineno, function.end_lineno))
    return found


def _header(node: ast.AST) -> list[str]:
    """Everything of a ``def`` or ``class`` but its body, as code: name, decorators, signature, bases."""
    return [_dumped(getattr(node, name, None)) for name in node._fields if name != "body"]


def _dumped(value: object) -> str:
    if isinstance(value, ast.AST):
        return ast.dump(value)
    if isinstance(value, list):
        return repr([_dumped(item) for item in value])
    return repr(value)


def _changed_bodies(old_body: list[ast.stmt], new_body: list[ast.stmt]) -> set[tuple[int, int]] | None:
    """The function bodies (old lines) that differ between two statement lists, or None when more differs.

    Statements are paired by position only when both lists have the same length and kinds (an
    added, removed or moved statement is a change at this level). A pair that is the same code
    changes nothing, whatever its text; a ``def`` or ``class`` pair with the same header changed
    inside: a class by its statements (paired the same way), a function by its body, or only by
    the bodies of the functions nested in it when nothing else in it differs (the innermost-body
    rule of ``widen``). Anything else differing returns None: the caller's whole statement changed.
    """
    if len(old_body) != len(new_body) or any(type(a) is not type(b) for a, b in zip(old_body, new_body, strict=True)):
        return None
    bodies: set[tuple[int, int]] = set()
    for old, new in zip(old_body, new_body, strict=True):
        if ast.dump(old) == ast.dump(new):
            continue
        if not isinstance(old, (*_DEFS, ast.ClassDef)) or _header(old) != _header(new):
            return None
        assert isinstance(new, (*_DEFS, ast.ClassDef))
        inner = _changed_bodies(old.body, new.body)
        if isinstance(old, ast.ClassDef):
            if not inner:
                return None  # a class-level statement changed: it runs when the class is defined
            bodies |= inner
        elif inner:
            bodies |= inner
        else:
            end = old.end_lineno if old.end_lineno is not None else old.body[-1].lineno
            bodies.add((old.body[0].lineno, end))
    return bodies


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
