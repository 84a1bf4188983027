"""Every run-level option, declared once.

From these declarations come the CLI flags (``cli.py``), the environment variables and the
``[tool.doorbell-ci]`` keys (``config.py``), the action inputs (checked against ``action.yml``
by a test) and the option table in docs/CONFIGURATION.md (``scripts/gen_options_doc.py``).
Per-suite settings (paths, markers, ...) live in ``config.SuiteConfig``, not here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doorbell_ci.errors import ConfigError, one_line

SUITE_NAMES = ("unit", "integration", "e2e", "performance", "security", "load", "streaming")
ADHOC_SUITE = "paths"  # the suite --paths makes on the spot


# --- bounds: every count and duration has a documented minimum and maximum (docs/CONFIGURATION.md) ---

MAX_WORKERS = 128  # pytest-xdist processes for one suite; each is a Python process of 30-100 MB
MAX_PARALLEL_SUITES = 64
MIN_TIMEOUT_SECONDS = 1.0
MAX_TIMEOUT_SECONDS = 86_400.0  # 24 hours: longer than any GitHub-hosted job may run (6 hours)
MAX_RERUNS = 10  # each failed test is rerun alone up to this many times
MAX_JUNIT_MB = 4096
MAX_SHARDS = 256  # GitHub's limit on the jobs of one matrix
SUITE_NAME_MAX = 64
MAX_SUITES = 100
_WHOLE_NUMBER = re.compile(r"\+?[0-9]{1,15}")  # ASCII digits only: str.isdigit() also accepts '²' and '٣'
# Names Windows reserves in every folder, with or without an extension (CON, nul.txt, COM1, LPT9.log).
_WINDOWS_DEVICES = re.compile(r"(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3])(\..*)?",
                              re.IGNORECASE)
_SUITE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def shown(raw: Any, limit: int = 60) -> str:
    """``repr(raw)`` on one short line: newlines, control, bidi and zero-width characters escaped."""
    text = one_line(repr(raw))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def suite_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a suite, or None.

    A suite name becomes a file name (``junit/NAME.xml``, ``logs/NAME.log``) on every OS, a
    command-line word and a heading in the reports, so it is plain ASCII: look-alikes
    (``ｕｎｉｔ``, Cyrillic ``а``), zero-width and bidi characters would name a second suite
    that reads like the first, and Windows device names (``CON``, ``nul``, ``COM1``) cannot be files.
    """
    if len(name) > SUITE_NAME_MAX:
        return f"longer than {SUITE_NAME_MAX} characters"
    if not _SUITE_NAME.fullmatch(name):
        folded = unicodedata.normalize("NFKC", name)
        looks = f" (it reads like {folded!r})" if folded != name and _SUITE_NAME.fullmatch(folded) else ""
        return f"use ASCII letters, digits, - and _, starting with a letter{looks}"
    if _WINDOWS_DEVICES.fullmatch(name):
        return "a Windows device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9) cannot be a file name"
    if name == "all":
        return "'all' means every suite"
    return None


# --- value parsers: each takes the raw value (a string from the CLI / env, or a TOML value) ---


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {shown(raw)}")


def bounded_int(raw: Any, minimum: int, maximum: int, what: str = "a whole number") -> int:
    """A whole number from ``minimum`` to ``maximum``; bools, floats (``4.0``) and 16+ digits are refused."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError(f"expected {what}, got {shown(raw)}")
    if isinstance(raw, int):
        value = raw
    else:
        text = raw.strip()
        if not _WHOLE_NUMBER.fullmatch(text):
            raise ValueError(f"expected {what}, got {shown(raw)}")
        value = int(text)
    if not minimum <= value <= maximum:
        shown_value = str(value) if len(str(value)) <= 20 else f"a number of {len(str(value))} digits"
        raise ValueError(f"must be between {minimum} and {maximum}, got {shown_value}")
    return value


def parse_workers(raw: Any) -> int | str:
    if isinstance(raw, str) and raw.strip().lower() == "auto":
        return "auto"
    return bounded_int(raw, 1, MAX_WORKERS, "a number or 'auto'")


def parse_seconds(raw: Any) -> float | None:
    """A duration in seconds, from 1 s to 24 h; None (``none`` or empty) where no limit is allowed."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in {"", "none"}):
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"expected a number of seconds, got {shown(raw)}")
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"expected a number of seconds, got {shown(raw)}") from None
    if not MIN_TIMEOUT_SECONDS <= value <= MAX_TIMEOUT_SECONDS:  # also NaN, inf and 1e400
        raise ValueError(f"must be between {MIN_TIMEOUT_SECONDS:g} and {MAX_TIMEOUT_SECONDS:g} seconds (24 hours), "
                         f"got {shown(raw)}")
    return value


