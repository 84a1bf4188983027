"""Real runs of ``doorbell-ci run --record-impact`` and ``--select affected`` on a real git repository.

A small package with tests is committed (commit A) and its impact map recorded once; each test
clones that repository, makes a change, commits it (commit B) and runs the selection against the
map of A: the tests that executed the changed code run, plus the new-test and no-entry rules, and
every change coverage cannot see runs everything with its reason.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from doorbell_ci.impact.impactmap import read_map
from doorbell_ci.reports import json_report
from tests.git_repo import commit_files, git

FILES = {
    "pyproject.toml": '[project]\nname = "pkg"\nversion = "0"\n\n[tool.pytest.ini_options]\npythonpath = ["src"]\n',
    ".gitignore": "test-results/\n",
    "README.md": "# pkg\n",
    "src/pkg/__init__.py": "",
    "src/pkg/calc.py": '''\
import functools

LIMIT = 10


def logged(func):
    @functools.wraps(func)
    def wrapper(*args):
        return func(*args)
    return wrapper


def add(a, b):
    return a + b


def mul(a, b):
    total = 0
    for _ in range(b):
        total = add(total, a)
    return total


def neg(a):
    return -a


@logged
def double(a):
    return a * 2
''',
    "src/pkg/data.py": '''\
class Db:
    def __init__(self):
        self.rows = [1, 2]

    def count(self):
        return len(self.rows)


def unused():
    return "never run"
''',
    "src/pkg/extra.py": "def third(x):\n    return x / 3\n",
    "tests/conftest.py": "import pytest\n\n\n@pytest.fixture\ndef two():\n    return 2\n",
    "tests/unit/test_calc.py": '''\
from pkg import calc
from pkg.calc import add, double, mul, neg


def test_add():
    assert add(1, 2) == 3


def test_mul(two):
    assert mul(two, 3) == 6


def test_neg():
    assert neg(2) == -2


def test_double():
    assert double(4) == 8


def test_limit():
    assert calc.LIMIT == 10
''',
    "tests/unit/test_db.py": '''\
import pytest

from pkg.data import Db


@pytest.fixture(scope="module")
def db():
    return Db()


def test_db_rows(db):
    assert db.rows


def test_db_exact(db):
    assert db.rows == [1, 2]
''',
    "tests/unit/test_extra.py": "def test_third():\n    from pkg.extra import third\n\n    assert third(9) == 3\n",
    "tests/unit/test_files.py": '''\
from pathlib import Path


def test_reads_data():
    text = (Path(__file__).parent / "data" / "values.txt").read_text()
    assert text.split() == ["1", "2", "3"]
''',
    "tests/unit/data/values.txt": "1 2 3\n",
    "tests/unit/test_plain.py": "def test_plain():\n    assert 1 + 1 == 2\n",
}
ALL_TESTS = {
    "unit::tests/unit/test_calc.py::test_add", "unit::tests/unit/test_calc.py::test_mul",
    "unit::tests/unit/test_calc.py::test_neg", "unit::tests/unit/test_calc.py::test_double",
    "unit::tests/unit/test_calc.py::test_limit", "unit::tests/unit/test_db.py::test_db_rows",
    "unit::tests/unit/test_db.py::test_db_exact", "unit::tests/unit/test_extra.py::test_third",
    "unit::tests/unit/test_files.py::test_reads_data", "unit::tests/unit/test_plain.py::test_plain",
}
def doorbell(project: Path, *args: str, output: Path | None = None) -> tuple[subprocess.CompletedProcess[str], dict]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_CI_", "GITHUB_"))}
    output = output or project / "test-results"
    done = subprocess.run(  # noqa: S603 - our own CLI on a project the test made
        [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", "unit", "--quiet",
         "--no-history", "--output-dir", str(output), *args],
        cwd=project, env=environment, capture_output=True, text=True, timeout=600, check=False)
    report = json.loads((output / "report.json").read_text(encoding="utf-8"))
    report["ran"] = {f"{test.suite}::{test.nodeid}" for test in json_report.read(output)[0].iter_tests()}
    report["failed"] = [t.nodeid for t in json_report.read(output)[0].iter_tests() if t.outcome.value == "failed"]
    return done, report


def ran(report: dict) -> set[str]:
    return report["ran"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The repository at commit A and the impact map recorded there."""
    origin = tmp_path_factory.mktemp("origin")
    commit_files(origin, FILES, "A", init=True)
    done, report = doorbell(origin, "--record-impact")
    assert done.returncode == 0, done.stdout + done.stderr
    assert report["impact"]["recorded"]["tests"] == len(ALL_TESTS)
    maps = tmp_path_factory.mktemp("maps")
    shutil.copy(origin / "test-results" / "impact.json.gz", maps / "A.json.gz")
    return origin, maps / "A.json.gz"


