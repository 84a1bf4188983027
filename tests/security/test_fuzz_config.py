"""Fuzzing ``config.load_config``: only ConfigError escapes, and a Config that loads can be run.

pyproject.toml documents are written by a TOML writer (tomli-w) from random values: every
known ``[tool.doorbell-ci]`` key gets plausible and hostile values of every TOML type (64-bit
overflowing integers, NaN and infinities, dates, NUL and control characters, tables where
strings belong), unknown keys appear, suite tables and the environment table get the same
treatment, paths climb out, are absolute, use backslashes, look like options or run into a
symlink loop; ``DOORBELL_CI_*`` variables get hostile strings. Some documents are then damaged
byte by byte. A Config that loads must keep every path inside the project, plan, and give
each suite an argv and an environment a process can be started with.

Example counts: see tests/security/fuzzing.py (``HYPOTHESIS_PROFILE=fuzz`` for a long session).
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath
from typing import Any

import tomli_w
from hypothesis import event, example, given
from hypothesis import strategies as st

from doorbell_ci.config import Config, load_config
from doorbell_ci.environments.settings import parse_settings
from doorbell_ci.errors import ConfigError
from doorbell_ci.options import OPTIONS, SUITE_NAMES, parse_bool, parse_count
from doorbell_ci.plan import make_plan, pytest_arguments, suite_environment
from tests.security.fuzzing import HOSTILE_WORDS, fuzz_settings, one_in

_TOML_TEXT = st.one_of(st.text(max_size=40), st.sampled_from(HOSTILE_WORDS))  # long values: _SCALARS below
_SCALARS = st.one_of(
    st.booleans(), st.integers(-(2**70), 2**70), st.floats(), _TOML_TEXT, st.dates(), st.times(), st.datetimes(),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, math.inf, -math.inf, math.nan, "auto", "none", "x" * 5000]),
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_TOML_TEXT, inner, max_size=3)), max_leaves=6)
_PATHS = st.sampled_from([
    "tests/unit", "tests", "tests/unit/", "./tests/unit", "..", "../outside", "tests/../..", "/etc", "C:/x", "C:\\x",
    "tests\\unit", "-rf", "--rootdir=/", "tests/loop/x", "tests/out/etc", "", "a\x00b", "~", "x" * 300,
    "/".join(["d" * 200] * 30), "tests/unit;rm -rf /", "$(id)", "é",
])
_PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "suites": st.one_of(st.lists(st.sampled_from([*SUITE_NAMES, "all", "smoke", "-p", "a b", ""]), max_size=3),
                        st.sampled_from(["unit,e2e", "all", "unit e2e", "--suites"])),
    "environment": st.sampled_from(["local", "docker", "LOCAL", "podman"]),
    "workers": st.one_of(st.integers(-2, 64), st.sampled_from(["auto", "4", "0", "1.5"])),
    "timeout": st.one_of(st.floats(), st.integers(-5, 10**6), st.sampled_from(["60", "none", "1e400", "nan"])),
    "parallel_suites": st.one_of(st.integers(-1, 8), st.just("auto")),
    "output_dir": _PATHS | st.sampled_from([".", "test-results", "/tmp", "/"]),
    "coverage_fail_under": st.one_of(st.floats(), st.sampled_from(["80%", "101", "-1"])),
    "regression_threshold": st.one_of(st.floats(0, 100), st.sampled_from(["5%", "nan", "-1"])),
    "junit_max_mb": st.one_of(st.integers(-1, 10**6), st.sampled_from(["256", "0"])),
    "perf_base": st.sampled_from(["main", "origin/main", "-x", "a..b", "a b", "HEAD~1"]),
    "baseline_dir": _PATHS,
    "against": _PATHS,
    "durations": _PATHS,
    "check_name": st.sampled_from(["ci", "a\nb", "x" * 101, ""]),
    "coverage_source": st.one_of(st.lists(_PATHS, max_size=3), _PATHS),
}
_OPTION_KEYS = [option.name for option in OPTIONS if option.in_pyproject]
for _option in OPTIONS:  # the rest: booleans and choices, right and wrong
    if _option.parse is parse_bool:
        _PLAUSIBLE.setdefault(_option.name, st.one_of(st.booleans(), st.sampled_from(["yes", "off", "maybe", 1])))
    elif " | " in (_option.parse.__doc__ or ""):
        choices = [choice.split(" ")[0] for choice in _option.parse.__doc__.split(" | ")]
        _PLAUSIBLE.setdefault(_option.name, st.sampled_from([*choices, choices[0].upper(), "other"]))
    elif _option.parse is parse_count:
        _PLAUSIBLE.setdefault(_option.name, st.integers(-1, 5))
_SUITE_KEYS = ["paths", "markers", "parallel", "exclusive", "coverage", "timeout", "pytest_args", "command", "junit",
               "env", "unknown_key"]
_SUITE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "paths": st.one_of(st.lists(_PATHS, max_size=3), _PATHS),
    "junit": _PATHS,
    "markers": st.sampled_from(["smoke", "not slow and fast", "-p evil", " -x", "", "a\x00", "(", "x" * 5000]),
    "command": st.lists(st.sampled_from(["npx", "jest", "--ci", "", "a\x00", "sh", "-c", "rm -rf /"]), max_size=3),
    "pytest_args": st.lists(st.sampled_from(["-x", "--rootdir=/", "", "-p", "no:cacheprovider"]), max_size=3),
    "env": st.dictionaries(st.sampled_from(["A", "A=B", "", "1X", "PATH", "é", "a b", "_OK"]),
                           st.one_of(_TOML_TEXT, st.integers()), max_size=3),
}
_SUITE_NAMES = st.sampled_from([*SUITE_NAMES, "smoke", "web-ui", "all", "-x", "1a", "a b", "é", "a.b", ""])
_ENV_KEYS = ["kind", "test_config", "config_file", "config_env_var", "fixtures", "env", "docker", "bogus"]
_DOCKER_KEYS = ["image", "dockerfile", "base_image", "system_packages", "requirements", "python", "user", "cpus",
                "memory", "pids", "project_read_only", "services", "build_timeout"]


def _maybe_plausible(key: str, table: dict[str, st.SearchStrategy[Any]], mild: bool) -> st.SearchStrategy[Any]:
    """Mostly the key's plausible values; a mild document never gets a random one where a plausible exists."""
    if key not in table:
        return _VALUES
    return table[key] if mild else st.one_of(table[key], table[key], table[key], _VALUES)


