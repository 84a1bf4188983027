"""The run configuration, merged from four sources.

Precedence, lowest first: built-in defaults < ``[tool.doorbell-ci]`` in the project's
pyproject.toml < ``DOORBELL_CI_*`` environment variables < command-line flags.
Options are declared in ``options.py``; suites are configured per name under
``[tool.doorbell-ci.suite.NAME]``. Anything unknown or malformed is a ConfigError that
names the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path, PureWindowsPath
from typing import Any

from doorbell_ci import output_folder
from doorbell_ci.errors import ConfigError
from doorbell_ci.options import (
    ADHOC_SUITE,
    MAX_SUITES,
    OPTIONS,
    OPTIONS_BY_NAME,
    SUITE_NAMES,
    parse_bool,
    parse_option,
    parse_seconds,
    shown,
    suite_name_problem,
)

PYPROJECT_TABLE = "tool.doorbell-ci"


@dataclass(frozen=True)
class SuiteConfig:
    """How one suite runs. A suite is either pytest over ``paths`` or an arbitrary ``command``."""

    name: str
    paths: tuple[str, ...] = ()
    markers: str | None = None  # a pytest -m expression
    parallel: bool = True  # safe to spread over pytest-xdist workers
    exclusive: bool = False  # must run alone on the machine (performance, load)
    coverage: bool = True
    timeout: float = 900.0
    pytest_args: tuple[str, ...] = ()
    command: tuple[str, ...] | None = None  # a non-pytest suite: any command that writes JUnit XML
    junit: str | None = None  # where `command` writes its JUnit XML, relative to the project
    env: Mapping[str, str] = field(default_factory=dict)
    # the machine a `command` suite's tests ran on when it is not this one (e.g. "arm64" for a command
    # that runs them in an emulated arm64 root): reports show it next to the suite's counts
    platform: str = ""

    @property
    def is_pytest(self) -> bool:
        return self.command is None


def _default_suites() -> dict[str, SuiteConfig]:
    """The Doorbell Security System layout: one folder per suite under tests/."""
    serial = {"e2e", "streaming"}  # share ports, a camera stream or a database: one process
    alone = {"performance", "load"}  # their numbers must not be disturbed by other work
    timeouts = {"unit": 600.0, "performance": 1800.0, "load": 1800.0}
    return {
        name: SuiteConfig(
            name=name,
            paths=(f"tests/{name}",),
            parallel=name not in serial | alone,
            exclusive=name in alone,
            coverage=name not in alone,
            timeout=timeouts.get(name, 900.0),
        )
        for name in SUITE_NAMES
    }


@dataclass(frozen=True)
class Config:
    """Everything a run needs to know, fully resolved (absolute paths, parsed values)."""

    project: Path
    suites: tuple[str, ...] = ("all",)
    paths: tuple[str, ...] = ()  # --paths: run these as the ad-hoc suite options.ADHOC_SUITE
    environment: str = "local"
    workers: int | str = 1  # options.py: measured in docs/PERFORMANCE.md, "Running suites side by side"
    timeout: float | None = None
    parallel_suites: int | str = "auto"
    output_dir: Path = Path("test-results")
    reports: bool = True
    coverage: bool = True
    coverage_fail_under: float | None = None
    allow_no_tests: bool = False  # exit 0, not 8, when no test ran (still reported)
    fail_fast: bool = False
    junit_max_mb: int = 256  # results.DEFAULT_JUNIT_MAX_BYTES
    quiet: bool = False
    keep_env: bool = False  # --- environments (options.py) ---
    docker_base: str = "python"
    perf_mode: str = "auto"  # --- performance regression (options.py) ---
    regression_threshold: float | None = None
    fail_on_regression: bool = False
    perf_aa: bool = False
    perf_base: str | None = None
    baseline_dir: Path = Path("baselines")
    perf_metric: str = "wall"
    perf_adaptive_budget: float = 0.0  # seconds; 0 = no adaptive second look
    reruns: int = 0  # --- failure analysis, flaky reruns, sharding (options.py) ---
    flaky_fails: bool = False
    against: Path | None = None
    shard: tuple[int, int] | None = None
    durations: Path | None = None
    select: str = "all"  # --- test impact analysis (options.py) ---
    record_impact: bool = False
    impact_map: Path | None = None
    impact_full_run: tuple[str, ...] = ()
    impact_ignore: tuple[str, ...] = ()
    impact_max_commits: int = 100
    history: bool = True  # --- test history, flakiness, quarantine (options.py) ---
    history_from: Path | None = None
    history_runs: int = 64
    history_tests: int = 100_000
    quarantine_file: Path = Path(".doorbell-ci/quarantine.toml")
    quarantine_auto: bool = False
    quarantine_days: int = 14
    quarantine_clean_runs: int = 10
    comment: str = "always"  # --- GitHub publishing (options.py) ---
    check_run: bool = False
    check_name: str | None = None  # None: GitHubContext.default_check_name()
    suite_configs: Mapping[str, SuiteConfig] = field(default_factory=_default_suites)
    coverage_source: tuple[str, ...] = ()  # empty: the whole project
    declared_suites: tuple[str, ...] = ()  # suites with a [tool.doorbell-ci.suite.NAME] table: asked for by name
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # other [tool.doorbell-ci.X]
    origins: Mapping[str, str] = field(default_factory=dict)  # option name -> where its value came from
    debug: bool = False


# Sub-tables of [tool.doorbell-ci] that other stages own; each stage validates its own keys.
KNOWN_TABLES: set[str] = {"environment"}  # environment: doorbell_ci/environments/settings.py
_SUITE_KEYS = {f.name for f in fields(SuiteConfig)} - {"name"}
_TOP_LEVEL_EXTRA_KEYS = {"coverage_source", "suite"}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME_MAX, _PATH_MAX = 255, 4096  # Linux's and macOS's limits, in bytes; Windows' are lower still


def load_config(
    project: Path,
    cli_values: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the Config for ``project`` from defaults, pyproject, environment and CLI values.

    ``cli_values`` maps option names to raw values, only for flags actually given.

    Exception contract (fuzzed by tests/security/test_fuzz_config.py and tests/security/fuzz/):
    whatever pyproject.toml and the ``DOORBELL_CI_*`` variables hold, only :class:`ConfigError`
    escapes. A Config that loads has every suite path and ``junit`` inside the project, markers
    and paths that cannot be read as options, and suite ``env`` tables a process can be given.
    """
    cli_values = dict(cli_values or {})
    environ = os.environ if environ is None else environ
    project = _resolve(project, "project folder")
    if not project.is_dir():
        raise ConfigError(f"project folder {project} does not exist; pass --project DIR")

    values: dict[str, Any] = {option.name: option.default for option in OPTIONS}
    origins = {option.name: "default" for option in OPTIONS}

    table = _read_pyproject_table(project / "pyproject.toml")
    source = f"{project / 'pyproject.toml'} [{PYPROJECT_TABLE}]"
    for key, raw in table.items():
        if isinstance(raw, dict) and key in KNOWN_TABLES | {"suite"}:
            if key == "environment":  # TOML cannot hold both `environment = "docker"` and this table
                from doorbell_ci.environments.settings import parse_settings

                parse_settings(raw)  # a typo fails here, before any suite runs or any result is touched
                if "kind" in raw:
                    values[key] = parse_option(OPTIONS_BY_NAME[key], raw["kind"], f"{source} key 'environment.kind'")
                    origins[key] = "pyproject"
            continue
        option = OPTIONS_BY_NAME.get(key)
        if key == "coverage_source":
            values[key] = _string_list(raw, f"{source} key 'coverage_source'")
            origins[key] = "pyproject"
            continue
        if option is None or not option.in_pyproject:
            known = sorted([o.name for o in OPTIONS if o.in_pyproject] + list(_TOP_LEVEL_EXTRA_KEYS | KNOWN_TABLES))
            raise ConfigError(f"{source}: unknown key {shown(key)}; known keys: {', '.join(known)}")
        values[key] = parse_option(option, raw, source)
        origins[key] = "pyproject"

    for option in OPTIONS:
        if option.env_var in environ and option.name != "project":
            values[option.name] = parse_option(option, environ[option.env_var], f"environment {option.env_var}")
            origins[option.name] = "environment"

    for name, raw in cli_values.items():
        option = OPTIONS_BY_NAME[name]
        values[name] = parse_option(option, raw, f"command line {option.flag or option.negative_flag}")
        origins[name] = "command line"

    values.setdefault("coverage_source", ())
    suite_configs = _suite_configs(table.get("suite", {}), source, project)
    if values["paths"]:
        values["paths"], values["suites"] = _adhoc_suite(values, origins, suite_configs, project)
    output_dir = Path(values.pop("output_dir"))
    values.pop("project")
    tables = {name: table[name] for name in KNOWN_TABLES if isinstance(table.get(name), dict)}
    spelled = output_dir
    output_dir = _usable_output_dir(project, output_dir, origins["output_dir"])
    _check_output_overlap(project, spelled, output_dir, origins["output_dir"],
                          _project_folders(project, suite_configs, values, tables))
    config = Config(
        project=project,
        output_dir=output_dir,
        suite_configs=suite_configs,
        tables=tables,
        origins=origins,
        declared_suites=tuple(table.get("suite", {})),
        **values,
    )
    _check_selection(config)
    return config


