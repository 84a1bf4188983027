"""A JUnit file that declares results it does not hold, in real runs: never green, and said.

The suite under review writes its own XML (a ``command`` suite) or can rewrite pytest's (a conftest
hook that runs after the junitxml plugin). A header ``<testsuite tests="6" failures="1">`` with no
``<testcase>`` used to be "no tests" and exit 0. Now the suite is ``error`` with a one-line reason,
the run exits 1, and the reason is a notice in report.json, report.html and summary.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HEALTHY = "def test_one():\n    assert 1 + 1 == 2\n\n\ndef test_two():\n    assert 'doorbell'\n"
FORMS = {
    "declared failure, no testcase": ('<testsuite name="s" tests="6" failures="1"></testsuite>',
                                      "declares 6 tests and 1 failure but holds no failed test case"),
    "testsuites attributes only": ('<testsuites tests="4" errors="2"/>',
                                   "declares 4 tests and 2 errors but holds no failed test case"),
    "nested suite declares a failure": (
        '<testsuites><testsuite name="o"><testsuite name="i" tests="2" failures="1"><testcase name="a"/>'
        '</testsuite></testsuite></testsuites>', "declares 2 tests and 1 failure but holds no failed test case"),
    "failures not a number": ('<testsuite tests="1" failures="several"><testcase name="a"/></testsuite>',
                              'declares failures="several" on <testsuite>, which is not a number'),
    "testcases missing": ('<testsuite tests="9"><testcase name="a"/></testsuite>',
                          "declares 9 tests but holds 1 test case: the results of 8 are missing"),
}


def _run(project: Path, *suites: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_", "PYTEST_"))}
    completed = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", *suites,
         "--no-coverage", "--workers", "1"], env=env, capture_output=True, text=True, timeout=300, check=False)
    report = json.loads((project / "test-results" / "report.json").read_text(encoding="utf-8"))
    return completed, report


def _project(root: Path, pyproject: str = "", files: dict[str, str] | None = None) -> Path:
    (root / "tests" / "unit").mkdir(parents=True)
    (root / "tests" / "unit" / "test_ok.py").write_text(HEALTHY, encoding="utf-8")
    for name, text in (files or {}).items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "pyproject.toml").write_text(f"[project]\nname = 'probe'\n{pyproject}", encoding="utf-8")
    return root


def _assert_said_everywhere(project: Path, completed: subprocess.CompletedProcess[str], report: dict,
                            suite: str, reason: str) -> None:
    result = next(s for s in report["suites"] if s["name"] == suite)
    assert result["status"] == "error", result
    assert reason in result["reason"]
    assert completed.returncode == 1, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert report["run"]["status"] == "failed"
    assert any(reason in notice for notice in report["notices"])
    plain = re.split(r'["<=]', reason)[0]  # the reports escape quotes and angle brackets, each its own way
    assert f"{suite}: " in (project / "test-results" / "summary.md").read_text(encoding="utf-8")
    assert plain in (project / "test-results" / "summary.md").read_text(encoding="utf-8")
    assert plain in (project / "test-results" / "report.html").read_text(encoding="utf-8")
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize("form", list(FORMS))
def test_a_command_suites_declared_results_without_testcases_are_never_green(tmp_path: Path, form: str) -> None:
    xml, reason = FORMS[form]
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "declared.xml").write_text(xml, encoding="utf-8")
    command = [sys.executable, "-c", "import shutil; shutil.copyfile('declared.xml', 'out.xml')"]
    project = _project(tmp_path / "p", f"\n[tool.doorbell-ci.suite.tool]\ncommand = {json.dumps(command)}\n"
                                       "junit = 'out.xml'\n")
    completed, report = _run(project, "unit", "tool")
    assert next(s for s in report["suites"] if s["name"] == "unit")["status"] == "passed"  # kept
    _assert_said_everywhere(project, completed, report, "tool", reason)


def test_a_pytest_suite_whose_xml_is_rewritten_to_a_bare_header_is_never_green(tmp_path: Path) -> None:
    """pytest wrote 2 passing testcases; the project's conftest replaces them with a header declaring a failure."""
    conftest = ("from pathlib import Path\n\n\ndef pytest_unconfigure(config):\n"
                "    xml = config.option.xmlpath\n"
                "    if xml:\n"
                "        Path(xml).write_text('<testsuites><testsuite name=\"pytest\" tests=\"2\" failures=\"1\"/>"
                "</testsuites>')\n")
    project = _project(tmp_path / "p", files={"tests/unit/conftest.py": conftest})
    completed, report = _run(project, "unit")
    _assert_said_everywhere(project, completed, report, "unit",
                            "declares 2 tests and 1 failure but holds no failed test case")