@st.composite
def _suite_tables(draw: st.DrawFn, mild: bool) -> Any:
    if not mild and one_in(draw, 10):
        return draw(_VALUES)  # 'suite' that is not a table of tables
    suites: dict[str, Any] = {}
    for name in draw(st.lists(_SUITE_NAMES, max_size=3, unique=True)):
        keys = draw(st.lists(st.sampled_from(_SUITE_KEYS[:-1] if mild else _SUITE_KEYS), max_size=5, unique=True))
        suites[name] = {key: draw(_maybe_plausible(key, _SUITE_VALUES, mild)) for key in keys}
    return suites


@st.composite
def _environment_tables(draw: st.DrawFn) -> Any:
    keys = draw(st.lists(st.sampled_from(_ENV_KEYS), max_size=4, unique=True))
    table: dict[str, Any] = {key: draw(_VALUES) for key in keys}
    if "kind" in table and draw(st.booleans()):
        table["kind"] = draw(st.sampled_from(["local", "docker", "vm"]))
    if "docker" in table:
        docker_keys = draw(st.lists(st.sampled_from(_DOCKER_KEYS), max_size=4, unique=True))
        table["docker"] = {key: draw(_VALUES) for key in docker_keys}
        if "services" in table["docker"] and draw(st.booleans()):
            table["docker"]["services"] = {draw(st.sampled_from(["redis", "Redis", "-x", "a" * 70])): {
                "image": draw(_VALUES), "ready_timeout": draw(_VALUES), "env": draw(_VALUES)}}
    return table


