"""Which project modules each test file imports, directly or through other modules (static, with ``ast``).

Coverage ties a line to a test only when the test runs it. A module's import-time code (its
constants, default values, decorators, class bodies) runs once, during collection, under no test;
a test that only reads ``calc.LIMIT`` executes no line of ``calc.py``. So when a change is at
module level, the tests that depend on it are found through imports instead: every test file
whose transitive import closure (its own imports, its conftest.py files', and theirs, all the way
down) reaches the changed module.

Over-approximate on purpose: every ``import`` anywhere in a file counts (inside functions and
``try`` blocks too), ``from pkg import name`` counts both ``pkg.name`` and ``pkg``, importing
``a.b.c`` imports ``a`` and ``a.b``, and a name is matched against every source root it could
come from (``src/pkg/x.py`` answers to ``src.pkg.x``, ``pkg.x`` and ``x``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

MAX_FILE_BYTES = 5 * 1024 * 1024


def module_names(path: str) -> list[str]:
    """Every dotted name ``path`` (project-relative) might be imported as, longest first."""
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return [".".join(parts[start:]) for start in range(len(parts)) if parts[start:]]


def _imported(tree: ast.AST, path: str) -> set[str]:
    """Dotted names ``tree`` imports, relative imports resolved against ``path``'s package."""
    package = list(PurePosixPath(path).parent.parts)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else []
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            if base:
                names.add(base)
            names.update(f"{base}.{alias.name}" if base else alias.name for alias in node.names if alias.name != "*")
    expanded = set()
    for name in names:
        pieces = name.split(".")
        expanded.update(".".join(pieces[: end + 1]) for end in range(len(pieces)))
    return expanded


class ImportGraph:
    """Lazy: a file is parsed the first time a closure reaches it."""

    def __init__(self, project: Path, python_files: Iterable[str]) -> None:
        self.project = project
        self.by_name: dict[str, set[str]] = {}
        for path in python_files:
            for name in module_names(path):
                self.by_name.setdefault(name, set()).add(path)
        self._edges: dict[str, set[str]] = {}

    def edges(self, path: str) -> set[str]:
        if path not in self._edges:
            self._edges[path] = set()
            target = self.project / path
            if not target.exists():  # a deleted module imports nothing any more
                return self._edges[path]
            try:
                source = target.read_bytes()
                if len(source) > MAX_FILE_BYTES:
                    raise ValueError("too big to parse")
                tree = ast.parse(source)
            except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
                self._edges[path] = {"*"}  # unreadable: assume it may import anything
                return self._edges[path]
            found: set[str] = set()
            for name in _imported(tree, path):
                found.update(self.by_name.get(name, ()))
            self._edges[path] = found
        return self._edges[path]

    def closure(self, roots: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        stack = list(roots)
        while stack:
            path = stack.pop()
            if path in seen:
                continue
            seen.add(path)
            stack.extend(self.edges(path) - seen)
        return seen


def conftests_for(test_file: str, conftests: set[str]) -> list[str]:
    """The conftest.py files pytest loads for ``test_file``: in its folder and every folder above."""
    folder = PurePosixPath(test_file).parent
    found = []
    while True:
        candidate = (folder / "conftest.py").as_posix() if str(folder) != "." else "conftest.py"
        if candidate in conftests:
            found.append(candidate)
        if str(folder) in (".", "/", ""):
            break
        folder = folder.parent
    return found


def importers(project: Path, python_files: Iterable[str], test_files: Iterable[str],
              changed_modules: set[str]) -> set[str]:
    """The test files whose import closure reaches any of ``changed_modules`` (project-relative paths).

    ``python_files`` are the project's Python files now plus deleted ones (a deleted module is still
    found by the names that import it). A file that cannot be parsed counts as importing everything.
    """
    files = list(python_files)
    graph = ImportGraph(project, files)
    conftests = {path for path in files if PurePosixPath(path).name == "conftest.py"}
    reached = set()
    for test_file in test_files:
        closure = graph.closure([test_file, *conftests_for(test_file, conftests)])
        if changed_modules & closure or any("*" in graph.edges(path) for path in closure):
            reached.add(test_file)
    return reached


def _resolved_base(node: ast.ImportFrom, path: str) -> str:
    """The dotted module ``from ... import`` reads from, relative levels resolved against ``path``."""
    if not node.level:
        return node.module or ""
    package = list(PurePosixPath(path).parent.parts)
    base_parts = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else []
    return ".".join([*base_parts, *([node.module] if node.module else [])])


def mentions(tree: ast.AST, path: str, names: set[str], module: str) -> bool:
    """Whether ``tree`` may read one of ``names`` of ``module`` (a path): as a name, an attribute, an
    imported name, a string equal to it (``getattr(m, "NAME")``), or through ``from module import *``."""
    own = set(module_names(module))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in names or isinstance(node, ast.Attribute) and node.attr in names:
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value.rsplit(".", 1)[-1] in names:  # "NAME", or "pkg.NAME" (mock.patch)
            return True
        if isinstance(node, ast.alias) and (node.name.rsplit(".", 1)[-1] in names or node.asname in names):
            return True
        if isinstance(node, ast.Global | ast.Nonlocal) and names & set(node.names):
            return True
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names) \
                and _resolved_base(node, path) in own:
            return True
    return False


def mentioning(project: Path, python_files: Iterable[str], test_files: Iterable[str],
               constants: Mapping[str, set[str]]) -> set[str]:
    """The test files that may read a changed module-level constant: ``constants`` is {module path: names}.

    A project file other than the module itself that mentions a name (``mentions``) may read it, at
    import time or later, so every test file whose import closure (conftest.py files included)
    reaches such a file is selected, as is a test file that mentions it itself. A collected file
    counts too when its text holds a name as a word (a doctest text file, a doctest in a docstring
    of a module collected with --doctest-modules); a file that cannot be read or parsed counts as
    mentioning everything.
    """
    files = list(python_files)
    graph = ImportGraph(project, files)
    conftests = {path for path in files if PurePosixPath(path).name == "conftest.py"}
    readers: set[str] = set()
    for path in files:
        tree = _parse(project / path)
        if tree is None:
            if (project / path).exists():
                readers.add(path)
            continue
        # a module's own reads are its function bodies (changes.compare_code), not a mention
        if any(mentions(tree, path, names, module) for module, names in constants.items() if module != path):
            readers.add(path)
    words = [re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])") for names in constants.values() for name in names]
    reached: set[str] = set()
    for test_file in test_files:
        # its text as words too: a doctest in a docstring (a collected module's items) reads names from a string
        try:
            text = (project / test_file).read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        if not text or any(word.search(text) for word in words):
            reached.add(test_file)
            continue
        if not test_file.endswith(".py"):
            continue
        closure = graph.closure([test_file, *conftests_for(test_file, conftests)])
        if readers & closure or any("*" in graph.edges(path) for path in closure):
            reached.add(test_file)
    return reached


def _parse(target: Path) -> ast.Module | None:
    try:
        source = target.read_bytes()
        if len(source) > MAX_FILE_BYTES:
            return None
        return ast.parse(source)
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return None
