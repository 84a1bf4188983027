"""plan.make_plan and pytest_arguments: what runs, in which order, with which argv."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from doorbell_ci.config import load_config
from doorbell_ci.plan import make_plan, pytest_arguments, suite_environment


def _project(tmp_path: Path, suites: tuple[str, ...], table: str = "") -> Path:
    for name in suites:
        (tmp_path / "tests" / name).mkdir(parents=True, exist_ok=True)
    (tmp_path / "pyproject.toml").write_text(f"[project]\nname = 'x'\n{table}\n", encoding="utf-8")
    return tmp_path


def _plan(tmp_path: Path, suites: tuple[str, ...], cli: dict | None = None, table: str = ""):  # noqa: ANN202
    return make_plan(load_config(_project(tmp_path, suites, table), cli or {}, environ={}))


def test_default_suites_without_a_folder_are_not_reported_suite_by_suite(tmp_path: Path) -> None:
    """``all`` tries the seven built-in folders; the five this project lacks are no one's concern (item 4)."""
    plan = _plan(tmp_path, ("unit", "e2e"))
    assert [s.name for s in plan.suites] == ["unit", "e2e"]
    assert plan.absent == ()
    assert set(plan.not_in_project) == {"integration", "performance", "security", "load", "streaming"}


def test_a_suite_declared_in_pyproject_without_its_folder_is_absent(tmp_path: Path) -> None:
    plan = _plan(tmp_path, ("unit",), table="[tool.doorbell-ci.suite.hardware]\npaths = ['tests/hw']\n"
                 "[tool.doorbell-ci.suite.e2e]\ntimeout = 60\n")
    absent = {s.name: s.reason for s in plan.absent}
    assert set(absent) == {"hardware", "e2e"}  # named by the user, so a missing folder is worth saying
    assert "tests/hw does not exist" in absent["hardware"]
    assert "hardware" not in plan.not_in_project and "load" in plan.not_in_project


def test_explicitly_selected_absent_suite_is_absent_too(tmp_path: Path) -> None:
    plan = _plan(tmp_path, ("unit",), {"suites": ["unit", "load"]})
    assert [s.name for s in plan.suites] == ["unit"]
    assert [s.name for s in plan.absent] == ["load"]


def test_performance_and_load_are_exclusive_serial_and_last(tmp_path: Path) -> None:
    plan = _plan(tmp_path, ("performance", "unit", "load", "security"),
                 {"workers": "4", "suites": ["performance", "load", "unit", "security"]})
    names = [s.name for s in plan.suites]
    assert names[-2:] == ["performance", "load"]
    for suite in plan.suites:
        if suite.name in {"performance", "load"}:
            assert suite.config.exclusive and suite.workers == 1
        else:
            assert not suite.config.exclusive and suite.workers == 4


def test_serial_suites_get_one_worker(tmp_path: Path) -> None:
    plan = _plan(tmp_path, ("e2e", "streaming"), {"workers": "3"})
    assert {s.name: s.workers for s in plan.suites} == {"e2e": 1, "streaming": 1}


def test_auto_workers_is_the_core_count(tmp_path: Path) -> None:
    plan = _plan(tmp_path, ("unit",), {"workers": "auto"})
    assert plan.suites[0].workers == plan.cores


def test_global_timeout_overrides_suite_timeouts(tmp_path: Path) -> None:
    plan = _plan(tmp_path, ("unit", "load"), {"timeout": "12"})
    assert {s.timeout for s in plan.suites} == {12.0}
    default_plan = _plan(tmp_path, ("unit", "load"))
    assert {s.name: s.timeout for s in default_plan.suites} == {"unit": 600.0, "load": 1800.0}


def _args(tmp_path: Path, name: str, cli: dict, table: str = "") -> list[str]:
    plan = _plan(tmp_path, (name,), {"suites": [name], **cli}, table)
    return pytest_arguments(plan.suites[0], PurePosixPath("/p"), PurePosixPath("/o"), plan.coverage_source)


def test_xdist_only_for_parallel_suites_and_never_workers_flag(tmp_path: Path) -> None:
    unit = _args(tmp_path, "unit", {"workers": "2"})
    assert unit[unit.index("-n") + 1] == "2"
    e2e = _args(tmp_path, "e2e", {"workers": "2"})
    assert "-n" not in e2e
    for argv in (unit, e2e):
        assert not any(arg.startswith("--workers") for arg in argv)