def change(recorded: tuple[Path, Path], tmp_path: Path, edits: dict[str, str | None]) -> Path:
    """A clone of A with ``edits`` committed as B (None deletes the file)."""
    origin, _ = recorded
    project = tmp_path / "project"
    tmp_path.mkdir(parents=True, exist_ok=True)
    git(tmp_path, "clone", "-q", str(origin), str(project))
    for path, text in edits.items():
        target = project / path
        if text is None:
            git(project, "rm", "-q", path)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "B", "--allow-empty")
    return project


def select(recorded: tuple[Path, Path], project: Path, *args: str,
           output: Path | None = None) -> tuple[subprocess.CompletedProcess[str], dict]:
    return doorbell(project, "--select", "affected", "--impact-map", str(recorded[1]), *args, output=output)


def edited(path: str, old: str, new: str) -> str:
    text = FILES[path]
    assert old in text
    return text.replace(old, new)


def test_the_map_is_recorded_per_test(recorded: tuple[Path, Path]) -> None:
    impact = read_map(recorded[1])
    assert impact.suites == ["unit"] and not impact.dirty and len(impact.commit) == 40
    assert set(impact.tests) == ALL_TESTS | {"unit::"}
    neg_lines = impact.tests["unit::tests/unit/test_calc.py::test_neg"]["src/pkg/calc.py"]
    assert neg_lines == ((25, 25),)  # the body of neg(), nothing else of calc.py
    # the module-scoped fixture's lines count for both tests that use it, not only the first
    for key in ("unit::tests/unit/test_db.py::test_db_rows", "unit::tests/unit/test_db.py::test_db_exact"):
        assert impact.tests[key]["src/pkg/data.py"] == ((3, 3),)
    assert impact.tests["unit::tests/unit/test_plain.py::test_plain"] == {"tests/unit/test_plain.py": ((2, 2),)}