def _usable_output_dir(project: Path, output_dir: Path, origin: str) -> Path:
    """The output folder, absolute; never the project itself or a folder holding it.

    Each run empties the ``junit``, ``logs`` and ``coverage`` folders inside it, which must
    never be the project's own folders of those names.
    """
    resolved = _resolve(output_dir if output_dir.is_absolute() else project / output_dir, f"output_dir ({origin})")
    if project.is_relative_to(resolved):
        raise ConfigError(
            f"output_dir ({origin}): {output_dir} is the project folder or holds it; results would mix with "
            "the project's files: use a folder of its own such as test-results"
        )
    return resolved


def _project_folders(project: Path, suites: Mapping[str, SuiteConfig], values: Mapping[str, Any],
                     tables: Mapping[str, Any]) -> list[tuple[Path, str]]:
    """Folders the project's suites, sources and tools use, each with words for an error message."""
    folders: list[tuple[Path, str]] = []

    def add(path: Path, what: str) -> None:
        try:
            folders.append((path.resolve(), what))
        except (OSError, RuntimeError):
            pass  # a path that cannot be resolved cannot be compared; it was refused already if it mattered

    for suite in suites.values():
        for path in suite.paths:
            add(project / path, f"the paths of suite {suite.name!r}")
    for source in values.get("coverage_source", ()):
        add(project / source, "a coverage source")
    for name in ("src", "tests", ".git"):
        add(project / name, f"the project's {name}/ folder")
    for parent in (project, project / "src"):
        try:
            children = [child for child in parent.iterdir() if (child / "__init__.py").is_file()]
        except OSError:
            children = []
        for child in children:
            add(child, f"the package folder {child.relative_to(project).as_posix()}/")
    baseline_dir = Path(values.get("baseline_dir", "baselines"))
    add(baseline_dir if baseline_dir.is_absolute() else project / baseline_dir, "the baseline folder (baseline_dir)")
    environment = tables.get("environment")  # validated by environments.settings when it was read
    environment = environment if isinstance(environment, dict) else {}
    add(project / str(environment.get("fixtures", "tests/fixtures")), "the fixtures folder")
    docker = environment.get("docker")
    if isinstance(docker, dict) and isinstance(docker.get("dockerfile"), str):
        add((project / docker["dockerfile"]).parent, "the Dockerfile's folder")
    return folders


