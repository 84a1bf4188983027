"""Failure signatures: masking, traceback parsing, grouping by cause (doorbell_ci/analysis/signatures.py)."""

from __future__ import annotations

import pytest

from doorbell_ci.analysis import signatures
from doorbell_ci.analysis.signatures import describe, exception_of, frames, group, inside_project, normalise
from doorbell_ci.results import Outcome, TestResult

LONG_TRACEBACK = """def test_one():
>       pkg.check(2)

tests/unit/test_a.py:7:\x20
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

x = 2

    def check(x):
        if x > 1:
>           raise ValueError(f"bad value {x} at {hex(id(x))}")
E           ValueError: bad value {n} at 0x7f88f234e8c8 in /tmp/pytest-of-root/pytest-3/test_one0/f.txt

src/pkg/__init__.py:3: ValueError"""

NATIVE_TRACEBACK = """Traceback (most recent call last):
  File "/usr/lib/python3.11/site-packages/pluggy/_callers.py", line 102, in _multicall
  File "tests/unit/test_b.py", line 12, in test_b
    helper()
  File "src/pkg/helper.py", line 40, in helper
    raise KeyError("session 3f2c9a1e-0d4b-4c7e-9a55-1b2c3d4e5f60")
KeyError: 'session 3f2c9a1e-0d4b-4c7e-9a55-1b2c3d4e5f60'"""


def failing(name: str, details: str, message: str = "", outcome: Outcome = Outcome.FAILED,
            file: str = "tests/unit/test_a.py", line: int | None = 5) -> TestResult:
    return TestResult(suite="unit", name=name, classname="tests.unit.test_a", outcome=outcome, file=file,
                      line=line, message=message, details=details)


def test_normalise_masks_what_changes_between_runs() -> None:
    text = ("bad value 42 at 0x7f88f234e8c8 in /tmp/pytest-of-root/pytest-12/test_x0/f.txt "
            "id 3f2c9a1e-0d4b-4c7e-9a55-1b2c3d4e5f60 token deadbeef1234 took 1.5e3 ms")
    assert normalise(text) == "bad value <n> at <addr> in <tmp> id <uuid> token <id> took <n> ms"


def test_normalise_keeps_words_and_joins_lines() -> None:
    assert normalise("camera   offline\n  retry later") == "camera offline retry later"
    assert normalise("DeadlineExceeded") == "DeadlineExceeded"  # a word made of hex letters is not an id


def test_windows_temp_paths_are_masked() -> None:
    assert normalise(r"cannot open C:\Users\ci\AppData\Local\Temp\pytest-1\x.db") == "cannot open <tmp>"


def test_frames_of_a_long_pytest_traceback_outermost_first() -> None:
    found = frames(LONG_TRACEBACK)
    assert [(f.file, f.line) for f in found] == [("tests/unit/test_a.py", 7), ("src/pkg/__init__.py", 3)]


def test_frames_of_a_native_traceback() -> None:
    found = frames(NATIVE_TRACEBACK)
    assert [(f.file, f.line) for f in found][-2:] == [("tests/unit/test_b.py", 12), ("src/pkg/helper.py", 40)]


def test_inside_project() -> None:
    assert inside_project("src/pkg/mod.py")
    assert not inside_project("/usr/lib/python3.11/site-packages/pluggy/_callers.py")
    assert not inside_project(".venv/lib/python3.11/site-packages/x.py")
    assert not inside_project("../elsewhere/mod.py")
    assert not inside_project("<frozen importlib._bootstrap>")
    assert not inside_project(r"C:\hostedtoolcache\Python\lib\x.py")


def test_exception_and_message_from_the_traceback() -> None:
    name, message = exception_of(failing("t", LONG_TRACEBACK, message="ValueError: bad value 2"))
    assert name == "ValueError"
    assert message.startswith("bad value")


def test_assertion_without_a_named_exception() -> None:
    details = "def test_x():\n>       assert 1 == 2\nE       assert 1 == 2\n\ntests/unit/test_a.py:11: AssertionError"
    assert exception_of(failing("t", details, message="assert 1 == 2")) == ("AssertionError", "assert 1 == 2")


