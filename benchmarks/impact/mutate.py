"""Small faults injected into the lines a commit changed, for the mutation check.

Why: the replay only shows failures that history happened to contain (almost none: a project's
main branch is green). A fault planted in a changed line is a failure the selection *must* not
leave out, so the mutation check asks the question directly: every fault the full suite detects,
does the selected run detect it too?

The mutants are the classic small ones (flip a comparison, +1 on a number, negate a condition,
``return None``, ``and`` <-> ``or``, ``+`` <-> ``-``), found with ``ast`` on the new text of the
file and spliced into the source by position, so the rest of the file stays byte for byte the same.
Which mutants are used is decided by a seeded ``random.Random`` over the sorted candidate list, so
the same commit and seed always give the same faults.
"""

from __future__ import annotations

import ast
import random
import zlib
from dataclasses import asdict, dataclass

_FLIP = {
    ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}


@dataclass(frozen=True)
class Mutant:
    path: str  # project-relative posix path
    line: int
    kind: str  # flip-compare | const+1 | negate-condition | return-none | swap-boolop | swap-binop
    original: str
    replacement: str
    start: int  # character offsets of the replaced text in the file
    end: int

    def describe(self) -> str:
        return f"{self.path}:{self.line} {self.kind}: {self.original!r} -> {self.replacement!r}"

    def as_dict(self) -> dict:
        return asdict(self)


def _offsets(text: str) -> list[int]:
    """Character offset of the start of every line (1-based index: offsets[lineno - 1])."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _span(node: ast.AST, starts: list[int], lines: list[str]) -> tuple[int, int]:
    # ast columns are UTF-8 byte offsets: convert through the line's bytes
    def char(lineno: int, col: int) -> int:
        return starts[lineno - 1] + len(lines[lineno - 1].encode("utf-8")[:col].decode("utf-8", "replace"))
    return char(node.lineno, node.col_offset), char(node.end_lineno, node.end_col_offset)


def candidates(path: str, text: str, changed: set[int]) -> list[Mutant]:
    """Every mutant whose node starts on a changed line of ``text``."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    lines = text.splitlines(keepends=True)
    starts = _offsets(text)
    docstrings = {id(body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and (body := node.body) and isinstance(body[0], ast.Expr)
                  and isinstance(body[0].value, ast.Constant)}
    annotations = set()
    for node in ast.walk(tree):
        for ann in (getattr(node, "annotation", None), getattr(node, "returns", None)):
            if ann is not None:
                annotations.update(id(sub) for sub in ast.walk(ann))
    found: list[Mutant] = []

    def add(node: ast.AST, kind: str, replacement: str) -> None:
        start, end = _span(node, starts, lines)
        original = text[start:end]
        if original != replacement:
            found.append(Mutant(path, node.lineno, kind, original, replacement, start, end))

    for node in ast.walk(tree):
        if getattr(node, "lineno", None) not in changed or id(node) in annotations or id(node) in docstrings:
            continue
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _FLIP:
            flipped = ast.Compare(left=node.left, ops=[_FLIP[type(node.ops[0])]()] + node.ops[1:],
                                  comparators=node.comparators)
            add(node, "flip-compare", f"({ast.unparse(flipped)})")
        elif (isinstance(node, ast.Constant) and type(node.value) in (int, float)
              and not isinstance(node.value, bool)):
            add(node, "const+1", f"({node.value!r} + 1)")
        elif isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert)):
            test = node.test
            start, end = _span(test, starts, lines)
            found.append(Mutant(path, node.lineno, "negate-condition", text[start:end],
                                f"(not ({ast.unparse(test)}))", start, end))
        elif isinstance(node, ast.Return) and node.value is not None and node.lineno == node.end_lineno:
            add(node, "return-none", "return None")
        elif isinstance(node, ast.BoolOp):
            swapped = ast.BoolOp(op=ast.Or() if isinstance(node.op, ast.And) else ast.And(), values=node.values)
            add(node, "swap-boolop", f"({ast.unparse(swapped)})")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            swapped = ast.BinOp(left=node.left, op=ast.Sub() if isinstance(node.op, ast.Add) else ast.Add(),
                                right=node.right)
            add(node, "swap-binop", f"({ast.unparse(swapped)})")
    return sorted(found, key=lambda m: (m.path, m.start, m.end, m.kind))


def choose(all_candidates: list[Mutant], count: int, seed: int, commit: str) -> list[Mutant]:
    """``count`` mutants, the same ones for the same commit and seed; spread over kinds first."""
    rng = random.Random(seed ^ zlib.crc32(commit.encode()))
    pool = list(all_candidates)
    rng.shuffle(pool)
    chosen: list[Mutant] = []
    kinds: set[str] = set()
    for mutant in pool:  # first one of each kind, then the rest in shuffled order
        if mutant.kind not in kinds:
            chosen.append(mutant)
            kinds.add(mutant.kind)
    chosen += [m for m in pool if m not in chosen]
    return chosen[:count]


def apply(text: str, mutant: Mutant) -> str:
    """``text`` with the mutant spliced in; refuses a mutant that no longer matches the text."""
    if text[mutant.start:mutant.end] != mutant.original:
        raise ValueError(f"mutant does not match the file: {mutant.describe()}")
    mutated = text[:mutant.start] + mutant.replacement + text[mutant.end:]
    ast.parse(mutated)  # a mutant must still compile: a syntax error is not a small fault
    return mutated