def test_one_worker_means_no_xdist(tmp_path: Path) -> None:
    assert "-n" not in _args(tmp_path, "unit", {"workers": "1"})


def test_markers_are_separate_argv_items(tmp_path: Path) -> None:
    argv = _args(tmp_path, "unit", {}, "[tool.doorbell-ci.suite.unit]\nmarkers = 'not slow and not hardware'\n")
    index = argv.index("-m")
    assert argv[index + 1] == "not slow and not hardware"
    assert argv[0] == "/p/tests/unit"


def test_junit_progress_and_coverage_arguments(tmp_path: Path) -> None:
    argv = _args(tmp_path, "unit", {})
    assert "--junitxml=/o/junit/unit.xml" in argv
    assert argv[argv.index("-p") + 1] == "doorbell_ci.progress_plugin"
    assert "--cov" in argv
    assert "--cov" not in _args(tmp_path, "unit", {"coverage": "false"})


def test_performance_suite_collects_no_coverage(tmp_path: Path) -> None:
    assert not any(arg.startswith("--cov") for arg in _args(tmp_path, "performance", {}))


def test_extra_pytest_args_come_last(tmp_path: Path) -> None:
    argv = _args(tmp_path, "unit", {}, "[tool.doorbell-ci.suite.unit]\npytest_args = ['-x', '--maxfail=3']\n")
    assert argv[-2:] == ["-x", "--maxfail=3"]


def test_suite_environment_points_at_the_progress_file(tmp_path: Path) -> None:
    plan = _plan(tmp_path, ("unit",), table="[tool.doorbell-ci.suite.unit]\nenv = { DOORBELL_MODE = 'ci' }\n")
    env = suite_environment(plan.suites[0], PurePosixPath("/o"))
    assert env["DOORBELL_CI_PROGRESS"] == "/o/logs/unit.progress.jsonl"
    assert env["DOORBELL_CI_SUITE"] == "unit"
    assert env["DOORBELL_MODE"] == "ci"
    assert env["COVERAGE_FILE"] == "/o/coverage/.coverage.unit"


def test_command_suite_is_planned_without_xdist_or_coverage(tmp_path: Path) -> None:
    table = "[tool.doorbell-ci.suite.web]\ncommand = ['node', 'x.js']\njunit = 'web.xml'\n"
    plan = _plan(tmp_path, (), {"suites": ["web"]}, table)
    (web,) = plan.suites
    assert web.workers == 1 and web.coverage is False


# --- a project without the doorbell layout: what plain pytest would run becomes the unit suite ----