def _check_output_overlap(project: Path, spelled: Path, output_dir: Path, origin: str,
                          folders: list[tuple[Path, str]]) -> None:
    """Refuse an output folder that is, holds or (unless empty or ours) lies inside a folder the project uses.

    A run empties junit/, logs/, coverage/ and perf/ in the output folder and overwrites the reports
    at its top; inside a project folder that removed the project's files (issue 12, item 13).
    """
    found = output_folder.overlap(output_dir, [(project, "the project folder"), *folders])
    found.sort(key=lambda item: ("is", "holds", "inside").index(item[0]))  # the closest relation is the clearest
    for relation, folder, what in found:
        if relation == "inside" and folder == project:
            continue  # test-results inside the project is the usual place
        _refuse_overlap(project, spelled, output_dir, origin, relation, folder, what)


def _refuse_overlap(project: Path, spelled: Path, output_dir: Path, origin: str, relation: str, folder: Path,
                    what: str) -> None:
    shown_folder = folder.relative_to(project).as_posix() if folder.is_relative_to(project) else str(folder)
    named = output_dir.relative_to(project).as_posix() if output_dir.is_relative_to(project) else str(output_dir)
    where = f"output_dir ({origin}): {shown(str(spelled), limit=200)}"
    if named != spelled.as_posix():
        where += f" (that is {shown(named, limit=200)})"
    if relation in {"is", "holds"}:
        verb = "is" if relation == "is" else "holds"
        raise ConfigError(f"{where} {verb} {what} ({shown_folder}); a run empties junit/, logs/, coverage/ and "
                          "perf/ in it: use a folder of its own such as test-results")
    if not output_folder.usable(output_dir):
        raise ConfigError(f"{where} lies inside {what} ({shown_folder}) and holds files doorbell-ci did not write "
                          f"(no {output_folder.MARKER} file): use a new or empty folder such as test-results")


