"""A changed module-level constant (``NAME = <no call>``): what ``compare_code`` and ``mentioning`` decide.

The end-to-end cases (real git, real pytest) are in tests/integration/test_impact_constants.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from doorbell_ci.impact.changes import compare_code, parse
from doorbell_ci.impact.imports import mentioning

MODULE = '''\
import sys

__version__ = "1.0"
LIMIT: int = 10


def clamp(value):
    return min(value, LIMIT)


class Box:
    def size(self):
        def inner():
            return LIMIT
        return inner()

    def name(self):
        return "box"
'''
# lines: 3 __version__, 4 LIMIT, 7 def clamp, 8 body; 11 class Box, 12 def size, 13 def inner, 14 inner body,
# 15 return inner(); 17 def name, 18 body


def compared(new: str, old: str = MODULE):
    old_tree, new_tree = parse(old.encode()), parse(new.encode())
    assert old_tree is not None and new_tree is not None
    return compare_code(old_tree, new_tree)


def test_a_version_bump_is_its_name_with_no_block() -> None:
    result = compared(MODULE.replace('"1.0"', '"1.1"'))
    assert (result.names, result.bodies, result.why) == (("__version__",), (), "")


def test_a_constant_selects_the_bodies_of_the_functions_reading_it() -> None:
    result = compared(MODULE.replace("LIMIT: int = 10", "LIMIT: int = 11"))
    # clamp's body, size's body (inner reads it) and inner's body; not name()
    assert result.names == ("LIMIT",) and result.bodies == ((8, 8), (13, 15), (14, 14))


def test_a_function_reading_it_as_an_attribute_or_a_string_of_its_own_module_counts() -> None:
    old = (MODULE + "\n\ndef through_sys():\n    return sys.LIMIT\n"
           "\n\ndef by_string(m):\n    return getattr(m, 'LIMIT')\n")
    result = compared(old.replace("LIMIT: int = 10", "LIMIT: int = 11"), old)
    assert result.names == ("LIMIT",) and result.bodies == ((8, 8), (13, 15), (14, 14), (22, 22), (26, 26))


def test_a_constant_and_a_function_body_are_the_union() -> None:
    result = compared(MODULE.replace('"1.0"', '"2.0"').replace('return "box"', 'return "crate"'))
    assert result.names == ("__version__",) and result.bodies == ((18, 18),)


@pytest.mark.parametrize(("new", "why"), [
    (MODULE + "\nDOUBLE = LIMIT * 2\n", None),  # a statement added: not paired, the whole file as before
    (MODULE.replace("LIMIT: int = 10", "LIMIT: int = 11") + "\nprint(LIMIT)\n", None),
    (MODULE.replace('"1.0"', "str(1)"), None),  # a call in the value runs code at import
    (MODULE.replace("LIMIT: int = 10", "LIMIT: float = 10"), None),  # the annotation changed
])
def test_anything_more_than_a_value_is_not_a_constant_change(new: str, why: None) -> None:
    assert compared(new).names == () and compared(new).bodies is None


@pytest.mark.parametrize(("extra", "why"), [
    ("\ndef names():\n    return globals()\n", "globals()"),
    ("\ndef names():\n    return vars()\n", "vars()"),
    ("\ndef names():\n    return vars(sys.modules[__name__])\n", "on itself"),
    ("\ndef __getattr__(name):\n    return 1\n", "__getattr__"),
    ("\nTWICE = (LIMIT, LIMIT)\n", "LIMIT is read at module or class level"),
    ("\nclass C:\n    size = LIMIT\n", "LIMIT is read at module or class level"),
    ("\ndef f(x=LIMIT):\n    return x\n", "LIMIT is read at module or class level"),
    ("\nTWICE = sys.LIMIT\n", "LIMIT is read at module or class level"),
])
def test_a_module_that_may_read_its_names_dynamically_counts_whole(extra: str, why: str) -> None:
    old = MODULE + extra
    result = compared(old.replace("LIMIT: int = 10", "LIMIT: int = 11"), old)
    assert result.bodies is None and result.names == () and why in result.why


def test_dunder_all_is_read_by_python_itself() -> None:
    old = MODULE + '\n__all__ = ["clamp"]\n'
    result = compared(old.replace('["clamp"]', '["clamp", "Box"]'), old)
    assert result.bodies is None and "__all__" in result.why


def test_getattr_on_another_object_is_not_a_dynamic_read_of_the_module() -> None:
    old = MODULE + "\ndef size_of(box):\n    return getattr(box, 'size')\n"
    result = compared(old.replace('"1.0"', '"1.1"'), old)
    assert result.names == ("__version__",) and result.why == ""


def write(root: Path, files: dict[str, str]) -> list[str]:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return list(files)


def test_mentions_are_names_attributes_imports_strings_and_star_imports(tmp_path: Path) -> None:
    files = write(tmp_path, {
        "pkg/__init__.py": '__version__ = "1"\n',
        "pkg/reexport.py": "from . import *\n",
        "pkg/other.py": "import pkg\n",
        "tests/test_name.py": "from pkg import __version__\n",
        "tests/test_attr.py": "import pkg\nx = pkg.__version__\n",
        "tests/test_string.py": "import pkg\nx = getattr(pkg, '__version__')\n",
        "tests/test_alias.py": "from pkg import __version__ as v\n",
        "tests/test_star.py": "import pkg.reexport\n",
        "tests/test_other.py": "import pkg.other\n",
        "tests/test_plain.py": "import pkg\n",
        "tests/test_patch.py": "from unittest import mock\n\n@mock.patch('pkg.__version__', '2')\ndef test(): pass\n",
        "pkg/doc.py": '"""\n>>> import pkg\n>>> pkg.__version__\n"""\n',  # collected with --doctest-modules
        "tests/test_broken.py": "import pkg\ndef (:\n",
        "README.rst": ">>> import pkg\n>>> pkg.__version__\n'1'\n",
        "docs/usage.txt": ">>> import pkg\n",
    })
    python = [path for path in files if path.endswith(".py")]
    tests = [path for path in files if path.startswith("tests/")] + ["README.rst", "docs/usage.txt", "pkg/doc.py"]
    reached = mentioning(tmp_path, python, tests, {"pkg/__init__.py": {"__version__"}})
    assert reached == {"tests/test_name.py", "tests/test_attr.py", "tests/test_string.py", "tests/test_alias.py",
                       "tests/test_star.py", "tests/test_broken.py", "README.rst", "tests/test_patch.py",
                       "pkg/doc.py"}