def test_a_changed_function_runs_exactly_the_tests_that_executed_it_and_new_tests(
        recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project = change(recorded, tmp_path, {
        "src/pkg/calc.py": edited("src/pkg/calc.py", "    return -a\n", "    return 0 - a\n"),
        "tests/unit/test_new.py": "from pkg.calc import neg\n\n\ndef test_new():\n    assert neg(0) == 0\n",
    })
    done, report = select(recorded, project)
    assert done.returncode == 0, done.stdout + done.stderr
    impact = report["impact"]
    assert impact["full_run_reason"] is None
    assert ran(report) == {"unit::tests/unit/test_calc.py::test_neg", "unit::tests/unit/test_new.py::test_new"}
    assert (impact["selected"], impact["total"]) == (2, 11)
    assert impact["reasons"]["changed_code"] == 1 and impact["reasons"]["new_test_file"] == 1
    assert set(impact["deselected"]) == ALL_TESTS - {"unit::tests/unit/test_calc.py::test_neg"}
    assert impact["base"] == read_map(recorded[1]).commit and impact["head"] == git(project, "rev-parse", "HEAD")
    assert {"path": "src/pkg/calc.py", "kind": "modified", "lines": [[25, 25]]} in impact["changed"]
    assert "==> impact: 2 of 11 tests selected; changed src/pkg/calc.py:25" in done.stdout
    assert not (project / "test-results" / "impact.json.gz").exists()  # nothing recorded unless asked


def test_a_function_used_by_another_selects_the_callers_tests(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project = change(recorded, tmp_path, {
        "src/pkg/calc.py": edited("src/pkg/calc.py", "    return a + b\n", "    return b + a\n")})
    done, report = select(recorded, project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran(report) == {"unit::tests/unit/test_calc.py::test_add", "unit::tests/unit/test_calc.py::test_mul"}


def test_module_level_and_decorator_changes_reach_every_test_of_the_importers(
        recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project = change(recorded, tmp_path, {
        "src/pkg/calc.py": edited("src/pkg/calc.py", "LIMIT = 10\n", "LIMIT = 11\n")})
    done, report = select(recorded, project)
    assert done.returncode == 1  # test_limit only reads the constant: it ran no line of calc.py, yet it is found
    calc_tests = {key for key in ALL_TESTS if "test_calc.py" in key}
    assert ran(report) == calc_tests
    assert report["failed"] == ["tests/unit/test_calc.py::test_limit"]

    decorated = change(recorded, tmp_path / "decorator", {
        "src/pkg/calc.py": edited("src/pkg/calc.py", "@logged\ndef double", "@functools.lru_cache\ndef double")})
    done, report = select(recorded, decorated)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran(report) == calc_tests


def test_a_comment_or_formatting_at_module_level_selects_nothing_and_says_why(
        recorded: tuple[Path, Path], tmp_path: Path) -> None:
    calc = edited("src/pkg/calc.py", "LIMIT = 10\n", "LIMIT = 10  # the cap\n")
    calc = calc.replace("def mul(a, b):", "def mul(\n    a,\n    b,\n):")  # a signature reformatted
    data = edited("src/pkg/data.py", "class Db:\n", "class Db:\n    # rows are fixed\n\n")  # class level
    project = change(recorded, tmp_path, {"src/pkg/calc.py": calc, "src/pkg/data.py": data})
    done, report = select(recorded, project)
    assert done.returncode == 0, done.stdout + done.stderr
    impact = report["impact"]
    assert impact["full_run_reason"] is None and ran(report) == set() and impact["selected"] == 0
    assert impact["no_code_change"] == ["src/pkg/calc.py: comments/formatting only",
                                        "src/pkg/data.py: comments/formatting only"]
    assert "no code change: src/pkg/calc.py: comments/formatting only" in done.stdout

    # the same comment next to a real change in a function body: that body's tests only, not the whole file
    project = change(recorded, tmp_path / "with-code", {
        "src/pkg/calc.py": edited("src/pkg/calc.py", "LIMIT = 10\n", "LIMIT = 10  # the cap\n").replace(
            "    return -a\n", "    return 0 - a\n")})
    done, report = select(recorded, project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran(report) == {"unit::tests/unit/test_calc.py::test_neg"}
    assert report["impact"]["no_code_change"] == [
        "src/pkg/calc.py: comments/formatting only outside the changed function bodies"]


def test_a_docstring_or_a_string_constant_is_a_code_change(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project = change(recorded, tmp_path, {
        "src/pkg/calc.py": edited("src/pkg/calc.py", "def neg(a):\n", 'def neg(a):\n    """Minus a."""\n')})
    done, report = select(recorded, project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran(report) == {"unit::tests/unit/test_calc.py::test_neg"} and not report["impact"]["no_code_change"]
    project = change(recorded, tmp_path / "module", {
        "src/pkg/data.py": '"""The rows."""\n' + FILES["src/pkg/data.py"]})  # a module docstring: import-time
    done, report = select(recorded, project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran(report) == {key for key in ALL_TESTS if "test_db.py" in key}


def test_a_collection_error_is_the_reason_everything_runs(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    broken = {"tests/integration/test_flow.py": "import pkg.calc\nimport no_such_module_anywhere\n",
              "tests/integration/test_new.py": "def test_new():\n    assert True\n"}
    project = change(recorded, tmp_path, broken)
    done, report = select(recorded, project, "--suites", "integration")
    assert report["impact"]["full_run_reason"].startswith("the tests could not be listed (a collection error?")
    # one suite lists, the other does not: its new test file is not "a file the map never measured"
    done, report = select(recorded, project, "--suites", "unit", "integration", output=tmp_path / "two")
    reason = report["impact"]["full_run_reason"]
    assert reason.startswith("the tests of integration could not be listed (a collection error? see "
                             "logs/integration-collect.log)"), reason
    assert "never measured" not in reason
    assert "ModuleNotFoundError" in (tmp_path / "two" / "logs" / "integration-collect.log").read_text()
    assert {key for key in ran(report) if key.startswith("unit::")} == ALL_TESTS  # every test ran


def test_a_change_in_a_function_no_test_ran_selects_nothing_and_passes(
        recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project = change(recorded, tmp_path, {
        "src/pkg/data.py": edited("src/pkg/data.py", 'return "never run"', 'return "still never run"'),
        "README.md": "# pkg, documented\n"})
    done, report = select(recorded, project)
    assert done.returncode == 0, done.stdout + done.stderr  # nothing to test is a success here, not exit 8
    assert ran(report) == set()
    assert report["impact"]["selected"] == 0 and report["impact"]["full_run_reason"] is None
    assert "==> impact: 0 of 10 tests selected; changed README.md:1, src/pkg/data.py:10" in done.stdout
    assert not any("nothing tested" in notice.lower() for notice in report["notices"])


def test_a_shared_fixture_change_selects_every_test_using_the_fixture(
        recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project = change(recorded, tmp_path, {
        "src/pkg/data.py": edited("src/pkg/data.py", "self.rows = [1, 2]", "self.rows = [1, 2, 3]")})
    done, report = select(recorded, project)
    assert done.returncode == 1
    assert ran(report) == {"unit::tests/unit/test_db.py::test_db_rows", "unit::tests/unit/test_db.py::test_db_exact"}


@pytest.mark.parametrize(("edits", "reason"), [
    ({"tests/conftest.py": FILES["tests/conftest.py"] + "\n\n@pytest.fixture\ndef three():\n    return 3\n"},
     "tests/conftest.py changed (conftest.py"),
    ({"pyproject.toml": FILES["pyproject.toml"] + "addopts = []\n"}, "pyproject.toml changed (not Python code"),
    ({"tests/unit/data/values.txt": "1 2 4\n"}, "tests/unit/data/values.txt changed (not Python code"),
    ({"requirements.txt": "requests==2.0\n"}, "requirements.txt changed (not Python code"),
    ({"setup.py": "from setuptools import setup\nsetup()\n"}, "setup.py added, a Python file the map never measured"),
    ({"src/pkg/data.py": None, "src/pkg/store.py": FILES["src/pkg/data.py"],  # a rename is a delete and an add
      "tests/unit/test_db.py": edited("tests/unit/test_db.py", "pkg.data", "pkg.store")},
     "src/pkg/store.py added, a Python file the map never measured"),
    ({"src/pkg/data.py": None, "src/pkg/store.py": FILES["src/pkg/data.py"]},  # importers not updated
     "the tests could not be listed (a collection error? see logs/unit-collect.log)"),
])
def test_changes_coverage_cannot_see_run_everything_with_the_reason(
        recorded: tuple[Path, Path], tmp_path: Path, edits: dict[str, str | None], reason: str) -> None:
    project = change(recorded, tmp_path, edits)
    done, report = select(recorded, project)
    impact = report["impact"]
    assert impact["full_run_reason"].startswith(reason), impact["full_run_reason"]
    if "could not be listed" in reason:  # pytest stops at the collection error, as the full run would
        assert done.returncode == 1 and ran(report) == {"unit::tests/unit/test_db.py::tests.unit.test_db"}
    else:
        assert ran(report) == ALL_TESTS
        assert impact["selected"] == impact["total"] == len(ALL_TESTS) and impact["deselected"] == []
        assert f"==> impact: all 10 tests: {reason}" in done.stdout


def test_a_deleted_module_selects_its_importers_and_a_renamed_test_file_runs_as_new(
        recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project = change(recorded, tmp_path, {
        "src/pkg/extra.py": None,
        "tests/unit/test_plain.py": None, "tests/unit/test_renamed.py": FILES["tests/unit/test_plain.py"]})
    done, report = select(recorded, project)
    assert report["impact"]["full_run_reason"] is None
    assert ran(report) == {"unit::tests/unit/test_extra.py::test_third", "unit::tests/unit/test_renamed.py::test_plain"}
    assert report["failed"] == ["tests/unit/test_extra.py::test_third"]  # it cannot import the deleted module
    kinds = {entry["path"]: entry["kind"] for entry in report["impact"]["changed"]}
    assert kinds == {"src/pkg/extra.py": "deleted", "tests/unit/test_plain.py": "deleted",
                     "tests/unit/test_renamed.py": "added"}


def test_uncommitted_and_untracked_changes_count_too(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project = change(recorded, tmp_path, {})
    (project / "src/pkg/calc.py").write_text(edited("src/pkg/calc.py", "return a * 2", "return a + a"),
                                             encoding="utf-8")
    (project / "tests/unit/test_wip.py").write_text("def test_wip():\n    pass\n", encoding="utf-8")
    done, report = select(recorded, project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran(report) == {"unit::tests/unit/test_calc.py::test_double", "unit::tests/unit/test_wip.py::test_wip"}


def test_a_hostile_or_corrupt_map_costs_the_selection_never_the_results(
        recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project = change(recorded, tmp_path, {})
    bad = tmp_path / "bad.json.gz"
    for content, why in ((b"\x1f\x8b garbage", "not gzip"),
                         (gzip.compress(b" " * (600 * 1024 * 1024)), "inflates to more than 512 MB"),
                         (gzip.compress(json.dumps({"schema": "doorbell-ci.impact", "version": 9}).encode()),
                          "version '9' is not 1")):
        bad.write_bytes(content)
        done, report = doorbell(project, "--select", "affected", "--impact-map", str(bad))
        assert done.returncode == 0, done.stdout + done.stderr
        reason = report["impact"]["full_run_reason"]
        assert reason.startswith(f"the impact map is not used: {bad} is not a usable doorbell-ci impact map")
        assert why in reason and "\n" not in reason
        assert ran(report) == ALL_TESTS and report["totals"]["passed"] == len(ALL_TESTS)
    done, report = doorbell(project, "--select", "affected", "--impact-map", str(tmp_path / "missing.json.gz"))
    assert report["impact"]["full_run_reason"].endswith("missing.json.gz does not exist")
    done, report = doorbell(project, "--select", "affected")  # none named, none in the output folder
    assert report["impact"]["full_run_reason"].startswith("no impact map")
    assert ran(report) == ALL_TESTS


def rewritten_map(recorded: tuple[Path, Path], target: Path, **fields: Any) -> Path:
    document = json.loads(gzip.decompress(recorded[1].read_bytes()))
    document.update(fields)
    target.write_bytes(gzip.compress(json.dumps(document).encode()))
    return target


def test_a_map_from_another_platform_or_an_unknown_or_old_commit_runs_everything(
        recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project = change(recorded, tmp_path, {"src/pkg/calc.py": edited("src/pkg/calc.py", "-a", "0 - a")})
    other = rewritten_map(recorded, tmp_path / "other.json.gz", platform_key="darwin-arm64-py3.13")
    done, report = doorbell(project, "--select", "affected", "--impact-map", str(other))
    assert report["impact"]["full_run_reason"].startswith("the map was recorded on darwin-arm64-py3.13, this run is ")
    assert ran(report) == ALL_TESTS

    done, report = select(recorded, project, "--impact-max-commits", "1")
    assert report["impact"]["full_run_reason"] is None  # one commit back: fine
    git(project, "commit", "-q", "--allow-empty", "-m", "C")
    done, report = select(recorded, project, "--impact-max-commits", "1")
    assert report["impact"]["full_run_reason"] == "the map is 2 commits behind HEAD (impact_max_commits is 1)"

    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{project}", str(shallow))
    done, report = select(recorded, shallow)
    commit = read_map(recorded[1]).commit
    assert report["impact"]["full_run_reason"] == (
        f"the map's commit {commit[:12]} is not in this clone (a shallow clone? fetch more history, "
        "e.g. actions/checkout with fetch-depth: 0)")
    assert ran(report) == ALL_TESTS and done.returncode == 0


def test_audit_runs_everything_and_names_a_failure_the_selection_would_have_missed(
        recorded: tuple[Path, Path], tmp_path: Path) -> None:
    # the data file is declared ignorable (wrongly): affected would skip the test that reads it
    project = change(recorded, tmp_path, {"tests/unit/data/values.txt": "1 2 4\n"})
    done, report = doorbell(project, "--select", "audit", "--impact-map", str(recorded[1]),
                            "--impact-ignore", "tests/unit/data/*")
    assert done.returncode == 1
    assert ran(report) == ALL_TESTS
    impact = report["impact"]
    assert impact["mode"] == "audit" and impact["missed"] == ["unit::tests/unit/test_files.py::test_reads_data"]
    assert any(n.startswith("impact audit: the selection would have missed 1 failing test(s)")
               for n in report["notices"])
    from doorbell_ci.impact import summary_line

    assert summary_line(impact).startswith("selection would have missed 1 failing test(s); audit: all 10 tests ran")


def test_a_test_reading_source_text_is_the_same_code_rules_blind_spot_and_audit_names_it(tmp_path: Path) -> None:
    """The documented unsound case: a comment changes what ``inspect.getsource`` returns, not the code."""
    origin = tmp_path / "origin"
    files = {"pyproject.toml": FILES["pyproject.toml"], ".gitignore": "test-results/\n",
             "src/pkg/__init__.py": "", "src/pkg/mod.py": "def answer():\n    return 42\n",
             "tests/unit/test_mod.py": "from pkg.mod import answer\n\n\ndef test_answer():\n"
                                       "    assert answer() == 42\n",
             "tests/unit/test_source.py": "import inspect\n\nfrom pkg import mod\n\n\ndef test_no_todo_left():\n"
                                          "    assert 'TODO' not in inspect.getsource(mod)\n"}
    commit_files(origin, files, "A", init=True)
    done, _ = doorbell(origin, "--record-impact")
    assert done.returncode == 0, done.stdout + done.stderr
    shutil.copy(origin / "test-results" / "impact.json.gz", tmp_path / "A.json.gz")
    (origin / "src/pkg/mod.py").write_text("def answer():\n    return 42  # TODO: ask again\n", encoding="utf-8")
    git(origin, "commit", "-qam", "B")
    done, report = doorbell(origin, "--select", "audit", "--impact-map", str(tmp_path / "A.json.gz"),
                            output=tmp_path / "audit")
    impact = report["impact"]
    assert done.returncode == 1 and report["failed"] == ["tests/unit/test_source.py::test_no_todo_left"]
    assert impact["selected"] == 0 and impact["no_code_change"] == ["src/pkg/mod.py: comments/formatting only"]
    assert impact["missed"] == ["unit::tests/unit/test_source.py::test_no_todo_left"]


def test_recording_with_two_xdist_workers_gives_the_same_map(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project = change(recorded, tmp_path, {})
    done, report = doorbell(project, "--record-impact", "--workers", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    parallel = read_map(project / "test-results" / "impact.json.gz")
    single = read_map(recorded[1])
    assert parallel.tests == single.tests and parallel.files == single.files
    assert report["impact"]["recorded"]["tests"] == len(ALL_TESTS)


def test_shards_split_only_the_selected_tests(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project = change(recorded, tmp_path, {
        "src/pkg/calc.py": edited("src/pkg/calc.py", "    return a + b\n", "    return b + a\n")})
    seen: set[str] = set()
    for index in (1, 2):
        done, report = select(recorded, project, "--shard", f"{index}/2", output=tmp_path / f"shard{index}")
        assert done.returncode == 0, done.stdout + done.stderr
        assert report["impact"]["selected"] == 2
        assert report["analysis"]["shard"]["total_tests"] == 2
        assert not ran(report) & seen
        seen |= ran(report)
    assert seen == {"unit::tests/unit/test_calc.py::test_add", "unit::tests/unit/test_calc.py::test_mul"}


def test_a_selected_run_does_not_record_a_partial_map(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project = change(recorded, tmp_path, {"src/pkg/calc.py": edited("src/pkg/calc.py", "-a", "0 - a")})
    done, report = select(recorded, project, "--record-impact")
    assert report["impact"]["recorded"] is None
    assert any("not recorded from a selected run" in n for n in report["notices"])
    assert not (project / "test-results" / "impact.json.gz").exists()


def test_recording_and_selecting_in_docker(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    from tests.docker_tools import docker_client, offline_env, readable_by_containers

    docker_client()  # skips without an engine
    project = change(recorded, tmp_path, {})
    readable_by_containers(tmp_path)
    env = {k: v for k, v in offline_env().items() if not k.startswith("GITHUB_")}
    docker = ["--environment", "docker", "--workers", "2"]
    done = subprocess.run(  # noqa: S603 - our own CLI on a project the test made
        [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", "unit", "--quiet",
         "--no-history", "--record-impact", *docker], env=env, capture_output=True, text=True, timeout=600,
        check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    in_docker = read_map(project / "test-results" / "impact.json.gz")
    assert in_docker.platform_key.endswith("-docker-offline")
    assert in_docker.tests == read_map(recorded[1]).tests  # container paths are the host's: no translation
    shutil.copy(project / "test-results" / "impact.json.gz", tmp_path / "docker.json.gz")

    (project / "src/pkg/calc.py").write_text(edited("src/pkg/calc.py", "    return -a\n", "    return 0 - a\n"),
                                             encoding="utf-8")
    for impact_map, expected in ((tmp_path / "docker.json.gz", {"unit::tests/unit/test_calc.py::test_neg"}),
                                 (recorded[1], ALL_TESTS)):  # a local map does not fit a Docker run
        output = tmp_path / f"out-{impact_map.stem}"
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", "unit", "--quiet",
             "--no-history", "--select", "affected", "--impact-map", str(impact_map), "--output-dir", str(output),
             *docker], env=env, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads((output / "report.json").read_text(encoding="utf-8"))
        assert {f"{t.suite}::{t.nodeid}" for t in json_report.read(output)[0].iter_tests()} == expected
        if expected == ALL_TESTS:
            assert report["impact"]["full_run_reason"].startswith("the map was recorded on linux-")


def test_a_test_that_runs_code_in_another_process_always_runs(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    spawning = '''\
import subprocess
import sys


def test_cli():
    done = subprocess.run([sys.executable, "-c", "from pkg.calc import neg; print(neg(3))"],
                          capture_output=True, text=True, env={"PYTHONPATH": "src"}, check=True)
    assert done.stdout.strip() == "-3"
'''
    project = change(recorded, tmp_path, {"tests/unit/test_spawn.py": spawning})
    done, report = doorbell(project, "--record-impact")
    assert done.returncode == 0, done.stdout + done.stderr
    impact_map = project / "test-results" / "impact.json.gz"
    assert "unit::tests/unit/test_spawn.py::test_cli" not in read_map(impact_map).tests  # its lines went unseen
    shutil.copy(impact_map, tmp_path / "spawn.json.gz")
    (project / "src/pkg/calc.py").write_text(edited("src/pkg/calc.py", "    return -a\n", "    return 0 - a\n"),
                                             encoding="utf-8")
    done, report = doorbell(project, "--select", "affected", "--impact-map", str(tmp_path / "spawn.json.gz"),
                            output=tmp_path / "selected")
    assert report["impact"]["full_run_reason"] is None, report["impact"]["full_run_reason"]
    assert ran(report) == {"unit::tests/unit/test_calc.py::test_neg", "unit::tests/unit/test_spawn.py::test_cli"}
    assert report["impact"]["reasons"]["no_map_entry"] == 1


def test_each_suite_is_recorded_and_selected_under_its_own_name(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project = change(recorded, tmp_path, {
        "tests/integration/test_flow.py":
            "from pkg.calc import mul\n\n\ndef test_flow():\n    assert mul(3, 3) == 9\n"})
    done, report = doorbell(project, "--record-impact", "--suites", "unit", "integration")
    assert done.returncode == 0, done.stdout + done.stderr
    impact_map = read_map(project / "test-results" / "impact.json.gz")
    assert impact_map.suites == ["integration", "unit"]
    assert "src/pkg/calc.py" in impact_map.tests["integration::tests/integration/test_flow.py::test_flow"]
    assert {"unit::", "integration::"} <= set(impact_map.tests)
    (project / "src/pkg/calc.py").write_text(edited("src/pkg/calc.py", "    return a + b\n", "    return b + a\n"),
                                             encoding="utf-8")
    shutil.copy(project / "test-results" / "impact.json.gz", tmp_path / "two.json.gz")
    done, report = doorbell(project, "--select", "affected", "--impact-map", str(tmp_path / "two.json.gz"),
                            "--suites", "unit", "integration", output=tmp_path / "selected")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran(report) == {"unit::tests/unit/test_calc.py::test_add", "unit::tests/unit/test_calc.py::test_mul",
                           "integration::tests/integration/test_flow.py::test_flow"}


def test_a_test_that_failed_recently_runs_even_when_nothing_it_ran_changed(
        recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project = change(recorded, tmp_path, {
        "tests/unit/test_plain.py": "import os\n\n\ndef test_plain():\n    assert os.environ.get('FLIP') != '1'\n"})
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_CI_", "GITHUB_"))}
    for flip in ("1", "0"):  # the first run fails test_plain and writes history.json; the second selects it
        done = subprocess.run(  # noqa: S603 - our own CLI on a project the test made
            [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", "unit", "--quiet",
             "--select", "affected", "--impact-map", str(recorded[1])],
            cwd=project, env={**environment, "FLIP": flip}, capture_output=True, text=True, timeout=600, check=False)
        git(project, "commit", "-q", "--allow-empty", "-m", f"run {flip}")
    report = json.loads((project / "test-results" / "report.json").read_text(encoding="utf-8"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert report["impact"]["reasons"]["modified_test_file"] == 1  # test_plain.py differs from A's in both runs
    (project / "tests/unit/test_plain.py").write_text(FILES["tests/unit/test_plain.py"], encoding="utf-8")
    git(project, "commit", "-qam", "back to A's text")
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", "unit", "--quiet",
         "--select", "affected", "--impact-map", str(recorded[1])],
        cwd=project, env=environment, capture_output=True, text=True, timeout=600, check=False)
    report = json.loads((project / "test-results" / "report.json").read_text(encoding="utf-8"))
    assert report["impact"]["reasons"]["recent_failure"] == 1, report["impact"]
    selected = {f"{t.suite}::{t.nodeid}" for t in json_report.read(project / "test-results")[0].iter_tests()}
    assert selected == {"unit::tests/unit/test_plain.py::test_plain"}  # back to A's text, run for its failure


def test_an_output_folder_inside_the_project_that_git_does_not_ignore_is_not_a_change(
        recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project = change(recorded, tmp_path, {})  # .gitignore names test-results/, not results/
    for _ in range(2):  # the second run finds the first one's files untracked in results/
        done, report = select(recorded, project, output=project / "results")
        assert done.returncode == 0, done.stdout + done.stderr
    assert git(project, "status", "--porcelain").startswith("?? results/")
    assert report["impact"]["full_run_reason"] is None, report["impact"]["full_run_reason"]
    assert report["impact"]["selected"] == 0