def _read_pyproject_table(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as error:  # also: an integer of 4,300+ digits, arrays nested ~1,000 deep
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read: {error.strerror or error}") from None
    tool: Any = document.get("tool", {})
    table: Any = tool.get("doorbell-ci", {}) if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{PYPROJECT_TABLE}] must be a table")
    _check_integers(table, path)
    return table


def _check_integers(table: dict[str, Any], path: Path) -> None:
    """TOML integers are 64-bit; tomllib reads any size, and a huge one breaks every later message."""
    pending: list[Any] = [table]
    while pending:  # a loop, not recursion: tomllib accepts nesting close to the recursion limit
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise ConfigError(f"{path}: [{PYPROJECT_TABLE}] holds an integer outside TOML's 64-bit range")


def _resolve(path: Path, label: str) -> Path:
    """``path.resolve()``, with a symlink loop or an unusable name as a ConfigError naming the setting."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop, before Python 3.13
        raise ConfigError(f"{label}: {path} cannot be resolved: {error}") from None


def _suite_configs(raw_suites: Any, source: str, project: Path) -> dict[str, SuiteConfig]:
    suites = _default_suites()
    if not isinstance(raw_suites, dict):
        raise ConfigError(f"{source}: 'suite' must be a table of [{PYPROJECT_TABLE}.suite.NAME] tables")
    if len(raw_suites) > MAX_SUITES:
        raise ConfigError(f"{source}: {len(raw_suites)} suites are declared; at most {MAX_SUITES}")
    for name, raw in raw_suites.items():
        where = f"{source.rsplit(' [', 1)[0]} [{PYPROJECT_TABLE}.suite.{shown(name)[1:-1]}]"
        problem = suite_name_problem(name)
        if problem:
            raise ConfigError(f"{where}: {shown(name)} is not a usable suite name: {problem}")
        twin = next((other for other in suites if other != name and other.casefold() == name.casefold()), None)
        if twin:  # junit/Unit.xml and junit/unit.xml are one file on macOS and Windows
            raise ConfigError(f"{where}: {name!r} differs from the suite {twin!r} only by case; name it apart")
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: must be a table")
        unknown = set(raw) - _SUITE_KEYS
        if unknown:
            raise ConfigError(
                f"{where}: unknown key {shown(sorted(unknown)[0])}; known keys: {', '.join(sorted(_SUITE_KEYS))}"
            )
        base = suites.get(name, SuiteConfig(name=name, paths=()))
        suites[name] = replace(base, **_suite_values(raw, where, project))
        suite = suites[name]
        if suite.command is None and not suite.paths and not suite.markers:
            raise ConfigError(f"{where}: a suite needs 'paths', 'markers' or a 'command'")
        if suite.command is not None and not suite.junit:
            raise ConfigError(f"{where}: a 'command' suite needs 'junit', the path of the XML it writes")
    return suites


def _suite_values(raw: Mapping[str, Any], where: str, project: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        label = f"{where} key {shown(key)}"
        if key in {"parallel", "exclusive", "coverage"}:
            values[key] = _checked(parse_bool, value, label)
        elif key == "timeout":
            values[key] = _checked(parse_seconds, value, label)
            if values[key] is None:
                raise ConfigError(f"{label}: a suite needs a timeout")
        elif key == "paths":
            values[key] = tuple(_inside_project(p, project, label) for p in _string_list(value, label))
        elif key == "junit":
            values[key] = _inside_project(_string(value, label), project, label)
        elif key == "platform":
            values[key] = _string(value, label)
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}", values[key]):
                raise ConfigError(f"{label}: {value!r} is not a platform label (letters, digits, '.', '_', '-')")
        elif key in {"markers"}:
            values[key] = _string(value, label)
            if values[key].lstrip().startswith("-"):  # pytest would read it as an option, not as -m's value
                raise ConfigError(f"{label}: {shown(value)} looks like an option, not a marker expression")
        elif key in {"pytest_args", "command"}:
            if isinstance(value, str):  # no shell splits it: "echo hi" would run a program named "echo hi"
                raise ConfigError(f"{label}: expected a list of arguments such as {shown(value.split())}, "
                                  f"got the string {shown(value)} (no shell is used, so a string is not split)")
            values[key] = tuple(_string_list(value, label))
            if key == "command" and not values[key]:
                raise ConfigError(f"{label}: the command is empty")
        elif key == "env":
            if not isinstance(value, dict) or not all(isinstance(v, str) and "\x00" not in v for v in value.values()):
                raise ConfigError(f"{label}: must be a table of strings")
            for variable in value:  # a process cannot be given these, so the suite would fail to start
                if not _ENV_NAME.fullmatch(variable):
                    raise ConfigError(f"{label}: {shown(variable)} is not an environment variable name")
            values[key] = dict(value)
    return values


def _checked(parse: Any, value: Any, label: str) -> Any:
    try:
        return parse(value)
    except ValueError as error:
        raise ConfigError(f"{label}: {error}") from None


def _string(value: Any, label: str) -> str:
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ConfigError(f"{label}: expected a non-empty string, got {shown(value)}")
    return value


def _string_list(value: Any, label: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"{label}: expected a list of strings, got {shown(value)}")
    return tuple(_string(item, label) for item in value)


def _inside_project(path: str, project: Path, label: str) -> str:
    """Refuse absolute paths and paths that climb out of the project, whatever the OS."""
    if "\\" in path:  # a separator on Windows, a file-name character elsewhere: the same pyproject must work on both
        raise ConfigError(f"{label}: {shown(path)} uses backslashes; write paths with forward slashes (tests/unit)")
    candidate = Path(path)
    resolved = _resolve(project / candidate, label)
    windows_absolute = PureWindowsPath(path).drive != "" or PureWindowsPath(path).is_absolute()
    if candidate.is_absolute() or windows_absolute or not resolved.is_relative_to(project):
        raise ConfigError(f"{label}: {shown(path)} is outside the project; use a path inside {project}")
    if path.startswith("-"):
        raise ConfigError(f"{label}: {shown(path)} looks like an option, not a path")
    if any(len(part.encode()) > _NAME_MAX for part in candidate.parts) or len(str(resolved).encode()) >= _PATH_MAX:
        # checking the suite's folder would otherwise fail with "File name too long" in the plan stage
        raise ConfigError(f"{label}: {path[:60]!r}... is too long for a file name (255 bytes a name, 4096 a path)")
    return candidate.as_posix()


def _adhoc_suite(values: dict[str, Any], origins: Mapping[str, str], suite_configs: dict[str, SuiteConfig],
                 project: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Add the suite ``--paths`` asks for; returns its paths (relative to the project) and the new selection.

    It runs like a default suite (parallel-safe, coverage, 15 minutes) and replaces the selection,
    unless ``--suites`` (or its variable) was given too: then it runs next to the suites named there.
    """
    option = OPTIONS_BY_NAME["paths"]
    label = {"environment": f"environment {option.env_var}"}.get(origins["paths"], f"command line {option.flag}")
    if ADHOC_SUITE in suite_configs:  # declared in pyproject
        raise ConfigError(f"{label}: the project declares a suite named {ADHOC_SUITE!r} too; rename that one")
    paths: list[str] = []
    for raw in values["paths"]:
        path = Path(raw).expanduser()
        if path.is_absolute():  # a shell completes absolute paths, and `$PWD/tests` is common: inside is fine
            resolved = _resolve(path, label)
            if not resolved.is_relative_to(project):
                raise ConfigError(f"{label}: {raw!r} is outside the project; use a path inside {project}")
            raw = resolved.relative_to(project).as_posix() or "."
        relative = _inside_project(raw, project, label)
        if not (project / relative.split("::", 1)[0]).exists():  # a node id (file::test) is fine too
            raise ConfigError(f"{label}: {raw!r} does not exist in {project}")
        paths.append(relative)
    suite_configs[ADHOC_SUITE] = SuiteConfig(name=ADHOC_SUITE, paths=tuple(dict.fromkeys(paths)))
    named = origins["suites"] in {"command line", "environment"} and "all" not in values["suites"]
    suites = (*values["suites"], ADHOC_SUITE) if named else (ADHOC_SUITE,)
    return tuple(paths), suites


