"""Every run-level option, declared once.

From these declarations come the CLI flags (``cli.py``), the environment variables and the
``[tool.doorbell-ci]`` keys (``config.py``), the action inputs (checked against ``action.yml``
by a test) and the option table in docs/CONFIGURATION.md (``scripts/gen_options_doc.py``).
Per-suite settings (paths, markers, ...) live in ``config.SuiteConfig``, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doorbell_ci.errors import ConfigError

SUITE_NAMES = ("unit", "integration", "e2e", "performance", "security", "load", "streaming")


# --- value parsers: each takes the raw value (a string from the CLI / env, or a TOML value) ---


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def parse_workers(raw: Any) -> int | str:
    if isinstance(raw, bool):
        raise ValueError(f"expected a number or 'auto', got {raw!r}")
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip().lower()
        if text == "auto":
            return "auto"
        if not text.isdigit():
            raise ValueError(f"expected a number or 'auto', got {raw!r}")
        value = int(text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def parse_seconds(raw: Any) -> float | None:
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in {"", "none"}):
        return None
    if isinstance(raw, bool):
        raise ValueError(f"expected a number of seconds, got {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"must be more than 0 seconds, got {raw!r}")
    return value


def parse_percent(raw: Any) -> float | None:
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    if isinstance(raw, bool):
        raise ValueError(f"expected a percentage, got {raw!r}")
    try:
        value = float(str(raw).rstrip("%"))
    except ValueError:
        raise ValueError(f"expected a percentage, got {raw!r}") from None
    if not 0 <= value <= 100:
        raise ValueError(f"must be between 0 and 100, got {raw!r}")
    return value


def parse_name_list(raw: Any) -> tuple[str, ...]:
    """Suite names from ``unit,e2e``, ``unit e2e`` or a TOML list; names are plain identifiers."""
    items = raw if isinstance(raw, list | tuple) else str(raw).replace(",", " ").split()
    names = tuple(str(item).strip() for item in items if str(item).strip())
    for name in names:
        if not name.replace("-", "_").isidentifier():
            raise ValueError(f"{name!r} is not a suite name")
    if not names:
        raise ValueError("no suite named")
    return names


def parse_path(raw: Any) -> Path:
    text = str(raw)
    if not text or "\x00" in text:
        raise ValueError(f"not a usable path: {raw!r}")
    return Path(text)


def parse_positive_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected a whole number, got {raw!r}")
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ValueError(f"expected a whole number, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def parse_parallel_suites(raw: Any) -> int | str:
    return parse_workers(raw)


def choice(*allowed: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        text = str(raw).strip().lower()
        if text not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {raw!r}")
        return text

    parse.__doc__ = " | ".join(allowed)
    return parse


@dataclass(frozen=True)
class Option:
    """One run-level option and every place it can be set."""

    name: str  # attribute on Config, key in [tool.doorbell-ci]
    help: str
    parse: Callable[[Any], Any]
    default: Any
    flag: str | None = None  # CLI flag; None = not on the command line
    negative_flag: str | None = None  # for booleans defaulting to True: "--no-coverage"
    metavar: str | None = None
    in_pyproject: bool = True
    action_input: str | None = None  # name of the matching action.yml input, if any
    is_flag: bool = False  # a boolean switch on the command line (no value)

    @property
    def env_var(self) -> str:
        return "DOORBELL_CI_" + self.name.upper()


OPTIONS: tuple[Option, ...] = (
    Option("project", "Folder of the project under test (holds pyproject.toml and tests/).",
           parse_path, Path("."), flag="--project", metavar="DIR", in_pyproject=False,
           action_input="working-directory"),
    Option("suites", "Suites to run: unit integration e2e performance security load streaming, "
           "any suite declared in pyproject, or all (every suite whose folder exists).",
           parse_name_list, ("all",), flag="--suites", metavar="SUITE", action_input="suites"),
    Option("environment", "Where the suites run: local (isolated temp tree) or docker.",
           choice("local", "docker"), "local", flag="--environment", action_input="environment"),
    Option("workers", "pytest-xdist workers for parallel-safe suites: a number or auto (one per core).",
           parse_workers, "auto", flag="--workers", metavar="N|auto", action_input="workers"),
    Option("timeout", "Timeout in seconds for every suite, overriding each suite's own timeout.",
           parse_seconds, None, flag="--timeout", metavar="SECONDS", action_input="timeout"),
    Option("parallel_suites", "How many suites may run at the same time (each within the core budget), "
           "a number or auto.", parse_parallel_suites, "auto", flag="--parallel-suites", metavar="N|auto"),
    Option("output_dir", "Where results and reports are written (relative paths are under the project).",
           parse_path, Path("test-results"), flag="--output-dir", metavar="DIR"),
    Option("reports", "Write report.html, summary.md and the merged junit.xml.",
           parse_bool, True, negative_flag="--no-reports"),
    Option("coverage", "Collect coverage for the suites configured to collect it.",
           parse_bool, True, negative_flag="--no-coverage", action_input="coverage"),
    Option("coverage_fail_under", "Fail the run (exit 7) when total coverage is under this percentage.",
           parse_percent, None, flag="--cov-fail-under", metavar="PERCENT"),
    Option("fail_fast", "Stop after the first suite that fails; the rest are reported as not run.",
           parse_bool, False, flag="--fail-fast", is_flag=True, action_input="fail-fast"),
    Option("quiet", "Print only per-suite results and the final counts, not the live test output.",
           parse_bool, False, flag="--quiet", is_flag=True, in_pyproject=False),
    # --- environments (local / docker) ---
    # --- performance regression ---
    # --- failure analysis, flaky reruns, sharding ---
    # --- GitHub publishing ---
)

OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}


def parse_option(option: Option, raw: Any, source: str) -> Any:
    """Parse ``raw`` for ``option``; a bad value is a ConfigError naming the option and its source."""
    try:
        return option.parse(raw)
    except ValueError as error:
        raise ConfigError(f"{source}: bad value for {option.name!r}: {error}") from None