@st.composite
def _pyprojects(draw: st.DrawFn) -> bytes:
    mild = draw(st.booleans())  # plausible values only: documents that get past the first key and load
    extra = [] if mild else ["unknown", "Workers"]
    keys = draw(st.lists(st.sampled_from([*_OPTION_KEYS, "coverage_source", *extra]), max_size=4, unique=True))
    table: dict[str, Any] = {key: draw(_maybe_plausible(key, _PLAUSIBLE, mild)) for key in keys}
    if draw(st.booleans()):
        table["suite"] = draw(_suite_tables(mild))
    if one_in(draw, 4):
        table["environment"] = draw(_environment_tables())
    document: dict[str, Any] = {"project": {"name": "doorbell"}, "tool": {"doorbell-ci": table}}
    if one_in(draw, 20):
        document["tool"] = draw(_VALUES)  # [tool] itself the wrong type
    data = tomli_w.dumps(document).encode("utf-8")
    if one_in(draw, 10):  # damaged by hand or by a bad merge
        mutable = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            mutable[draw(st.integers(0, len(mutable) - 1))] = draw(st.integers(0, 255))
        data = bytes(mutable)
    return data


_DOCUMENTS = st.one_of(
    _pyprojects(), _pyprojects(), _pyprojects(), st.binary(max_size=100),
    st.sampled_from([b"tool = 5", b"a = " + b"[" * 5000 + b"]" * 5000, b"[tool.doorbell-ci]\ntimeout = 1e400",
                     b"[tool.doorbell-ci]\nmarkers = 0x" + b"f" * 5000, b"\xff\xfe", b"[tool]\ndoorbell-ci = 1"]),
)
_ENVIRON = st.dictionaries(st.sampled_from([option.env_var for option in OPTIONS]), _TOML_TEXT, max_size=3)


@contextmanager
def _project(pyproject: bytes | None) -> Iterator[Path]:
    """A project with tests/unit, a symlink loop (tests/loop) and a link out of the project (tests/out)."""
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch) / "project"
        (project / "tests" / "unit").mkdir(parents=True)
        (project / "tests" / "loop").symlink_to("loop")
        (project / "tests" / "out").symlink_to("/")
        if pyproject is not None:
            (project / "pyproject.toml").write_bytes(pyproject)
        yield project


@fuzz_settings(300)
@given(pyproject=_DOCUMENTS, environ=_ENVIRON)
@example(pyproject=b"tool = 5", environ={})  # AttributeError
@example(pyproject=b"a = " + b"[" * 5000 + b"]" * 5000, environ={})  # RecursionError
@example(pyproject=b"[tool.doorbell-ci]\nmarkers = 0x" + b"f" * 5000, environ={})  # ValueError from a repr
@example(pyproject=b'[tool.doorbell-ci.suite.unit]\npaths = ["tests/loop/x"]', environ={})  # RuntimeError
@example(pyproject=b'[tool.doorbell-ci.suite.unit]\ntimeout = 0x' + b"f" * 300, environ={})  # OverflowError
@example(pyproject=b'[tool.doorbell-ci.suite.unit]\nenv = {"A=B" = "x"}', environ={})  # later: no process
@example(pyproject=b'[tool.doorbell-ci.suite.unit]\npaths = ["' + b"a" * 300 + b'"]', environ={})  # name too long
@example(pyproject=b"[tool.doorbell-ci.environment.docker]\ncpus = nan\nbuild_timeout = inf", environ={})  # accepted
@example(pyproject=b'[tool.doorbell-ci]\noutput_dir = "' + b"x" * 300 + b'"\n', environ={})  # ENAMETOOLONG in a check
def test_only_config_errors_escape_and_what_loads_can_run(pyproject: bytes, environ: dict[str, str]) -> None:
    with _project(pyproject) as project:
        try:
            config = load_config(project, environ=environ)
        except ConfigError as error:
            event("refused")
            assert "\n" not in str(error).strip(), "the CLI prints one line"
            return
        event("loaded")
        _check_runnable(config, project.resolve())