def _flat(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def _fallback(tmp_path: Path, cli: dict | None = None) -> tuple[list[tuple[str, tuple[str, ...]]], tuple[str, ...]]:
    plan = make_plan(load_config(tmp_path, cli or {}, environ={}))
    return [(suite.name, suite.config.paths) for suite in plan.suites], plan.notices


def test_a_flat_tests_folder_runs_as_the_unit_suite_and_says_so(tmp_path: Path) -> None:
    _flat(tmp_path, {"tests/test_a.py": "def test_a(): pass\n"})
    suites, notices = _fallback(tmp_path)
    assert suites == [("unit", ("tests",))]
    assert len(notices) == 1 and "tests/ (no pytest testpaths set) runs as the unit suite" in notices[0]
    plan = make_plan(load_config(tmp_path, {}, environ={}))
    assert "unit" not in {s.name for s in plan.absent} and plan.suites[0].timeout == 900.0


def test_a_test_folder_is_found_too(tmp_path: Path) -> None:
    _flat(tmp_path, {"test/test_a.py": "def test_a(): pass\n"})
    assert _fallback(tmp_path)[0] == [("unit", ("test",))]


@pytest.mark.parametrize(("name", "text", "section"), [
    ("pyproject.toml", '[tool.pytest.ini_options]\ntestpaths = ["checks", "more"]\n',
     "pyproject.toml [tool.pytest.ini_options]"),
    ("pytest.ini", "[pytest]\ntestpaths = checks more\n", "pytest.ini [pytest]"),
    ("tox.ini", "[pytest]\ntestpaths =\n    checks\n    more\n", "tox.ini [pytest]"),
    ("setup.cfg", "[tool:pytest]\ntestpaths = checks more\n", "setup.cfg [tool:pytest]"),
    ("pytest.toml", '[pytest]\ntestpaths = ["checks", "more"]\n', "pytest.toml [pytest]"),
], ids=["pyproject", "pytest.ini", "tox.ini", "setup.cfg", "pytest.toml"])
def test_pytest_testpaths_win_over_tests_from_every_file_pytest_reads(
        tmp_path: Path, name: str, text: str, section: str) -> None:
    _flat(tmp_path, {name: text, "checks/test_a.py": "", "more/test_b.py": "", "tests/test_c.py": ""})
    suites, notices = _fallback(tmp_path)
    assert suites == [("unit", ("checks", "more"))]
    assert f"checks/, more/ (pytest testpaths in {section}) runs as the unit suite" in notices[0]


def test_testpaths_globs_are_expanded_and_outside_or_missing_entries_left_out(tmp_path: Path) -> None:
    (tmp_path.parent / "elsewhere").mkdir(exist_ok=True)
    _flat(tmp_path, {"pytest.ini": "[pytest]\ntestpaths = pkg*/tests ../elsewhere /etc missing\n",
                     "pkg_a/tests/test_a.py": "", "pkg_b/tests/test_b.py": ""})
    assert _fallback(tmp_path)[0] == [("unit", ("pkg_a/tests", "pkg_b/tests"))]


def test_testpaths_that_match_nothing_fall_back_to_tests(tmp_path: Path) -> None:
    _flat(tmp_path, {"pytest.ini": "[pytest]\ntestpaths = nowhere\n", "tests/test_a.py": ""})
    assert _fallback(tmp_path)[0] == [("unit", ("tests",))]


def test_a_parent_folders_pytest_configuration_is_not_the_projects(tmp_path: Path) -> None:
    _flat(tmp_path, {"pytest.ini": "[pytest]\ntestpaths = checks\n", "project/checks/test_a.py": "",
                     "project/tests/test_b.py": ""})
    assert _fallback(tmp_path / "project")[0] == [("unit", ("tests",))]


def test_no_fallback_when_the_project_uses_the_layout_or_configures_its_suites(tmp_path: Path) -> None:
    _flat(tmp_path, {"tests/integration/test_a.py": "", "tests/test_flat.py": ""})
    assert _fallback(tmp_path, {"suites": ["unit"]}) == ([], ())  # no second copy of the integration tests
    configured = tmp_path / "configured"
    _flat(configured, {"tests/test_a.py": "",
                       "pyproject.toml": '[tool.doorbell-ci.suite.unit]\npaths = ["spec/unit"]\n'})
    assert _fallback(configured) == ([], ())  # the user's own unit suite is never replaced
    command = tmp_path / "command"
    _flat(command, {"tests/test_a.py": "", "pyproject.toml":
                    '[tool.doorbell-ci.suite.web]\ncommand = ["npx", "jest"]\njunit = "web/junit.xml"\n'})
    assert _fallback(command, {"suites": ["unit"]}) == ([], ())
    nothing = tmp_path / "nothing"
    _flat(nothing, {"src/app.py": ""})
    assert _fallback(nothing) == ([], ())
    assert _fallback(tmp_path / "configured", {"suites": ["integration"]}) == ([], ())


def test_a_broken_pytest_configuration_does_not_stop_the_plan(tmp_path: Path) -> None:
    _flat(tmp_path, {"setup.cfg": "[pytest]\ntestpaths = checks\n", "tests/test_a.py": ""})  # pytest refuses it
    assert _fallback(tmp_path)[0] == [("unit", ("tests",))]


def test_coverage_suites_leave_fail_under_to_the_combined_total(tmp_path: Path) -> None:
    argv = pytest_arguments(_plan(tmp_path, ("unit",)).suites[0], PurePosixPath("/p"), PurePosixPath("/o"))
    assert argv.index("--cov-fail-under=0") > argv.index("--cov")
    no_cov = _plan(tmp_path, ("unit",), {"coverage": "false"}).suites[0]
    argv = pytest_arguments(no_cov, PurePosixPath("/p"), PurePosixPath("/o"))
    assert not any(arg.startswith("--cov") for arg in argv)
