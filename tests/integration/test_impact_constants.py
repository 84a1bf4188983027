"""Real runs of ``--select affected`` when only module-level constants change (``NAME = <no call>``).

A small package is committed (commit A) and its impact map recorded once with the real pytest;
each test clones it, changes constants (and maybe a function), commits B and runs the selection
against A's map. A changed constant selects the tests that ran a function reading it and the test
files whose text or imports mention it, not every importer of the module; a module that may read
its own names dynamically still counts whole.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.git_repo import commit_files, git

PKG = '''\
__version__ = "1.0"

LIMIT = 10
UNUSED = 5


def clamp(value):
    return min(value, LIMIT)


def double(value):
    return value * 2
'''
FILES = {
    "pyproject.toml": '[project]\nname = "pkg"\nversion = "0"\n\n[tool.pytest.ini_options]\npythonpath = ["src"]\n',
    ".gitignore": "test-results/\n",
    "src/pkg/__init__.py": PKG,
    # re-exports everything: its importers may read any name of pkg
    "src/pkg/star.py": "from pkg import *  # noqa: F403\n",
    "src/pkg/dyn.py": 'SETTING = 1\n\n\ndef setting(name):\n    return globals()[name]\n',
    "tests/unit/test_clamp.py": "from pkg import clamp\n\n\ndef test_clamp():\n    assert clamp(99) >= 10\n",
    "tests/unit/test_double.py": "from pkg import double\n\n\ndef test_double():\n    assert double(2) == 4\n",
    "tests/unit/test_version.py": "import pkg\n\n\ndef test_version():\n    assert pkg.__version__\n",
    "tests/unit/test_attr.py": 'import pkg\n\n\ndef test_attr():\n    assert getattr(pkg, "UNUSED") == 5\n',
    "tests/unit/test_star.py": "import pkg.star\n\n\ndef test_star():\n    assert pkg.star.double(1) == 2\n",
    "tests/unit/test_dyn.py": 'from pkg.dyn import setting\n\n\ndef test_dyn():\n    assert setting("SETTING") == 1\n',
    "tests/unit/test_dyn_import.py": "import pkg.dyn\n\n\ndef test_dyn_import():\n    assert pkg.dyn\n",
    # reads UNUSED by a computed name: the rule's blind spot, which audit names
    "tests/unit/test_computed.py": 'import pkg\n\n\ndef test_computed():\n'
                                   '    assert getattr(pkg, "UN" + "USED") == 5\n',
}
ALL = {"clamp", "double", "version", "attr", "star", "dyn", "dyn_import", "computed"}
def doorbell(project: Path, *args: str, exit_code: int = 0) -> dict:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_CI_", "GITHUB_"))}
    output = project / "test-results"
    done = subprocess.run(  # noqa: S603 - our own CLI on a project the test made
        [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", "unit", "--quiet",
         "--no-history", "--allow-no-tests", "--output-dir", str(output), *args],
        cwd=project, env=environment, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == exit_code, done.stdout + done.stderr
    report = json.loads((output / "report.json").read_text(encoding="utf-8"))
    report["stdout"] = done.stdout
    report["html"] = (output / "report.html").read_text(encoding="utf-8")
    report["summary"] = (output / "summary.md").read_text(encoding="utf-8")
    return report


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    origin = tmp_path_factory.mktemp("origin")
    commit_files(origin, FILES, "A", init=True)
    report = doorbell(origin, "--record-impact")
    assert report["impact"]["recorded"]["tests"] == len(ALL)
    maps = tmp_path_factory.mktemp("maps")
    shutil.copy(origin / "test-results" / "impact.json.gz", maps / "A.json.gz")
    return origin, maps / "A.json.gz"


def selected_after(recorded: tuple[Path, Path], tmp_path: Path, edits: dict[str, str],
                   exit_code: int = 0) -> tuple[set[str], dict]:
    """The short names of the tests ``--select affected`` ran after committing ``edits`` (and the impact)."""
    origin, impact_map = recorded
    project = tmp_path / "project"
    git(tmp_path, "clone", "-q", str(origin), str(project))
    commit_files(project, edits, "B")
    report = doorbell(project, "--select", "affected", "--impact-map", str(impact_map), exit_code=exit_code)
    impact = report["impact"]
    assert impact["full_run_reason"] is None, impact["full_run_reason"]
    kept = set(impact["deselected"])
    every = {f"unit::tests/unit/test_{name}.py::test_{name}" for name in ALL}
    return {key.rsplit("::test_", 1)[1] for key in every - kept}, impact


def pkg(*pairs: tuple[str, str]) -> str:
    text = PKG
    for old, new in pairs:
        assert old in text
        text = text.replace(old, new)
    return text


def test_a_version_bump_selects_only_the_test_that_mentions_it(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    selected, impact = selected_after(recorded, tmp_path, {"src/pkg/__init__.py": pkg(('"1.0"', '"1.1"'))})
    # test_version reads pkg.__version__; test_star imports pkg.star, which does `from pkg import *`
    assert selected == {"version", "star"}
    assert impact["constants"] == ["src/pkg/__init__.py: __version__"]


def test_a_version_bump_nobody_mentions_selects_no_test(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    # without the star module and the test reading __version__, nothing can see the new value
    origin, impact_map = recorded
    edits = {"src/pkg/__init__.py": pkg(('"1.0"', '"1.1"')), "src/pkg/star.py": "from pkg import double  # noqa\n",
             "tests/unit/test_version.py": "import pkg\n\n\ndef test_version():\n    assert pkg.double\n"}
    project = tmp_path / "project"
    git(tmp_path, "clone", "-q", str(origin), str(project))
    commit_files(project, edits, "B")
    # a second commit C bumps the version only; its map is B's, recorded for real
    doorbell(project, "--record-impact")
    shutil.copy(project / "test-results" / "impact.json.gz", tmp_path / "B.json.gz")
    (project / "src/pkg/__init__.py").write_text(pkg(('"1.0"', '"1.2"')), encoding="utf-8")
    git(project, "commit", "-qam", "C")
    report = doorbell(project, "--select", "affected", "--impact-map", str(tmp_path / "B.json.gz"))
    assert report["impact"]["full_run_reason"] is None
    assert report["impact"]["selected"] == 0 and report["impact"]["constants"] == ["src/pkg/__init__.py: __version__"]
    # every report says why the bump selected nothing
    assert ("constants only (their readers ran, not every importer): src/pkg/__init__.py: __version__"
            in report["stdout"])
    assert "<li><code>src/pkg/__init__.py: __version__</code></li>" in report["html"]
    assert "Only constants changed at module level" in report["summary"]  # (markdown escapes the path)


def test_a_constant_a_function_reads_selects_the_tests_that_ran_it(recorded: tuple[Path, Path],
                                                                   tmp_path: Path) -> None:
    selected, _ = selected_after(recorded, tmp_path, {"src/pkg/__init__.py": pkg(("LIMIT = 10", "LIMIT = 11"))})
    assert selected == {"clamp", "star"}  # clamp() reads LIMIT; pkg.star's `import *` may re-export it


def test_a_constant_named_in_a_string_is_a_mention(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    # test_attr asserts the old value: the selected run must run it and fail (exit 1)
    selected, _ = selected_after(recorded, tmp_path, {"src/pkg/__init__.py": pkg(("UNUSED = 5", "UNUSED = 6"))},
                                 exit_code=1)
    assert selected == {"attr", "star"}  # getattr(pkg, "UNUSED") names it in a string


def test_a_constant_and_a_function_change_select_the_union(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    selected, impact = selected_after(recorded, tmp_path, {"src/pkg/__init__.py": pkg(
        ('"1.0"', '"2.0"'), ("return value * 2", "return value + value"))})
    assert selected == {"version", "star", "double"}
    assert impact["constants"] == ["src/pkg/__init__.py: __version__"]


def test_a_module_using_globals_counts_whole(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    selected, impact = selected_after(recorded, tmp_path, {"src/pkg/dyn.py": FILES["src/pkg/dyn.py"].replace(
        "SETTING = 1", "SETTING = 2")}, exit_code=1)
    # setting() reads SETTING through globals() (no mention of it anywhere but a string in a test): every
    # importer of pkg.dyn runs, and test_dyn, which asserts the old value, fails in the selected run
    assert selected == {"dyn", "dyn_import"}
    assert impact["constants"] == []


def test_a_computed_name_is_the_rules_blind_spot_and_audit_names_it(recorded: tuple[Path, Path],
                                                                     tmp_path: Path) -> None:
    origin, impact_map = recorded
    project = tmp_path / "project"
    git(tmp_path, "clone", "-q", str(origin), str(project))
    (project / "src/pkg/__init__.py").write_text(pkg(("UNUSED = 5", "UNUSED = 6")), encoding="utf-8")
    git(project, "commit", "-qam", "B")
    report = doorbell(project, "--select", "audit", "--impact-map", str(impact_map), exit_code=1)
    impact = report["impact"]
    # test_attr names UNUSED in a string and fails too, but affected runs it; test_computed it would have missed
    assert impact["mode"] == "audit" and impact["missed"] == ["unit::tests/unit/test_computed.py::test_computed"]
    assert impact["constants"] == ["src/pkg/__init__.py: UNUSED"]