def _check_selection(config: Config) -> None:
    option = OPTIONS_BY_NAME["suites"]
    origin = config.origins.get("suites", "default")
    where = {"environment": f"environment {option.env_var}", "command line": f"command line {option.flag}"}.get(
        origin, origin)
    for name in config.suites:
        if name != "all" and name not in config.suite_configs:
            raise ConfigError(
                f"{where}: unknown suite {shown(name)}; choose from all, {', '.join(config.suite_configs)}"
            )


# --- the suite of a project without the doorbell layout ---------------------------------------

def default_suite_configs() -> dict[str, SuiteConfig]:
    """The built-in suites, to tell a suite the project configured from one it left as it is."""
    return _default_suites()


FALLBACK_FOLDERS = ("tests", "test")  # where pytest projects keep their tests when testpaths does not say


@dataclass(frozen=True)
class FallbackPaths:
    """The folders a project's own pytest configuration runs, for a project without suite folders."""

    paths: tuple[str, ...]
    source: str  # "pytest testpaths in pyproject.toml [tool.pytest.ini_options]", "no pytest testpaths set"


def fallback_test_paths(project: Path) -> FallbackPaths | None:
    """What plain ``pytest`` in ``project`` would run: its ``testpaths``, else ``tests/`` (or ``test/``).

    pytest ignores ``testpaths`` when given paths, and doorbell-ci always gives paths, so for a
    project whose tests are not in ``tests/unit``, ``tests/integration``... this is how its tests
    are found without a ``[tool.doorbell-ci.suite.NAME]`` table. The configuration file is found by
    pytest's own ``locate_config`` (the same file, in the same order, that pytest would use), and
    it counts only when it lies in the project folder itself: pytest uses ``testpaths`` only when
    run from the folder that holds its configuration. Globs are expanded as pytest does.
    Entries outside the project or missing are left out; None when nothing is left.
    """
    found = _pytest_testpaths(project)
    if found is not None:
        entries, source = found
        paths: list[str] = []
        for entry in entries:
            matches = sorted(glob.glob(entry, root_dir=project, recursive=True)) if glob.has_magic(entry) else [entry]
            for match in matches:
                try:
                    usable = _inside_project(match, project, "testpaths")
                except ConfigError:
                    continue
                if (project / usable).exists() and usable not in paths:
                    paths.append(usable)
        if paths:
            return FallbackPaths(tuple(paths), f"pytest testpaths in {source}")
    for folder in FALLBACK_FOLDERS:
        if (project / folder).is_dir():
            return FallbackPaths((folder,), "no pytest testpaths set")
    return None


