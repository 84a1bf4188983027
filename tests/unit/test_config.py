"""config.load_config: four sources in a fixed order, and every mistake named by its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w

from doorbell_ci.config import load_config
from doorbell_ci.errors import ConfigError
from doorbell_ci.options import SUITE_NAMES


def _project(tmp_path: Path, table: str = "", suites: tuple[str, ...] = ("unit",)) -> Path:
    for name in suites:
        (tmp_path / "tests" / name).mkdir(parents=True, exist_ok=True)
    (tmp_path / "pyproject.toml").write_text(f"[project]\nname = 'x'\n\n{table}\n", encoding="utf-8")
    return tmp_path


# --- precedence ----------------------------------------------------------------------------------


def test_defaults_apply_without_any_source(tmp_path: Path) -> None:
    config = load_config(_project(tmp_path), environ={})
    assert config.workers == 1
    assert config.timeout is None
    assert config.suites == ("all",)
    assert config.output_dir == tmp_path.resolve() / "test-results"
    assert config.origins["workers"] == "default"


def test_pyproject_overrides_defaults(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.doorbell-ci]\nworkers = 3\ntimeout = 40\n")
    config = load_config(project, environ={})
    assert (config.workers, config.timeout) == (3, 40.0)
    assert config.origins["workers"] == "pyproject"


def test_environment_overrides_pyproject(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.doorbell-ci]\nworkers = 3\ntimeout = 40\n")
    config = load_config(project, environ={"DOORBELL_CI_WORKERS": "5"})
    assert (config.workers, config.timeout) == (5, 40.0)
    assert config.origins["workers"] == "environment"


def test_command_line_overrides_environment(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.doorbell-ci]\nworkers = 3\n")
    config = load_config(project, {"workers": "7"}, environ={"DOORBELL_CI_WORKERS": "5"})
    assert config.workers == 7
    assert config.origins["workers"] == "command line"


def test_each_source_is_used_for_the_option_it_sets(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.doorbell-ci]\ntimeout = 40\nfail_fast = true\n")
    config = load_config(project, {"workers": "2"}, environ={"DOORBELL_CI_OUTPUT_DIR": "out"})
    assert config.timeout == 40.0 and config.fail_fast is True
    assert config.workers == 2
    assert config.output_dir == tmp_path.resolve() / "out"


# --- unknown keys and bad values ----------------------------------------------------------------


def test_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.doorbell-ci]\nworkerz = 2\n")
    with pytest.raises(ConfigError, match="unknown key 'workerz'"):
        load_config(project, environ={})


def test_unknown_suite_key_is_named(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.doorbell-ci.suite.unit]\nparalel = false\n")
    with pytest.raises(ConfigError, match=r"suite\.unit.*unknown key 'paralel'"):
        load_config(project, environ={})


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("workers = 0", "workers"),
        ("timeout = -1", "timeout"),
        ("fail_fast = 'maybe'", "fail_fast"),
        ("workers = 'lots'", "workers"),
    ],
)
def test_bad_top_level_value_names_the_key(tmp_path: Path, table: str, key: str) -> None:
    project = _project(tmp_path, f"[tool.doorbell-ci]\n{table}\n")
    with pytest.raises(ConfigError, match=f"'{key}'"):
        load_config(project, environ={})


def test_bad_suite_value_names_the_key(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.doorbell-ci.suite.unit]\nparallel = 'maybe'\n")
    with pytest.raises(ConfigError, match=r"suite\.unit\] key 'parallel'"):
        load_config(project, environ={})


def test_bad_suite_timeout_names_the_key(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.doorbell-ci.suite.unit]\ntimeout = -1\n")
    with pytest.raises(ConfigError, match="key 'timeout'"):
        load_config(project, environ={})


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DOORBELL_CI_WORKERS"):
        load_config(_project(tmp_path), environ={"DOORBELL_CI_WORKERS": "0"})


def test_bad_command_line_value_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--timeout"):
        load_config(_project(tmp_path), {"timeout": "-1"}, environ={})


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.doorbell-ci\nworkers = 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path, environ={})


def test_missing_project_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nowhere", environ={})


def test_unknown_suite_on_the_command_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown suite 'unti'"):
        load_config(_project(tmp_path), {"suites": ["unti"]}, environ={})


# --- suite paths ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["../elsewhere", "/etc", "tests/../../outside", "--rootdir=/", "-p"],
)
def test_suite_paths_outside_the_project_or_option_like_are_refused(tmp_path: Path, path: str) -> None:
    project = _project(tmp_path, f"[tool.doorbell-ci.suite.unit]\npaths = [{path!r}]\n")
    with pytest.raises(ConfigError, match="key 'paths'"):
        load_config(project, environ={})


def test_junit_path_outside_the_project_is_refused(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.doorbell-ci.suite.web]\ncommand = ['true']\njunit = '/tmp/x.xml'\n")
    with pytest.raises(ConfigError, match="key 'junit'"):
        load_config(project, environ={})


def test_custom_command_suite(tmp_path: Path) -> None:
    table = (
        "[tool.doorbell-ci.suite.web]\n"
        "command = ['npx', 'jest', '--ci']\n"
        "junit = 'web/junit.xml'\n"
        "timeout = 120\n"
    )
    config = load_config(_project(tmp_path, table), {"suites": ["web"]}, environ={})
    web = config.suite_configs["web"]
    assert web.command == ("npx", "jest", "--ci")
    assert web.junit == "web/junit.xml"
    assert web.timeout == 120.0
    assert not web.is_pytest
    assert config.suites == ("web",)


def test_command_suite_without_junit_is_refused(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.doorbell-ci.suite.web]\ncommand = ['npx', 'jest']\n")
    with pytest.raises(ConfigError, match="needs 'junit'"):
        load_config(project, environ={})


def test_new_suite_needs_paths_markers_or_command(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.doorbell-ci.suite.smoke]\nparallel = false\n")
    with pytest.raises(ConfigError, match="needs 'paths', 'markers' or a 'command'"):
        load_config(project, environ={})


def test_suite_named_all_is_refused(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.doorbell-ci.suite.all]\npaths = ['tests']\n")
    with pytest.raises(ConfigError, match="'all' is not a usable suite name"):
        load_config(project, environ={})


def test_suite_override_keeps_the_other_defaults(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.doorbell-ci.suite.unit]\nmarkers = 'not slow'\n")
    unit = load_config(project, environ={}).suite_configs["unit"]
    assert unit.markers == "not slow"
    assert unit.paths == ("tests/unit",)
    assert unit.parallel is True


def test_all_selects_every_known_suite(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.doorbell-ci.suite.smoke]\nmarkers = 'smoke'\n")
    config = load_config(project, environ={})
    assert config.suites == ("all",)
    assert set(config.suite_configs) == {*SUITE_NAMES, "smoke"}


def test_suites_from_environment_accept_commas_and_spaces(tmp_path: Path) -> None:
    config = load_config(_project(tmp_path), environ={"DOORBELL_CI_SUITES": "unit, e2e security"})
    assert config.suites == ("unit", "e2e", "security")


@pytest.mark.parametrize("output_dir", [".", "..", "tests/.."])
def test_output_dir_may_not_be_the_project_or_hold_it(tmp_path: Path, output_dir: str) -> None:
    project = _project(tmp_path / "proj")
    with pytest.raises(ConfigError, match="output_dir"):
        load_config(project, {"output_dir": output_dir}, environ={})


def test_output_dir_outside_the_project_is_allowed(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj")
    config = load_config(project, {"output_dir": str(tmp_path / "results")}, environ={})
    assert config.output_dir == (tmp_path / "results").resolve()


def test_option_like_marker_expression_is_refused(tmp_path: Path) -> None:
    project = _project(tmp_path, "[tool.doorbell-ci.suite.unit]\nmarkers = '--rootdir=/'\n")
    with pytest.raises(ConfigError, match="key 'markers'.*looks like an option"):
        load_config(project, environ={})


# --- --paths: an ad-hoc suite from the command line (issue 17 item 1) ----------------------------------


def _flat(tmp_path: Path) -> Path:
    (tmp_path / "tests" / "camera").mkdir(parents=True)
    (tmp_path / "tests" / "test_bell.py").write_text("def test_ring():\n    pass\n", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    return tmp_path


def test_paths_make_one_suite_that_replaces_the_selection(tmp_path: Path) -> None:
    project = _flat(tmp_path)
    config = load_config(project, {"paths": ["tests/camera", f"{project}/tests/test_bell.py::test_ring"]},
                         environ={})
    assert config.suites == ("paths",)
    suite = config.suite_configs["paths"]
    assert suite.paths == ("tests/camera", "tests/test_bell.py::test_ring") and suite.is_pytest
    assert suite.parallel and suite.coverage and not suite.exclusive


def test_paths_from_the_environment_split_like_suites_and_join_named_suites(tmp_path: Path) -> None:
    project = _flat(tmp_path)
    (project / "tests" / "unit").mkdir()
    environ = {"DOORBELL_CI_PATHS": "tests/camera, tests/test_bell.py"}
    config = load_config(project, {"suites": ["unit"]}, environ=environ)
    assert config.suites == ("unit", "paths")
    assert config.suite_configs["paths"].paths == ("tests/camera", "tests/test_bell.py")


@pytest.mark.parametrize(("given", "message"), [
    ("../elsewhere", "is outside the project"),
    ("/etc", "is outside the project"),
    ("tests/../../x", "is outside the project"),
    ("tests/link-out", "is outside the project"),  # a symlink inside pointing out
    ("tests/nope", "does not exist in"),
    ("-p=evil", "looks like an option"),
    ("tests\\camera", "uses backslashes"),
])
def test_paths_outside_the_project_missing_or_options_are_one_line_errors(tmp_path: Path, given: str,
                                                                           message: str) -> None:
    project = _flat(tmp_path / "p")
    (tmp_path / "elsewhere").mkdir()
    (project / "tests" / "link-out").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match=message) as error:
        load_config(project, {"paths": [given]}, environ={})
    assert str(error.value).startswith("command line --paths: ") and "\n" not in str(error.value)


def test_paths_refuse_a_project_suite_of_the_same_name(tmp_path: Path) -> None:
    project = _flat(tmp_path)
    (project / "pyproject.toml").write_text("[tool.doorbell-ci.suite.paths]\npaths = ['tests']\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="declares a suite named 'paths' too"):
        load_config(project, {"paths": ["tests"]}, environ={})
    assert load_config(project, environ={}).suite_configs["paths"].paths == ("tests",)  # without --paths: theirs
def test_a_suite_names_the_platform_its_tests_ran_on(tmp_path: Path) -> None:
    table = ("[tool.doorbell-ci.suite.arm64-unit]\ncommand = ['bash', 'run.sh']\njunit = 'out/unit.xml'\n"
             "platform = 'arm64'\n")
    config = load_config(_project(tmp_path, table), environ={})
    assert config.suite_configs["arm64-unit"].platform == "arm64"
    assert config.suite_configs["unit"].platform == ""  # the run's own platform


@pytest.mark.parametrize("value", ["", "arm 64", "-arm64", "arm64\n", "../x", "a" * 41, "ａｒｍ64", 64, ["arm64"]])
def test_a_platform_label_that_is_not_one_is_refused(tmp_path: Path, value: object) -> None:
    document = {"tool": {"doorbell-ci": {"suite": {"arm": {"command": ["x"], "junit": "x.xml", "platform": value}}}}}
    tmp_path.joinpath("pyproject.toml").write_text(tomli_w.dumps(document), encoding="utf-8")
    with pytest.raises(ConfigError, match="'platform'"):
        load_config(tmp_path, environ={})
