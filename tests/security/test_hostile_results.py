"""Hostile input to the core: JUnit XML built to attack the parser, results built to attack the
reports, and configuration built to escape the project or inject arguments.

A test suite under review (a pull request from a fork) controls its own test names, messages,
output and the XML its runner writes; none of it may run code, read files or break a report.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from doorbell_ci.config import load_config
from doorbell_ci.errors import CollectError, ConfigError
from doorbell_ci.plan import make_plan, pytest_arguments
from doorbell_ci.reports import html, json_report, junit, markdown
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult, read_junit

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<testsuite tests="1"><testcase name="&lol4;"/></testsuite>
"""


def _write(tmp_path: Path, text: str, name: str = "junit.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_entity_expansion_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CollectError, match="DTD or entities"):
        read_junit(_write(tmp_path, BILLION_LAUGHS), "unit")


def test_external_entity_cannot_read_files(tmp_path: Path) -> None:
    secret = _write(tmp_path, "top secret", "secret.txt")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file://{secret.as_posix()}">]>'
           '<testsuite tests="1"><testcase name="&x;"/></testsuite>')
    with pytest.raises(CollectError):
        read_junit(_write(tmp_path, xxe), "unit")


def test_external_dtd_is_not_fetched(tmp_path: Path) -> None:
    xml = ('<?xml version="1.0"?><!DOCTYPE testsuite SYSTEM "http://127.0.0.1:9/evil.dtd">'
           '<testsuite tests="1"><testcase name="t"/></testsuite>')
    try:
        tests = read_junit(_write(tmp_path, xml), "unit")
    except CollectError:
        return  # refusing is fine; fetching is not (port 9 would hang or refuse, never answer)
    assert [t.name for t in tests] == ["t"]


def test_deeply_nested_xml_is_an_error_not_a_crash(tmp_path: Path) -> None:
    depth = 100_000
    xml = "<testsuites>" + "<testsuite>" * depth + "</testsuite>" * depth + "</testsuites>"
    with pytest.raises(CollectError, match="nests elements more than 200 levels deep"):
        read_junit(_write(tmp_path, xml), "unit")


def _hostile_run(name: str, message: str, output: str) -> RunResult:
    test = TestResult("unit", name, "tests.unit.test_x", Outcome.FAILED, 0.1, "tests/unit/test_x.py", 3,
                      message=message, details=output, stdout=output, stderr=output)
    return RunResult("id", "/p", "s", "f", 1.0, [SuiteResult("unit", SuiteStatus.FAILED, [test],
                                                            output_tail=output, reason=message)])


HOSTILE = [
    "<script>alert(document.cookie)</script>",
    "\"><img src=x onerror=alert(1)>",
    "</pre></details></div><script>alert(1)</script>",
    "{{ 7*7 }}{% raw %}",
    "\x00\x1b[31mred\x07\ufffe\ud800",
]


@pytest.mark.parametrize("payload", HOSTILE)
def test_html_report_shows_hostile_text_as_text(payload: str) -> None:
    page = html.render(_hostile_run(payload, payload, payload))
    assert "<script" not in page.lower().replace("&lt;script", "")
    assert "onerror=alert(1)>" not in page
    assert "49" not in page.split("<main>", 1)[1][:200]  # the template did not evaluate {{ 7*7 }}


def _outside_code(text: str) -> str:
    """The Markdown that GitHub would interpret: fenced blocks and code spans removed (they show text as is)."""
    text = re.sub(r"(`{3,})text\n.*?\n\1", "", text, flags=re.DOTALL)
    return re.sub(r"(`+).*?\1", "", text)


@pytest.mark.parametrize("payload", HOSTILE + ["[click](javascript:alert(1))", "@org/everyone", "```\n# H\n```"])
def test_markdown_summary_neutralises_hostile_text(payload: str) -> None:
    text = _outside_code(markdown.render(_hostile_run(payload, payload, payload)))
    assert "<script" not in text and "<img" not in text
    assert "](javascript:" not in text
    assert "@org/everyone" not in text


@pytest.mark.parametrize("payload", HOSTILE)
def test_merged_junit_and_json_stay_well_formed(tmp_path: Path, payload: str) -> None:
    run = _hostile_run(payload, payload, payload)
    junit.write(run, tmp_path)
    tests = read_junit(tmp_path / "junit.xml", "unit")  # parses back
    assert any(t.outcome is Outcome.FAILED for t in tests)
    json_report.write(run, tmp_path)
    html.write(run, tmp_path)
    again, _ = json_report.read(tmp_path)
    assert again.suites[0].tests[0].name.startswith(payload[:3] if payload.isprintable() else "\x00")


def test_hostile_report_json_cannot_write_outside_its_folder(tmp_path: Path) -> None:
    """`doorbell-ci report DIR` renders into DIR whatever paths the JSON names."""
    results = tmp_path / "results"
    results.mkdir()
    run = _hostile_run("t", "m", "o")
    run.suites[0].junit_file = "../../escaped.xml"
    run.suites[0].log_file = "/etc/passwd"
    json_report.write(run, results)
    from doorbell_ci.reports import write_all

    again, _ = json_report.read(results)
    written = write_all(again, results, exit_code=1)
    assert all(path.parent == results for path in written.values())
    assert not (tmp_path.parent / "escaped.xml").exists()


# --- configuration that tries to escape the project or inject arguments ----------------------


def _project(tmp_path: Path, table: str) -> Path:
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text(f"[project]\nname='x'\n{table}\n", encoding="utf-8")
    return tmp_path


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_symlink_out_of_the_project_is_refused(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj", "[tool.doorbell-ci.suite.unit]\npaths = ['tests/outside']\n")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, project / "tests" / "outside")
    with pytest.raises(ConfigError, match="outside the project"):
        load_config(project, environ={})


def test_marker_expression_cannot_become_an_option(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.doorbell-ci.suite.unit]\nmarkers = 'slow or fast'\n")
    plan = make_plan(load_config(project, environ={}))
    argv = pytest_arguments(plan.suites[0], project, project / "out")
    assert argv[argv.index("-m") + 1] == "slow or fast"
    project2 = _project(tmp_path / "p2", "[tool.doorbell-ci.suite.unit]\nmarkers = '-p evil'\n")
    with pytest.raises(ConfigError, match="looks like an option"):
        load_config(project2, environ={})


@pytest.mark.parametrize("suite", ["unit; rm -rf /", "../unit", "$(id)", "unit\nx"])
def test_hostile_suite_names_are_refused(tmp_path: Path, suite: str) -> None:
    with pytest.raises(ConfigError):
        load_config(_project(tmp_path, ""), {"suites": [suite]}, environ={})


def test_nul_byte_in_output_dir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="output_dir"):
        load_config(_project(tmp_path, ""), {"output_dir": "out\x00/../../x"}, environ={})