def _check_runnable(config: Config, project: Path) -> None:
    """Everything later stages rely on: paths inside, numbers finite, a plan, argv and env a process accepts."""
    assert config.output_dir.is_absolute() and not project.is_relative_to(config.output_dir)
    assert config.timeout is None or math.isfinite(config.timeout) and config.timeout > 0
    assert set(config.suites) <= {"all", *config.suite_configs}
    for suite in config.suite_configs.values():
        for path in (*suite.paths, *([suite.junit] if suite.junit else [])):
            assert not PurePath(path).is_absolute() and not path.startswith("-") and "\\" not in path
            assert (project / path).resolve().is_relative_to(project)
        assert suite.markers is None or not suite.markers.lstrip().startswith("-")
        assert math.isfinite(suite.timeout) and suite.timeout > 0
        assert suite.command is None or (suite.command and all(suite.command))
    plan = make_plan(config)
    for planned in plan.suites:
        argv = pytest_arguments(planned, project, config.output_dir, config.coverage_source)
        assert all(isinstance(item, str) and "\x00" not in item for item in argv)
        for name, value in suite_environment(planned, config.output_dir).items():
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and "\x00" not in value
    environment = config.tables.get("environment")
    if environment is not None:
        settings = parse_settings(environment)
        assert math.isfinite(settings.docker.build_timeout) and settings.docker.build_timeout > 0
        assert settings.docker.cpus is None or math.isfinite(settings.docker.cpus) and settings.docker.cpus > 0
        assert all(math.isfinite(s.ready_timeout) and s.ready_timeout > 0 for s in settings.docker.services)


# --- valid documents round-trip -------------------------------------------------------------------

_ENV_VALUES = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)
_VALID_SUITE_NAMES = st.sampled_from(["smoke", "web_ui", "nightly-e2e", "unit"])


@st.composite
def _valid_settings(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A valid [tool.doorbell-ci] table and the Config attributes it must produce."""
    table: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    for key, strategy in {
        "workers": st.one_of(st.integers(1, 64), st.just("auto")),
        "timeout": st.floats(1, 86_400),  # options.MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS
        "parallel_suites": st.one_of(st.integers(1, 8), st.just("auto")),
        "fail_fast": st.booleans(),
        "coverage": st.booleans(),
        "coverage_fail_under": st.floats(0, 100),
        "reruns": st.integers(0, 5),
        "perf_metric": st.sampled_from(["wall", "cpu"]),
        "junit_max_mb": st.integers(1, 4096),
    }.items():
        if draw(st.booleans()):
            table[key] = expected[key] = draw(strategy)
    suites: dict[str, Any] = {}
    for name in draw(st.lists(_VALID_SUITE_NAMES, max_size=3, unique=True)):
        suites[name] = {
            "paths": [f"tests/{name}"],
            "markers": draw(st.sampled_from(["smoke", "not slow", "smoke and (fast or cheap)"])),
            "timeout": draw(st.floats(1, 86_400)),
            "parallel": draw(st.booleans()),
            "env": draw(st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True), _ENV_VALUES,
                                        max_size=2)),
        }
    if suites:
        table["suite"] = suites
    return table, expected


@fuzz_settings(200)
@given(settings=_valid_settings(), use_environment=st.booleans())
def test_a_valid_table_round_trips(settings: tuple[dict[str, Any], dict[str, Any]], use_environment: bool) -> None:
    """Written with a TOML writer and loaded, every value comes back; a DOORBELL_CI_* variable wins over it."""
    table, expected = settings
    document = tomli_w.dumps({"project": {"name": "x"}, "tool": {"doorbell-ci": table}}).encode()
    environ = {"DOORBELL_CI_WORKERS": "3"} if use_environment else {}
    with _project(document) as project:
        for name in table.get("suite", {}):
            (project / "tests" / name).mkdir(exist_ok=True)
        config = load_config(project, environ=environ)
    for key, value in expected.items():
        if key == "workers" and use_environment:
            continue
        assert getattr(config, key) == value, key
        assert config.origins[key] == "pyproject"
    if use_environment:
        assert (config.workers, config.origins["workers"]) == (3, "environment")
    for name, raw in table.get("suite", {}).items():
        suite = config.suite_configs[name]
        assert (suite.paths, suite.markers, suite.timeout, suite.parallel, dict(suite.env)) == (
            tuple(raw["paths"]), raw["markers"], raw["timeout"], raw["parallel"], raw["env"])
