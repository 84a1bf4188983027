"""Every count and duration is bounded, from every source; suite names are plain; errors are one line.

The mechanisms: ``options.bounded_int`` / ``parse_seconds`` (one bound per option, used by the CLI,
``DOORBELL_CI_*`` variables, pyproject and the action, whose inputs arrive as those variables),
``options.suite_name_problem`` for names, and ``DoorbellError.__str__`` escaping every
line-breaking or invisible character of whatever a message quotes.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from doorbell_ci import options
from doorbell_ci.config import load_config
from doorbell_ci.environments.settings import parse_settings
from doorbell_ci.errors import ConfigError
from doorbell_ci.options import OPTIONS, OPTIONS_BY_NAME
from doorbell_ci.perf import measure

# Option -> (a value just inside the bounds, values just outside them)
BOUNDED = {
    "workers": (options.MAX_WORKERS, [0, options.MAX_WORKERS + 1, 10_000]),
    "parallel_suites": (options.MAX_PARALLEL_SUITES, [0, options.MAX_PARALLEL_SUITES + 1]),
    "timeout": (options.MAX_TIMEOUT_SECONDS, [0.5, options.MAX_TIMEOUT_SECONDS + 1, "1e999", "inf", "nan", "-1"]),
    "reruns": (options.MAX_RERUNS, [-1, options.MAX_RERUNS + 1, 2**63 - 1]),
    "junit_max_mb": (options.MAX_JUNIT_MB, [0, options.MAX_JUNIT_MB + 1]),
    "coverage_fail_under": (100, [-0.1, 100.5, "nan", "inf"]),
    "regression_threshold": (100, [-1, 101, "nan"]),
}
# Integers in every disguise: bools, floats, huge digit strings, non-ASCII digits, underscores, exponents.
NOT_WHOLE_NUMBERS = [True, False, 4.0, 2.5, "4.0", "9" * 5000, "²", "٣", "1_0", "1e3", "0x10", " ", "4 4"]


def _project(tmp_path: Path, table: str = "") -> Path:
    project = tmp_path / "project"
    (project / "tests" / "unit").mkdir(parents=True, exist_ok=True)
    (project / "pyproject.toml").write_text("[tool.doorbell-ci]\n" + table, encoding="utf-8")
    return project


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return {"inf": "inf", "nan": "nan", "1e999": "1e999"}.get(value, f'"{value}"')
    return repr(value)


def _toml_key(name: str) -> str:
    """A quoted TOML key holding ``name`` exactly (every non-ASCII or control character as an escape)."""
    return '"' + "".join(ch if 32 < ord(ch) < 127 and ch not in '"\\' else f"\\U{ord(ch):08x}" for ch in name) + '"'


def _one_line_naming(error: ConfigError, name: str) -> None:
    text = str(error)
    assert "\n" not in text and "\r" not in text and len(text) < 400, text
    assert name in text, text


@pytest.mark.parametrize("name", sorted(BOUNDED))
@pytest.mark.parametrize("source", ["pyproject", "environment", "command line"])
def test_every_count_and_duration_is_bounded_from_every_source(tmp_path: Path, name: str, source: str) -> None:
    inside, outside = BOUNDED[name]
    option = OPTIONS_BY_NAME[name]
    for value in [*outside, *(NOT_WHOLE_NUMBERS if name in {"workers", "parallel_suites", "reruns",
                                                           "junit_max_mb"} else [True, "9" * 5000])]:
        if source == "pyproject":
            if isinstance(value, str) and value == "9" * 5000:
                value = int(value[:18])  # TOML integers are 64-bit; the 5000 digits come by string below
            project, cli, environ = _project(tmp_path, f"{name} = {_toml(value)}\n"), {}, {}
        elif source == "environment":
            project, cli, environ = _project(tmp_path), {}, {option.env_var: str(value)}
        else:
            project, cli, environ = _project(tmp_path), {name: str(value)}, {}
        with pytest.raises(ConfigError) as caught:
            load_config(project, cli, environ=environ)
        _one_line_naming(caught.value, name)
    accepted = load_config(_project(tmp_path), {name: str(inside)}, environ={})
    assert float(getattr(accepted, name)) == float(inside)


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.name)
def test_no_option_accepts_a_huge_or_non_finite_number(option: options.Option) -> None:
    """A sweep over every option, present and future: whatever parses is a sane value."""
    for raw in ["9" * 30, "1e999", "-1e999", "nan", "inf", 2**63 - 1, 10**30, float("inf"), float("nan"), "9" * 5000]:
        try:
            value = option.parse(raw)
        except ValueError as error:
            assert "\n" not in str(error) and len(str(error)) < 300
            continue
        numbers = [value] if isinstance(value, int | float) else list(value) if isinstance(value, tuple) else []
        for number in numbers:
            if isinstance(number, int | float) and not isinstance(number, bool):
                assert math.isfinite(number) and abs(number) <= 10**6, (option.name, raw, value)


@pytest.mark.parametrize("table", [
    "[tool.doorbell-ci.suite.unit]\ntimeout = 1e999\n",
    "[tool.doorbell-ci.suite.unit]\ntimeout = nan\n",
    "[tool.doorbell-ci.suite.unit]\ntimeout = 0.01\n",
    "[tool.doorbell-ci.suite.unit]\ntimeout = 9223372036854775807\n",
    "[tool.doorbell-ci.suite.unit]\ntimeout = true\n",
])
def test_a_suite_timeout_is_bounded(tmp_path: Path, table: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_project(tmp_path, table), environ={})
    _one_line_naming(caught.value, "timeout")


def test_too_many_suites_are_refused(tmp_path: Path) -> None:
    table = "".join(f"[tool.doorbell-ci.suite.s{i}]\npaths = ['tests/unit']\n" for i in range(options.MAX_SUITES + 1))
    with pytest.raises(ConfigError, match="at most"):
        load_config(_project(tmp_path, table), environ={})


@pytest.mark.parametrize("key, value", [
    ("cpus", "1e999"), ("cpus", "nan"), ("cpus", "100000"), ("pids", "9223372036854775807"), ("pids", "8"),
    ("build_timeout", "1e999"), ("build_timeout", "0.001"), ("build_timeout", "1000000"),
])
def test_docker_settings_are_bounded(key: str, value: str) -> None:
    import tomllib

    with pytest.raises(ConfigError) as caught:
        parse_settings({"docker": tomllib.loads(f"{key} = {value}")})
    _one_line_naming(caught.value, key)


def test_docker_services_and_their_readiness_timeout_are_bounded() -> None:
    with pytest.raises(ConfigError, match="ready_timeout"):
        parse_settings({"docker": {"services": {"db": {"image": "x", "ready_timeout": 10**7}}}})
    with pytest.raises(ConfigError, match="at most"):
        parse_settings({"docker": {"services": {f"s{i}": {"image": "x"} for i in range(50)}}})


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_non_finite_number_in_the_test_config_template_is_refused(value: float) -> None:
    """TOML has inf and nan; the generated test config is JSON, which has not."""
    with pytest.raises(ConfigError, match="finite"):
        parse_settings({"test_config": {"camera": {"fps": value}}})


@pytest.mark.parametrize("variable, value", [
    (measure.SAMPLES_ENV, "1000000000"), (measure.SAMPLES_ENV, "0"), (measure.SAMPLES_ENV, "9" * 5000),
    (measure.SAMPLES_ENV, "²"), (measure.MIN_TIME_ENV, "1e999"), (measure.MIN_TIME_ENV, "nan"),
    (measure.MIN_TIME_ENV, "100000"), (measure.SLOWDOWN_ENV, "*=1e999"), (measure.SLOWDOWN_ENV, "*=1000"),
])
def test_perf_samples_time_budget_and_slowdown_are_bounded(monkeypatch: pytest.MonkeyPatch, variable: str,
                                                            value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(measure.MeasureError) as caught:
        measure.Benchmark("tests/p.py::test_x", {})
    assert variable in str(caught.value) and "\n" not in str(caught.value) and len(str(caught.value)) < 200


def test_perf_samples_given_directly_are_bounded() -> None:
    for samples in (0, measure.MAX_SAMPLES + 1):
        with pytest.raises(measure.MeasureError, match="samples"):
            measure.Benchmark("tests/p.py::test_x", {}, samples=samples)


# Just past each bound, not 10000: should the bound ever break, the run must not start 10000 xdist workers.
@pytest.mark.parametrize("args", [["--workers", str(options.MAX_WORKERS + 1)],
                                  ["--reruns", str(options.MAX_RERUNS + 1)], ["--timeout", "1e999"],
                                  ["--parallel-suites", str(options.MAX_PARALLEL_SUITES + 1)],
                                  ["--shard", f"1/{options.MAX_SHARDS + 1}"]])
def test_a_real_run_with_an_unbounded_number_stops_before_starting_anything(tmp_path: Path, args: list[str]) -> None:
    project = _project(tmp_path)
    (project / "tests" / "unit" / "test_marker.py").write_text(
        "from pathlib import Path\n\ndef test_x():\n    Path(__file__).with_name('ran').write_text('')\n")
    done = subprocess.run([sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), *args],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and args[0].lstrip("-").split("-")[0] in lines[0], lines
    assert not (project / "tests" / "unit" / "ran").exists()


# --- item 18: suite names, the command string, one-line errors ---

LOOK_ALIKES = [
    "ｕｎｉｔ",  # fullwidth: NFKC folds it to "unit"
    "un\u0456t",  # Cyrillic i
    "unit\u200b",  # zero-width space
    "\u202eunit",  # right-to-left override
    "u\u00adnit",  # soft hyphen
    "unit\ufeff",
    "ℌello",  # NFKC-changing letter
    "café",  # not confusable, but not ASCII either: junit/café.xml differs by normalisation across systems
]
DEVICE_NAMES = ["CON", "con", "nul", "NUL", "Prn", "aux", "COM1", "com9", "LPT1", "lpt9"]


@pytest.mark.parametrize("name", LOOK_ALIKES + DEVICE_NAMES)
def test_look_alike_and_windows_device_suite_names_are_refused_in_pyproject(tmp_path: Path, name: str) -> None:
    project = _project(tmp_path, f'[tool.doorbell-ci.suite.{_toml_key(name)}]\npaths = ["tests/unit"]\n')
    with pytest.raises(ConfigError) as caught:
        load_config(project, environ={})
    _one_line_naming(caught.value, "suite name")
    assert not any(ch in str(caught.value) for ch in "\u200b\u202e\u00ad\ufeff")  # shown escaped, not hidden


@pytest.mark.parametrize("name", LOOK_ALIKES + DEVICE_NAMES + ["COM1.txt", "nul.log", "-p", "a\nb c"])
def test_look_alike_and_device_names_are_refused_on_the_command_line_and_in_the_environment(
        tmp_path: Path, name: str) -> None:
    project = _project(tmp_path)
    for cli, environ in (({"suites": name}, {}), ({}, {"DOORBELL_CI_SUITES": name})):
        with pytest.raises(ConfigError) as caught:
            load_config(project, cli, environ=environ)
        assert "\n" not in str(caught.value)


def test_the_fullwidth_name_says_what_it_reads_like(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="reads like 'unit'"):
        load_config(_project(tmp_path), {"suites": "ｕｎｉｔ"}, environ={})


def test_two_suites_whose_names_differ_only_by_case_are_refused(tmp_path: Path) -> None:
    """junit/Unit.xml and junit/unit.xml would be one file on macOS and Windows."""
    with pytest.raises(ConfigError, match="only by case"):
        load_config(_project(tmp_path, '[tool.doorbell-ci.suite.Unit]\npaths = ["tests/unit"]\n'), environ={})


@pytest.mark.parametrize("name", ["a\nb", "a\rb", "x\x1b[31mred", "a\u2028b"])
def test_a_suite_name_with_a_line_break_or_control_character_gives_one_line(tmp_path: Path, name: str) -> None:
    project = _project(tmp_path, f'[tool.doorbell-ci.suite.{_toml_key(name)}]\npaths = ["tests/unit"]\n')
    done = subprocess.run([sys.executable, "-m", "doorbell_ci", "run", "--project", str(project)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "\x1b" not in lines[0], lines


@pytest.mark.parametrize("key, value", [("command", '"echo hi"'), ("command", '"pytest"'),
                                        ("pytest_args", '"-x -q"')])
def test_a_command_or_pytest_args_given_as_a_string_is_refused_at_config_time(tmp_path: Path, key: str,
                                                                             value: str) -> None:
    extra = 'junit = "out.xml"\n' if key == "command" else 'paths = ["tests/unit"]\n'
    project = _project(tmp_path, f"[tool.doorbell-ci.suite.custom]\n{key} = {value}\n{extra}")
    with pytest.raises(ConfigError) as caught:
        load_config(project, environ={})
    _one_line_naming(caught.value, key)
    assert "list" in str(caught.value)


def test_a_command_as_a_list_still_loads(tmp_path: Path) -> None:
    project = _project(tmp_path, '[tool.doorbell-ci.suite.custom]\ncommand = ["echo", "hi"]\njunit = "o.xml"\n')
    assert load_config(project, environ={}).suite_configs["custom"].command == ("echo", "hi")


@pytest.mark.parametrize("variable", [option.env_var for option in OPTIONS if option.name != "project"])
def test_every_error_a_variable_can_cause_is_one_line(tmp_path: Path, variable: str) -> None:
    project = _project(tmp_path)
    for value in ["bad\nvalue", "bad\u2028line", "\u202ereversed", "x\x1b[2J"]:
        try:
            load_config(project, environ={variable: value})
        except ConfigError as error:
            text = str(error)
            assert all(ch not in text for ch in "\n\r\u2028\u202e\x1b"), text