def test_native_traceback_gives_type_and_innermost_project_frame() -> None:
    failure = describe(failing("t", NATIVE_TRACEBACK))
    assert failure.exception == "KeyError"
    assert (failure.frame.file, failure.frame.line) == ("src/pkg/helper.py", 40)
    assert "<uuid>" in failure.normalised


def test_without_a_traceback_the_test_location_stands_in() -> None:
    failure = describe(failing("t", "", message="failed on setup with 'fixture x not found'", outcome=Outcome.ERROR,
                               line=9))
    assert (failure.frame.file, failure.frame.line) == ("tests/unit/test_a.py", 9)
    assert failure.exception == "Error"


def test_same_cause_forms_one_group_whatever_the_values() -> None:
    first = failing("test_one", LONG_TRACEBACK.replace("{n}", "2"))
    second = failing("test_two", LONG_TRACEBACK.replace("{n}", "3").replace("0x7f88f234e8c8", "0x7f0000000010")
                     .replace("test_one0", "test_two0").replace(":7: ", ":9: "))
    other = failing("test_three",
                    "def test_three():\n>  assert x\nE  assert 0\n\ntests/unit/test_a.py:20: AssertionError")
    passed = TestResult(suite="unit", name="test_ok")
    groups = group([first, second, other, passed])
    assert [g.count for g in groups] == [2, 1]
    assert {f.test.name for f in groups[0].failures} == {"test_one", "test_two"}
    assert (groups[0].frame.file, groups[0].frame.line) == ("src/pkg/__init__.py", 3)
    assert groups[0].exception == "ValueError"
    assert groups[0].signature != groups[1].signature


def test_same_message_from_different_lines_are_different_causes() -> None:
    one = failing("a", LONG_TRACEBACK.replace("{n}", "1"))
    two = failing("b", LONG_TRACEBACK.replace("{n}", "1").replace("src/pkg/__init__.py:3", "src/pkg/__init__.py:30"))
    assert len(group([one, two])) == 2


def _failing(details: str, file: str = "tests/test_a.py", line: int = 3) -> TestResult:
    return TestResult(suite="unit", name="test_x", classname="tests.test_a", outcome=Outcome.FAILED, file=file,
                      line=line, details=details)


@pytest.mark.parametrize(("details", "project", "expected"), [
    # --tb=native prints absolute paths: under the project they are the project's files
    ('  File "/w/proj/tests/test_a.py", line 9, in test_x\n  File "/w/proj/src/m.py", line 4, in f\nValueError',
     "/w/proj", ("src/m.py", 4)),
    # a virtual environment inside the project is still a library, relative or absolute
    ("tests/test_a.py:9: \n.venv/lib/python3.12/site-packages/lib.py:80: ValueError", "/w/proj",
     ("tests/test_a.py", 9)),
    ('  File "/w/proj/tests/test_a.py", line 9, in t\n  File "/w/proj/.venv/lib/site-packages/l.py", line 2, in g\n',
     "/w/proj", ("tests/test_a.py", 9)),
    # Windows, with the project on a drive
    ('  File "C:\\w\\proj\\tests\\test_a.py", line 12, in test_x\nAssertionError', "C:\\w\\proj",
     ("tests/test_a.py", 12)),
    # a file outside the project, and a sibling folder whose name starts like the project's
    ('  File "/w/other/x.py", line 5, in f\n  File "/w/project2/y.py", line 6, in g\n', "/w/proj",
     ("tests/test_a.py", 3)),
    # no traceback at all: the test's own line is all there is
    ("", "/w/proj", ("tests/test_a.py", 3)),
])
def test_the_failing_line_is_the_innermost_project_frame(details: str, project: str, expected: tuple[str, int]) -> None:
    frame = signatures.failure_frame(_failing(details), project)
    assert frame is not None and (frame.file, frame.line) == expected
