"""The replay's fault injection (benchmarks/impact/mutate.py): the faults of the mutation check must be
real faults on exactly the changed lines, the same ones on every rerun, and the rest of the file intact."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"impact_bench_{name}", ROOT / "benchmarks" / "impact" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


mutate = _load("mutate")

SOURCE = '''"""Module docstring 1 < 2."""
LIMIT = 10


def clamp(value: int, limit: int = 3) -> int:
    """Docstring."""
    if value > limit and limit != 0:
        return limit
    return value + 1
'''


def test_candidates_only_on_changed_lines_and_never_in_docstrings_or_annotations():
    found = mutate.candidates("pkg/m.py", SOURCE, {1, 5, 7, 8})
    assert {m.line for m in found} == {5, 7, 8}  # line 1 is a docstring; line 5 gives only its default (3)
    kinds = {m.kind for m in found}
    assert {"flip-compare", "negate-condition", "swap-boolop"} <= kinds
    assert "return-none" in kinds  # `return limit` on line 8


def test_default_argument_constant_is_a_candidate_but_annotation_is_not():
    found = mutate.candidates("pkg/m.py", SOURCE, {5})
    assert [(m.kind, m.original) for m in found] == [("const+1", "3")]


def test_apply_changes_only_the_mutated_span_and_compiles():
    for mutant in mutate.candidates("pkg/m.py", SOURCE, {2, 7, 8, 9}):
        mutated = mutate.apply(SOURCE, mutant)
        assert mutated != SOURCE
        assert mutated[:mutant.start] == SOURCE[:mutant.start]
        assert mutated[mutant.start + len(mutant.replacement):] == SOURCE[mutant.end:]
        namespace: dict = {}
        exec(compile(mutated, "m.py", "exec"), namespace)  # still a working module


def test_a_mutant_changes_behaviour():
    (flip,) = [m for m in mutate.candidates("pkg/m.py", SOURCE, {7}) if m.kind == "flip-compare"
               and m.original.startswith("value")]
    namespace: dict = {}
    exec(mutate.apply(SOURCE, flip), namespace)
    assert namespace["clamp"](5) == 6  # original: 5 > 3 -> 3; mutated: 5 <= 3 is false -> 5 + 1
    exec(SOURCE, namespace)
    assert namespace["clamp"](5) == 3
    assert namespace["clamp"](1) == 2


def test_choice_is_deterministic_per_commit_and_seed():
    pool = mutate.candidates("pkg/m.py", SOURCE, set(range(1, 10)))
    first = mutate.choose(pool, 3, 14, "abc123")
    assert first == mutate.choose(pool, 3, 14, "abc123")
    assert len(first) == 3 and len({m.kind for m in first}) == 3  # spread over kinds first


def test_apply_refuses_a_stale_mutant():
    (mutant, *_) = mutate.candidates("pkg/m.py", SOURCE, {7})
    try:
        mutate.apply(SOURCE.replace("value > limit", "value >= limit"), mutant)
    except ValueError as error:
        assert "does not match" in str(error)
    else:
        raise AssertionError("a mutant that no longer matches the text was applied")


def test_changed_lines_reads_new_side_of_real_git_diff(tmp_path):
    replay = _load("replay")
    run = lambda *args: subprocess.run(["git", "-C", str(tmp_path), *args], check=True,  # noqa: E731
                                       capture_output=True, text=True).stdout.strip()
    run("init", "-q")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(SOURCE, encoding="utf-8")
    (tmp_path / "tests" / "test_m.py").write_text("def test_x():\n    pass\n", encoding="utf-8")
    run("add", ".")
    run("-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "one")
    old = run("rev-parse", "HEAD")
    (tmp_path / "pkg" / "m.py").write_text(SOURCE.replace("return value + 1", "return value + 2")
                                           + "\n\ndef extra():\n    return 1\n", encoding="utf-8")
    (tmp_path / "tests" / "test_m.py").write_text("def test_x():\n    assert True\n", encoding="utf-8")
    run("add", ".")
    run("-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "two")
    new = run("rev-parse", "HEAD")
    layout = replay.Layout(tmp_path, replay.PROJECTS["cachetools"])
    layout.clone = tmp_path
    assert replay.changed_lines(layout, old, new) == {"pkg/m.py": {9, 10, 11, 12, 13}}  # tests/ left out