def parse_budget(raw: Any) -> float:
    """Seconds a step may add to the run: 0 (off) to 24 hours."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"expected a number of seconds, got {shown(raw)}")
    try:
        value = float(raw) if str(raw).strip() else 0.0
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"expected a number of seconds, got {shown(raw)}") from None
    if not 0 <= value <= MAX_TIMEOUT_SECONDS:  # also NaN, inf
        raise ValueError(f"must be between 0 (off) and {MAX_TIMEOUT_SECONDS:g} seconds, got {shown(raw)}")
    return value


def parse_percent(raw: Any) -> float | None:
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"expected a percentage, got {shown(raw)}")
    try:
        value = float(str(raw).rstrip("%")) if isinstance(raw, str) else float(raw)
    except (ValueError, OverflowError):
        raise ValueError(f"expected a percentage, got {shown(raw)}") from None
    if not 0 <= value <= 100:  # also NaN
        raise ValueError(f"must be between 0 and 100, got {shown(raw)}")
    return value


def parse_name_list(raw: Any) -> tuple[str, ...]:
    """Suite names from ``unit,e2e``, ``unit e2e`` or a TOML list; names are plain ASCII identifiers."""
    items = raw if isinstance(raw, list | tuple) else str(raw).replace(",", " ").split()
    names = tuple(str(item).strip() for item in items if str(item).strip())
    if len(names) > MAX_SUITES:
        raise ValueError(f"{len(names)} suites named; at most {MAX_SUITES}")
    for name in names:
        problem = None if name == "all" else suite_name_problem(name)
        if problem:  # also refuses -p, which would read as an option
            raise ValueError(f"{shown(name)} is not a suite name: {problem}")
    if not names:
        raise ValueError("no suite named")
    return names


def parse_path_list(raw: Any) -> tuple[str, ...]:
    """Test paths from the command line (one argument each), or ``a b`` / ``a,b`` from a variable or input."""
    items = raw if isinstance(raw, list | tuple) else str(raw).replace(",", " ").split()
    paths = tuple(str(item).strip() for item in items if str(item).strip())
    if not paths:
        raise ValueError("no path given")
    for path in paths:
        if "\x00" in path:
            raise ValueError(f"not a usable path: {path!r}")
    return paths


def parse_path(raw: Any) -> Path:
    text = str(raw)
    if not text or "\x00" in text:
        raise ValueError(f"not a usable path: {shown(raw)}")
    return Path(text)


def parse_positive_int(raw: Any) -> int:
    return bounded_int(raw, 1, 2**31)


def parse_junit_max_mb(raw: Any) -> int:
    return bounded_int(raw, 1, MAX_JUNIT_MB, "a whole number of MB")


def parse_parallel_suites(raw: Any) -> int | str:
    if isinstance(raw, str) and raw.strip().lower() == "auto":
        return "auto"
    return bounded_int(raw, 1, MAX_PARALLEL_SUITES, "a number or 'auto'")


def parse_count(raw: Any) -> int:
    """A whole number, 0 allowed (e.g. reruns: 0 turns them off)."""
    return bounded_int(raw, 0, 2**31)


def parse_reruns(raw: Any) -> int:
    return bounded_int(raw, 0, MAX_RERUNS)


def bounded(minimum: int, maximum: int) -> Callable[[Any], int]:
    """A whole number from ``minimum`` to ``maximum``: a bound that keeps a file or a loop finite."""
    def parse(raw: Any) -> int:
        return bounded_int(raw, minimum, maximum)

    parse.__doc__ = f"{minimum}-{maximum}"
    return parse


def parse_shard(raw: Any) -> tuple[int, int] | None:
    """``K/N``: run shard K (1-based) of N, N at most MAX_SHARDS."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in {"", "none"}):
        return None
    index, slash, total = str(raw).strip().partition("/")
    if not slash or not _WHOLE_NUMBER.fullmatch(index.strip()) or not _WHOLE_NUMBER.fullmatch(total.strip()):
        raise ValueError(f"expected K/N such as 2/4, got {shown(raw)}")
    k, n = int(index), int(total)
    if not 1 <= n <= MAX_SHARDS:
        raise ValueError(f"N in K/N must be between 1 and {MAX_SHARDS}, got {shown(raw)}")
    if not 1 <= k <= n:
        raise ValueError(f"K must be between 1 and N in K/N, got {shown(raw)}")
    return k, n


