"""Text changes that are no code change: the same ``ast`` before and after selects no test.

Each case commits a real file in a real git repository, edits it in the working tree and runs
the engine's own diff (``find_changes`` + ``to_blocks``), so the hunks, the old text from git and
the new text from disk are the ones a run sees.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from doorbell_ci.impact.changes import (
    OUTSIDE_BODIES_SAME,
    SAME_CODE,
    WHOLE_FILE,
    ChangedFile,
    compare_code,
    find_changes,
    parse,
    to_blocks,
)
from doorbell_ci.impact.impactmap import ImpactMap
from doorbell_ci.impact.select import SelectSettings, select_tests

MODULE = textwrap.dedent('''\
    """The module's docstring."""

    __version__ = "1.0"

    LIMIT = 10  # a comment


    def add(a, b):
        """Add."""
        total = a + b
        return total


    class Box:
        size = 3

        def grow(self, by=1):
            def inner(x):
                return x * 2
            return inner(by)

        def label(self):
            return "box"
    ''')
# lines: 3 __version__, 5 LIMIT, 8 def add, 9-11 body; 14 class Box, 15 size, 17 def grow, 18 def inner,
# 19 inner body, 20 return inner; 22 def label, 23 body


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True).stdout


def changed_after(tmp_path: Path, new: str, old: str = MODULE, name: str = "src/mod.py") -> ChangedFile:
    """Commit ``old`` as ``name``, write ``new`` over it, and return the engine's view of the change."""
    repo = tmp_path / "repo"
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    git(repo.parent, "init", "-q", str(repo))
    (repo / name).write_text(old, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / name).write_text(new, encoding="utf-8")
    changes = find_changes(repo, base)
    to_blocks(repo, changes, {})
    (changed,) = changes.files
    return changed


def edited(*pairs: tuple[str, str]) -> str:
    text = MODULE
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


@pytest.mark.parametrize("new", [
    edited(("LIMIT = 10  # a comment", "LIMIT = 10  # another comment")),  # a comment at module level
    edited(("    size = 3\n", "    # why three\n    size = 3\n")),  # a comment line added at class level
    edited(("\n\ndef add", "\n\n\n\ndef add")),  # blank lines
    edited(("def add(a, b):", "def add(\n    a,\n    b,\n):")),  # a signature reformatted across lines
    edited(("LIMIT = 10  # a comment", "LIMIT = (\n    10\n)")),  # a value reformatted across lines
    edited(('return "box"', "return 'box'")),  # quotes: the same constant
    edited(("    total = a + b", "    total = a + b  # sum")),  # a comment in a function body
], ids=["comment", "class-comment", "blank-lines", "signature-reformatted", "value-reformatted", "quotes",
        "body-comment"])
def test_the_same_code_in_another_text_has_no_block(tmp_path: Path, new: str) -> None:
    changed = changed_after(tmp_path, new)
    assert changed.same_code and changed.blocks == () and changed.note == SAME_CODE
    assert not changed.whole


@pytest.mark.parametrize(("new", "why"), [
    (edited(('"""The module\'s docstring."""', '"""The module\'s new docstring."""')), "module docstring"),
    # a changed constant's value alone is not the whole file (tests/unit/test_impact_constants.py); these are
    (edited(('__version__ = "1.0"', '__version__ = "1.1"\nLIMIT2 = 1')), "an assignment added"),
    (edited(("LIMIT = 10", "LIMIT = int('11')")), "a constant made by a call"),
    (edited(("    size = 3\n", "    size = 3\n    shape = 'cube'\n")), "a class attribute added"),
    (edited(("def add(a, b):", "def add(a, b=0):")), "a default value"),
    (edited(("class Box:", "class Box(object):")), "a base class"),
    (edited(("def add(a, b):\n", "def add(a, b):\n    pass\n\n\ndef add(a, b):\n")), "a function added"),
], ids=["module-docstring", "added-assignment", "call", "class-attribute", "default", "base", "added-def"])
def test_a_code_change_at_module_or_class_level_is_still_the_whole_file(tmp_path: Path, new: str,
                                                                       why: str) -> None:
    changed = changed_after(tmp_path, new)
    assert changed.whole and not changed.same_code, why
    assert changed.note == ""


def test_a_docstring_or_string_literal_in_a_function_is_a_change_of_its_body(tmp_path: Path) -> None:
    docstring = changed_after(tmp_path / "a", edited(('"""Add."""', '"""Add two numbers."""')))
    assert not docstring.same_code and docstring.blocks == ((9, 11),)
    literal = changed_after(tmp_path / "b", edited(('return "box"', 'return "crate"')))
    assert not literal.same_code and literal.blocks == ((23, 23),)


def test_a_comment_at_class_level_next_to_a_real_change_costs_only_the_changed_body(tmp_path: Path) -> None:
    new = edited(("    size = 3\n", "    size = 3\n    # grows by doubling\n"),
                 ("            return x * 2", "            return x * 3"),
                 ("    def label(self):", "    def label(\n        self,\n    ):"))
    changed = changed_after(tmp_path, new)
    # the hunks alone would make it the whole file (a class-level line); the code says: inner's body only
    assert changed.blocks == ((19, 19),) and changed.note == OUTSIDE_BODIES_SAME and not changed.same_code


def test_a_changed_method_and_function_are_their_bodies(tmp_path: Path) -> None:
    new = edited(("        return inner(by)", "        return inner(by) + 1"),
                 ("    total = a + b", "    total = b + a"))
    changed = changed_after(tmp_path, new)
    assert changed.blocks == ((9, 11), (18, 20)) and changed.note == ""


def test_a_shebang_is_behaviour_for_a_script_a_test_runs(tmp_path: Path) -> None:
    changed = changed_after(tmp_path, "#!/usr/bin/python2\nprint(1)\n", old="#!/usr/bin/env python3\nprint(1)\n")
    assert not changed.same_code and changed.whole


def test_the_coding_cookie_decides_what_a_literal_is() -> None:
    latin = "# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\n".encode("latin-1")
    utf8 = "# -*- coding: utf-8 -*-\nNAME = 'caf\xe9'\n".encode("latin-1")  # the same bytes read as utf-8 fail
    assert parse(utf8) is None
    cp = "# -*- coding: cp1252 -*-\nNAME = 'caf\xe9'\n".encode("latin-1")
    old, new = parse(latin), parse(cp)
    assert old is not None and new is not None and compare_code(old, new).same  # é in both encodings
    koi8 = "# -*- coding: koi8-r -*-\nNAME = 'caf\xe9'\n".encode("latin-1")
    other = parse(koi8)
    assert other is not None and not compare_code(old, other).same  # the same byte is another letter


def test_statements_are_paired_only_when_both_bodies_have_the_same_shape() -> None:
    old = parse(b"def a():\n    return 1\n\n\ndef b():\n    return 2\n")
    swapped = parse(b"def b():\n    return 2\n\n\ndef a():\n    return 1\n")
    assert old is not None and swapped is not None
    compared = compare_code(old, swapped)
    assert not compared.same and compared.bodies is None  # moved definitions: module level changed
    in_a_class_in_a_function = parse(b"def f():\n    class C:\n        x = 1\n    return C\n")
    changed_attribute = parse(b"def f():\n    class C:\n        x = 2\n    return C\n")
    assert in_a_class_in_a_function is not None and changed_attribute is not None
    assert compare_code(in_a_class_in_a_function, changed_attribute).bodies == ((2, 4),)  # f's body


# --- what the selection makes of it ---------------------------------------------------------------

COLLECTED = {"unit": ["tests/test_mod.py::test_add", "tests/test_mod.py::test_box"]}


def the_map() -> ImpactMap:
    return ImpactMap(commit="c" * 40, dirty=False, platform_key="k", created_at="t", suites=["unit"],
                     files={"src/mod.py": "a" * 40},
                     tests={"unit::tests/test_mod.py::test_add": {"src/mod.py": ((1, 11),)},
                            "unit::tests/test_mod.py::test_box": {"src/mod.py": ((1, 5), (14, 23))}})


def select(*changed: ChangedFile, settings: SelectSettings | None = None):
    from doorbell_ci.impact.changes import Changes

    return select_tests(the_map(), Changes("c" * 40, "d" * 40, list(changed)), COLLECTED, set(),
                        settings or SelectSettings(), lambda modules: {"tests/test_mod.py"} if modules else set())


def same(path: str) -> ChangedFile:
    return ChangedFile(path, "modified", ((5, 5),), (), same_code=True, note=SAME_CODE)


def test_the_same_code_selects_nothing_and_says_why() -> None:
    selection = select(same("src/mod.py"))
    assert selection.full_run_reason is None and selection.count == 0
    assert selection.no_code_change == ["src/mod.py: comments/formatting only"]
    # even where any change runs everything: coverage cannot see conftest.py, the map never measured setup.py
    selection = select(same("tests/conftest.py"), same("setup.py"))
    assert selection.full_run_reason is None and selection.count == 0
    assert len(selection.no_code_change) == 2


def test_a_file_with_its_own_collected_items_still_runs_them_and_only_them() -> None:
    """A test file's items, or a module's lint or doctest items, may read its text: they still run."""
    selection = select(same("tests/test_mod.py"))
    assert selection.count == 2 and set(selection.reasons.values()) == {"modified_test_file"}
    assert selection.no_code_change == ["tests/test_mod.py: comments/formatting only; its own tests still run "
                                        "(they may read its text)"]


def test_impact_full_run_still_wins_over_the_same_code() -> None:
    selection = select(same("src/mod.py"), settings=SelectSettings(full_run=("src/*",)))
    assert selection.full_run_reason == "src/mod.py changed (impact_full_run)"


def test_a_module_level_code_change_still_selects_every_importer() -> None:
    selection = select(ChangedFile("src/mod.py", "modified", ((3, 3),), WHOLE_FILE, why_whole="line 3"))
    assert selection.count == 2 and selection.no_code_change == []
