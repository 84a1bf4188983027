"""The JUnit reader's shortcut for passed tests in pytest's own form (``results._plain_passed``).

Most testcases of a big run are childless ``<testcase name classname file line time/>``; the
reader builds their TestResult from the attributes instead of through junitparser. The shortcut
must never decide differently from the general path: it either gives the very TestResult that
``_to_result`` gives, or declines (None) and leaves the case to it.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from xml.etree.ElementTree import Element

import pytest

from doorbell_ci import results
from doorbell_ci.results import Outcome, read_junit

NAMES = [None, "", "test_a", "test_b[1-2]", "täst ∑"]
TIMES = [None, "", "0", "0.0123", "1e-3", "12", "1,5", "nan", "inf", "-1", "-0.0", " 1.5", "abc", "1_000"]
LINES = [None, "", "0", "41", " 7", "²", "12345678901", "-3", "007"]
EXTRA = [{}, {"file": "tests/test_x.py"}, {"file": ""}, {"status": "skipped"}, {"filepath": "a.py"},
         {"classname": ""}, {"classname": "tests.test_x.TestY"}]


def _element(name: str | None, time: str | None, line: str | None, extra: dict[str, str]) -> Element:
    attrib = {key: value for key, value in (("name", name), ("time", time), ("line", line)) if value is not None}
    return Element("testcase", {**attrib, **extra})


@pytest.mark.parametrize("zero_based", [False, True])
def test_the_shortcut_gives_what_the_general_path_gives_or_declines(zero_based: bool) -> None:
    taken = declined = 0
    for name, time, line, extra in itertools.product(NAMES, TIMES, LINES, EXTRA):
        elem = _element(name, time, line, extra)
        general = results._to_result(results._case_type().fromelem(elem), "unit", zero_based)
        plain = results._plain_passed(elem.attrib, "unit", zero_based)
        if plain is None:
            declined += 1
        else:
            taken += 1
            assert plain == general, elem.attrib
    assert taken and declined  # both branches were exercised


def test_pytests_own_passed_testcase_takes_the_shortcut() -> None:
    elem = Element("testcase", {"classname": "tests.test_x", "file": "tests/test_x.py", "line": "9",
                                "name": "test_y[3]", "time": "0.001"})
    result = results._plain_passed(elem.attrib, "unit", True)
    assert result is not None and result.line == 10 and result.outcome is Outcome.PASSED


@pytest.mark.parametrize("child", ["<skipped/>", "<failure message='m'>tb</failure>", "<error/>",
                                   "<system-out>x</system-out>", "<properties/>"])
def test_a_testcase_with_any_child_goes_the_general_way(child: str, tmp_path: Path) -> None:
    """The reader hands the shortcut only childless testcases; a child sends the case to junitparser."""
    path = tmp_path / "j.xml"
    path.write_text(f'<testsuite name="pytest"><testcase name="t" classname="c" time="0.1">{child}</testcase>'
                    '<testcase name="u" classname="c" time="0.2"/></testsuite>', encoding="utf-8")
    tests = read_junit(path, "unit")
    expected = {"<skipped/>": Outcome.SKIPPED, "<failure message='m'>tb</failure>": Outcome.FAILED,
                "<error/>": Outcome.ERROR}.get(child, Outcome.PASSED)
    assert [t.outcome for t in tests] == [expected, Outcome.PASSED]
