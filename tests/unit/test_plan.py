"""plan.make_plan and pytest_arguments: what runs, in which order, with which argv."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

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