def _pytest_testpaths(project: Path) -> tuple[list[str], str] | None:
    """``testpaths`` from the project's pytest configuration file and that file's description, or None."""
    from _pytest.config import findpaths  # pytest's own search: pytest.toml, pytest.ini, pyproject, tox, setup.cfg
    from _pytest.outcomes import OutcomeException

    try:
        try:
            located = findpaths.locate_config(project, [project])  # pytest 8.1 and later
        except TypeError:
            located = findpaths.locate_config([project])  # type: ignore[call-arg] - pytest 7 and 8.0
    except (Exception, OutcomeException):  # noqa: BLE001 - a broken file: pytest itself will say why when it runs
        return None
    inifile, values = located[1], located[2]
    if inifile is None or Path(inifile).parent != project or "testpaths" not in values:
        return None
    raw = getattr(values["testpaths"], "value", values["testpaths"])  # pytest 9 wraps values in ConfigValue
    entries = shlex.split(raw) if isinstance(raw, str) else [str(item) for item in raw or ()]
    toml_mode = getattr(values["testpaths"], "mode", "ini") == "toml"  # pytest 9's [tool.pytest] table
    sections = {"pyproject.toml": " [tool.pytest]" if toml_mode else " [tool.pytest.ini_options]",
                "setup.cfg": " [tool:pytest]"}
    return entries, f"{Path(inifile).name}{sections.get(Path(inifile).name, ' [pytest]')}"