def parse_optional_path(raw: Any) -> Path | None:
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    return parse_path(raw)


def parse_git_ref(raw: Any) -> str | None:
    """A branch, tag or commit name for ``git``; never something git could read as an option."""
    if raw is None or str(raw).strip() == "":
        return None
    text = str(raw).strip()
    if text.startswith("-") or any(ch.isspace() or ord(ch) < 32 for ch in text) or ".." in text:
        raise ValueError(f"{shown(raw)} is not a usable git ref")
    return text


def parse_patterns(raw: Any) -> tuple[str, ...]:
    """fnmatch patterns from a TOML list, or ``a b`` / ``a,b`` from the command line or a variable."""
    items = raw if isinstance(raw, list | tuple) else str(raw).replace(",", " ").split()
    patterns = tuple(str(item).strip() for item in items if str(item).strip())
    if len(patterns) > 1_000:
        raise ValueError(f"{len(patterns)} patterns; at most 1000")
    for pattern in patterns:
        if len(pattern) > 1_000 or any(ord(ch) < 32 for ch in pattern):
            raise ValueError(f"not a usable pattern: {shown(pattern)}")
    return patterns


def choice(*allowed: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        text = str(raw).strip().lower()
        if text not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {shown(raw)}")
        return text

    parse.__doc__ = " | ".join(allowed)
    return parse


def parse_comment_mode(raw: Any) -> str:
    """always | changes | failures (on-failure is the action's spelling of failures) | off."""
    text = choice("always", "changes", "failures", "on-failure", "off")(raw)
    return "failures" if text == "on-failure" else text


def parse_check_name(raw: Any) -> str:
    text = str(raw).strip()
    if not text or len(text) > 100 or any(ch in text for ch in "\r\n\x00"):
        raise ValueError(f"expected a one-line name of 1-100 characters, got {shown(raw)}")
    return text


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

    @property
    def flag_help(self) -> str:
        """What giving the command-line flag does; a negative flag does the opposite of ``help``.

        ``help`` describes the option ("Collect coverage ..."), which is what ``coverage = true``
        means; ``--no-coverage`` is read as "Do not collect coverage ...".
        """
        if self.negative_flag:
            return f"Do not {self.help[:1].lower()}{self.help[1:]}"
        return self.help

    @property
    def doc_help(self) -> str:
        """The option table's text: the option's meaning, and how its negative flag turns it off."""
        if self.negative_flag:
            return f"{self.help} On by default; `{self.negative_flag}` turns it off."
        return self.help


OPTIONS: tuple[Option, ...] = (
    Option("project", "Folder of the project under test (holds pyproject.toml and tests/).",
           parse_path, Path("."), flag="--project", metavar="DIR", in_pyproject=False,
           action_input="working-directory"),
    Option("suites", "Suites to run: unit integration e2e performance security load streaming, "
           "any suite declared in pyproject, or all (every suite whose folder exists).",
           parse_name_list, ("all",), flag="--suites", metavar="SUITE", action_input="suites"),
    Option("paths", f"Run these test files or folders (relative to the project, or absolute inside it) as one "
           f"suite named {ADHOC_SUITE!r}, without editing pyproject; instead of the configured suites unless "
           "--suites names some too.", parse_path_list, (), flag="--paths", metavar="PATH", in_pyproject=False,
           action_input="paths"),
    Option("environment", "Where the suites run: local (isolated temp tree) or docker.",
           choice("local", "docker"), "local", flag="--environment", action_input="environment"),
    Option("workers", "pytest-xdist workers for parallel-safe suites: a number or auto (one per core). "
           "1 by default: xdist's start-up costs more than it saves on quick suites (docs/PERFORMANCE.md). "
           "At most 128.",
           parse_workers, 1, flag="--workers", metavar="N|auto", action_input="workers"),
    Option("timeout", "Timeout in seconds for every suite, overriding each suite's own timeout (1 to 86400, "
           "24 hours; each suite's own `timeout` has the same bounds).",
           parse_seconds, None, flag="--timeout", metavar="SECONDS", action_input="timeout"),
    Option("parallel_suites", "How many suites may run at the same time (each within the core budget), "
           "a number up to 64 or auto.", parse_parallel_suites, "auto", flag="--parallel-suites", metavar="N|auto"),
    Option("output_dir", "Where results and reports are written (relative paths are under the project).",
           parse_path, Path("test-results"), flag="--output-dir", metavar="DIR"),
    Option("reports", "Write report.html, summary.md and the merged junit.xml.",
           parse_bool, True, negative_flag="--no-reports"),
    Option("coverage", "Collect coverage for the suites configured to collect it.",
           parse_bool, True, negative_flag="--no-coverage", action_input="coverage"),
    Option("coverage_fail_under", "Fail the run (exit 7) when total coverage is under this percentage; "
           "unset, the project's own coverage fail_under is checked against the combined total instead.",
           parse_percent, None, flag="--cov-fail-under", metavar="PERCENT"),
    Option("allow_no_tests", "Accept a run in which no test ran (every suite absent, empty, deselected or "
           "skipped): exit 0 instead of 8. The run still says so in one line and in every report.",
           parse_bool, False, flag="--allow-no-tests", is_flag=True),
    Option("fail_fast", "Stop after the first suite that fails; the rest are reported as not run.",
           parse_bool, False, flag="--fail-fast", is_flag=True, action_input="fail-fast"),
    Option("junit_max_mb", "Largest JUnit XML file, in MB, that is read; a suite whose file is bigger is "
           "reported as error without parsing it (the reader streams, but one huge text node is held whole). "
           "1 to 4096.",
           parse_junit_max_mb, 256, flag="--junit-max-mb", metavar="MB"),
    Option("quiet", "Print only per-suite results and the final counts, not the live test output.",
           parse_bool, False, flag="--quiet", is_flag=True, in_pyproject=False),
    # --- environments (local / docker) ---
    Option("keep_env", "Keep the run's test environment (temp tree with data, logs, generated config) after "
           "the run and print its path, for debugging; containers and networks are still removed.",
           parse_bool, False, flag="--keep-env", is_flag=True, in_pyproject=False),
    Option("docker_base", "Base of the generated Docker test image: python (FROM python:3.11-slim; needs a "
           "registry) or offline (a local image with this machine's Python mounted read-only; no pull).",
           choice("python", "offline"), "python", flag="--docker-base"),
    # --- performance regression ---
    Option("perf_mode", "How performance results are compared: auto (paired on pull requests on GitHub-hosted "
           "runners, else history), history (earlier runs' baselines), paired (merge base vs head in this job, "
           "interleaved) or off.", choice("auto", "history", "paired", "off"), "auto", flag="--perf-mode",
           metavar="auto|history|paired|off"),
    Option("regression_threshold", "Smallest slowdown, in percent, that counts as a performance regression "
           "(default: 5 on hosted runners, 3 on self-hosted ones).", parse_percent, None,
           flag="--regression-threshold", metavar="PERCENT", action_input="regression-threshold"),
    Option("fail_on_regression", "Exit 6 when a confirmed performance regression is found (tests passed).",
           parse_bool, False, flag="--fail-on-regression", is_flag=True, action_input="fail-on-regression"),
    Option("perf_aa", "A/A validation: paired mode with the head measured against itself (any regression "
           "found is a false alarm).", parse_bool, False, flag="--perf-aa", is_flag=True),
    Option("perf_base", "Git ref of the paired mode's base (its merge base with HEAD is measured); default: "
           "origin/$GITHUB_BASE_REF on pull requests, else origin/main, main or master.",
           parse_git_ref, None, flag="--perf-base", metavar="REF"),
    Option("perf_metric", "What the performance gate compares: wall (elapsed time), cpu (process CPU time, "
           "steadier on a shared or overloaded machine) or instructions (instructions per call counted under "
           "Valgrind: independent of load and clock, gates 1% changes; needs valgrind).",
           choice("wall", "cpu", "instructions"), "wall", flag="--perf-metric", metavar="wall|cpu|instructions"),
    Option("perf_adaptive_budget", "History mode, wall or CPU time: seconds the run may spend measuring again "
           "the benchmarks close to the regression line (not decided, slower by at least half the threshold, "
           "p < 0.05), for a second look on the pooled samples held to p < 0.01 (Holm); 0 turns it off. The first "
           "look is unchanged, so the false-alarm rate is at most 0.05 + 0.01 (docs/PERFORMANCE.md, Adaptive samples).",
           parse_budget, 0.0, flag="--perf-adaptive-budget", metavar="SECONDS"),
    Option("baseline_dir", "Folder of baseline files for history mode (relative paths are under the project).",
           parse_path, Path("baselines"), flag="--baseline-dir", metavar="DIR"),
    # --- failure analysis, flaky reruns, sharding ---
    Option("reruns", "Rerun each failed test alone up to this many times; one that passes is reported flaky "
           "(0 turns reruns off, at most 10; the action defaults to 2).", parse_reruns, 0, flag="--reruns", metavar="N",
           action_input="reruns"),
    Option("flaky_fails", "Count a flaky test (failed, then passed on a rerun) as failed.",
           parse_bool, False, flag="--flaky-fails", is_flag=True),
    Option("against", "report.json (or its folder) of the base branch's last run: failures are classified "
           "as new, still failing or fixed against it; without it, against the previous report.json in the "
           "output folder.",
           parse_optional_path, None, flag="--against", metavar="REPORT"),
    Option("shard", "Run only shard K of N (e.g. 2/4), a share of the selected tests balanced by recorded "
           "durations (N at most 256); merge the shards' folders with `doorbell-ci merge`.",
           parse_shard, None, flag="--shard", metavar="K/N", in_pyproject=False),
    Option("durations", "Durations used to balance shards: a report.json (or its folder) or a JSON object "
           "{node id: seconds}; without it, the previous report.json in the output folder, else equal test counts.",
           parse_optional_path, None, flag="--durations", metavar="FILE"),
    # --- test impact analysis (doorbell_ci/impact/) ---
    Option("select", "Which tests run: all; affected (only those a change since the impact map's commit can "
           "break, else everything with the reason); audit (everything, and report any failing test affected "
           "would have left out).", choice("all", "affected", "audit"), "all", flag="--select",
           metavar="all|affected|audit", action_input="select"),
    Option("record_impact", "Record which lines each test executed (coverage contexts) into impact.json.gz in "
           "the output folder, the map --select affected reads.", parse_bool, False, flag="--record-impact",
           is_flag=True, action_input="record-impact"),
    Option("impact_map", "The impact.json.gz to select against (relative paths are under the project); default: "
           "the one next to history_from (the fetched results artifact), else the output folder's.",
           parse_optional_path, None, flag="--impact-map", metavar="FILE"),
    Option("impact_full_run", "Patterns (fnmatch, project-relative) of files whose change runs every test; "
           "conftest.py and every non-Python file outside impact_ignore already do.", parse_patterns, (),
           flag="--impact-full-run", metavar="PATTERNS"),
    Option("impact_ignore", "Patterns of files whose change selects no test, on top of *.md, *.rst, docs/**, "
           "LICENSE* and what Python leaves in a checkout (__pycache__, *.pyc, .coverage).", parse_patterns, (),
           flag="--impact-ignore", metavar="PATTERNS"),
    Option("impact_max_commits", "A map recorded more than this many commits before HEAD is stale: everything runs.",
           bounded(1, 100_000), 100, flag="--impact-max-commits", metavar="N"),
    # --- test history, flakiness, quarantine ---
    Option("history", "Write history.json, the per-test history of the last runs (carried forward from "
           "history_from), and classify flaky tests from it.", parse_bool, True, negative_flag="--no-history"),
    Option("history_from", "The previous history.json (or its folder), e.g. from the default branch's last "
           "results artifact (the action fetches it); default: the one in the output folder.",
           parse_optional_path, None, flag="--history-from", metavar="FILE"),
    Option("history_runs", "Runs kept in history.json (the oldest are dropped).", bounded(1, 1_000), 64,
           flag="--history-runs", metavar="N"),
    Option("history_tests", "Tests kept in history.json (those seen least recently are dropped first).",
           bounded(1, 1_000_000), 100_000, flag="--history-tests", metavar="N"),
    Option("quarantine_file", "Checked-in list of quarantined tests (id pattern, owner, reason, expires); "
           "relative paths are under the project. A missing file quarantines nothing.",
           parse_path, Path(".doorbell-ci/quarantine.toml"), flag="--quarantine-file", metavar="FILE",
           action_input="quarantine-file"),
    Option("quarantine_auto", "Also quarantine, without an entry, tests the history shows flaky (failed and "
           "passed on one commit), for quarantine_days after the last evidence.", parse_bool, False,
           flag="--quarantine-auto", is_flag=True),
    Option("quarantine_days", "Days an automatic quarantine lasts after the run that last showed the test flaky.",
           bounded(1, 365), 14, metavar="N"),
    Option("quarantine_clean_runs", "Clean runs in a row after which a test leaves automatic quarantine (and its "
           "checked-in entry is reported as removable).", bounded(1, 1_000), 10, metavar="N"),
    # --- GitHub publishing ---
    Option("comment", "PR comment (doorbell-ci publish): always, changes (only when counts or verdicts differ "
           "from our last comment), failures (alias on-failure: only when something failed, and to clear an "
           "earlier failure comment), off.", parse_comment_mode, "always", action_input="comment"),
    Option("check_run", "doorbell-ci publish also creates a separately named check run with annotations "
           "(off by default: the job's own summary and ::error annotations attach to the right workflow).",
           parse_bool, False, action_input="check-run"),
    Option("check_name", "Name of the check run made with check_run. Default (none): doorbell-ci / JOB "
           "(RUNNER_OS-ARCH, matrix values, report key), unique per job, platform and matrix leg, since GitHub "
           "shows only the newest check run of a name on a commit.", parse_check_name, None,
           action_input="check-name"),
)

OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}


def parse_option(option: Option, raw: Any, source: str) -> Any:
    """Parse ``raw`` for ``option``; a bad value is a ConfigError naming the option and its source."""
    try:
        return option.parse(raw)
    except ValueError as error:
        raise ConfigError(f"{source}: bad value for {option.name!r}: {error}") from None
