"""The diff as changed blocks: hunks parsed from ``git diff -U0``, widened to functions with ``ast``."""

from __future__ import annotations

import textwrap

from doorbell_ci.impact.changes import (
    WHOLE_FILE,
    Hunk,
    _to_project,
    function_blocks,
    parse_hunks,
    parse_name_status,
    widen,
)

OLD = textwrap.dedent('''\
    import os

    LIMIT = 10


    @decorate
    def add(a, b):
        total = a + b
        return total


    class Box:
        size = 3

        def grow(self, by=1):
            def inner(x):
                return x * 2
            return inner(by)


    def last():
        return 1
    ''').encode()
# lines: 7 def add, 8-9 body; 13 size; 15 def grow, 16 def inner, 17 inner body, 18 return inner; 21 def last, 22 body


def hunk(old_first: int, old_count: int, *added: str) -> Hunk:
    return Hunk(old_first, old_count, old_first, len(added), tuple(added))


def blocks_for(*hunks: Hunk) -> tuple[tuple[tuple[int, int], ...], str]:
    found = function_blocks(OLD)
    assert found is not None
    return widen(tuple(hunks), found)


def test_hunks_and_name_status_are_parsed() -> None:
    diff = textwrap.dedent('''\
        diff --git a/src/a.py b/src/a.py
        index 1..2 100644
        --- a/src/a.py
        +++ b/src/a.py
        @@ -8 +8 @@ def add(a, b):
        -    total = a + b
        +    total = b + a
        @@ -20,0 +21,2 @@ x
        +
        +def new():
        diff --git a/data.txt b/data.txt
        deleted file mode 100644
        --- a/data.txt
        +++ /dev/null
        @@ -1,3 +0,0 @@
        -a
        -b
        -c
        ''')
    sections = parse_hunks(diff)
    assert sections[0] == [Hunk(8, 1, 8, 1, ("    total = b + a",)), Hunk(20, 0, 21, 2, ("", "def new():"))]
    assert sections[0][1].old_range == (20, 21)  # an insertion touches the lines on both sides
    assert sections[1] == [Hunk(1, 3, 0, 0, ())]
    assert parse_name_status("M\0src/a.py\0D\0data.txt\0A\0new file.py\0") == [
        ("M", "src/a.py"), ("D", "data.txt"), ("A", "new file.py")]


def test_paths_outside_the_project_folder_are_marked() -> None:
    assert _to_project("sub/proj/src/a.py", "sub/proj/") == "src/a.py"
    assert _to_project("requirements.txt", "sub/proj/") == "../../requirements.txt"
    assert _to_project("src/a.py", "") == "src/a.py"


def test_a_change_inside_a_function_is_that_function_body() -> None:
    assert blocks_for(hunk(8, 1, "    total = b + a")) == (((8, 9),), "")
    assert blocks_for(hunk(9, 1)) == (((8, 9),), "")  # a deleted line


def test_a_change_in_a_nested_function_is_the_innermost_one() -> None:
    assert blocks_for(hunk(17, 1, "                return x * 3")) == (((17, 17),), "")
    assert blocks_for(hunk(18, 1, "            return inner(by) + 1")) == (((16, 18),), "")


def test_module_level_class_level_decorators_and_signatures_are_the_whole_file() -> None:
    assert blocks_for(hunk(3, 1, "LIMIT = 11")) == (WHOLE_FILE, "line 3 is at module or class level")
    assert blocks_for(hunk(13, 1, "    size = 4")) == (WHOLE_FILE, "line 13 is at module or class level")
    assert blocks_for(hunk(6, 1, "@other"))[0] == WHOLE_FILE
    whole, why = blocks_for(hunk(15, 1, "    def grow(self, by=2):"))
    assert whole == WHOLE_FILE and "signature or decorator" in why


def test_code_replacing_a_body_line_at_a_shallower_indent_is_module_level() -> None:
    whole, why = blocks_for(hunk(9, 1, "    return total", "EXTRA = 1"))
    assert whole == WHOLE_FILE and "replacing line 9" in why


def test_insertions_belong_where_their_indentation_puts_them() -> None:
    assert blocks_for(hunk(9, 0, "    print(total)")) == (((8, 9),), "")  # appended to add()'s body
    assert blocks_for(hunk(17, 0, "        y = 1")) == (((16, 18),), "")  # after inner's body, in grow
    assert blocks_for(hunk(17, 0, "            y = 1")) == (((17, 17),), "")  # inside inner
    assert blocks_for(hunk(9, 0, "", "def extra():", "    return 2"))[0] == WHOLE_FILE  # a new top-level def
    assert blocks_for(hunk(18, 0, "    def shrink(self):", "        pass"))[0] == WHOLE_FILE  # class level
    assert blocks_for(hunk(8, 0, ""))[0] == ((8, 9),)  # a blank line inside the body
    assert blocks_for(hunk(9, 0, ""))[0] == WHOLE_FILE  # a blank line after it: module level


def test_several_hunks_collect_every_function_and_any_module_level_one_wins() -> None:
    assert blocks_for(hunk(8, 1, "    x"), hunk(22, 1, "    return 2")) == (((8, 9), (22, 22)), "")
    assert blocks_for(hunk(8, 1, "    x"), hunk(1, 1, "import sys"))[0] == WHOLE_FILE


def test_text_that_does_not_parse_has_no_blocks() -> None:
    assert function_blocks(b"def broken(:\n") is None
    assert function_blocks(b"\x00") is None
