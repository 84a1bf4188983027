"""How to rerun one failing test alone: the command, the variables that matter, the seed.

The command is built from what the suite really ran (its Python, its extra pytest arguments)
minus what only doorbell-ci needs (JUnit path, progress plugin, xdist, coverage), plus the
test's node id. When pytest-randomly shuffled the suite, its seed (printed at the top of the
suite's log as ``Using --randomly-seed=N``) is passed too, so the order-dependent failure
comes back. A ``command`` suite (npm test, a shell script, anything that writes JUnit XML) is
not pytest: doorbell-ci cannot pick one of its tests, so its own command is the reproduction.

The project's ``DOORBELL_*`` variables go into the command line, which lands in report.json,
summary.md and the PR comment: a variable whose name says it holds a secret (``*_TOKEN``,
``*_KEY`` ... the rule of redaction.py) or whose value is a known secret is left out by name,
never copied and masked.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
from collections.abc import Mapping
from fnmatch import fnmatch
from pathlib import Path, PurePath
from typing import Any

from doorbell_ci import redaction
from doorbell_ci.results import SuiteResult, TestResult

_SEED = re.compile(r"--randomly-seed=(\d+)")
# Variables the project's own tests read (DOORBELL_*, not doorbell-ci's own) and the hash seed.
RELEVANT_ENV = ("DOORBELL_*", "PYTHONHASHSEED")
_DROP_WITH_VALUE = {"-n", "--numprocesses", "-m", "--dist", "--maxprocesses"}


def seed_from_log(log_path: Path | None) -> str | None:
    """pytest-randomly's seed, from the first lines of the suite's log, if it was in use."""
    if log_path is None or not os.path.isfile(log_path):  # os.path: no PermissionError from a chmodded logs/
        return None
    try:
        with open(log_path, encoding="utf-8", errors="replace") as log:
            head = log.read(20_000)
    except OSError:
        return None
    match = _SEED.search(head)
    return match.group(1) if match else None


def relevant_environment(suite_env: Mapping[str, str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The suite's configured ``env`` plus the run's project variables that cannot hold a secret."""
    return _environment(suite_env, environ)[0]


def _environment(suite_env: Mapping[str, str],
                 environ: Mapping[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """(variables for the command, names of the run's variables left out because they may hold secrets)."""
    environ = os.environ if environ is None else environ
    picked, left_out = _project_variables(tuple(sorted(environ.items())))
    return {**picked, **suite_env}, list(left_out)


@functools.lru_cache(maxsize=4)
def _project_variables(environ: tuple[tuple[str, str], ...]) -> tuple[Mapping[str, str], tuple[str, ...]]:
    """The run's variables a reproduction may carry, and those left out, for one environment.

    Remembered per environment: every failure's command asks, and matching every variable against
    the patterns and the secrets (a Redactor built from them) once per failure took 0.3 s of CPU at
    600 failures. The mapping is never handed out (callers copy it).
    """
    redactor = redaction.Redactor.from_environ(dict(environ))
    picked: dict[str, str] = {}
    left_out: list[str] = []
    for name, value in environ:
        if not any(fnmatch(name, pattern) for pattern in RELEVANT_ENV) or name.startswith("DOORBELL_CI_"):
            continue
        if name.upper().endswith(redaction.SECRET_SUFFIXES) or redactor.redact(value) != value:
            left_out.append(name)  # by name: whoever reruns it has the value, the report must not
        else:
            picked[name] = value
    return picked, tuple(left_out)


def _extra_pytest_args(argv: list[str]) -> list[str]:
    """The suite's own pytest arguments: those after ``-m pytest`` that doorbell-ci did not add."""
    if "pytest" not in argv:
        return []
    args = argv[argv.index("pytest") + 1:]
    kept: list[str] = []
    position = 0
    while position < len(args):
        arg = args[position]
        value = args[position + 1] if position + 1 < len(args) else ""
        position += 1
        if arg in _DROP_WITH_VALUE or (arg == "-o" and value.startswith("junit_")) or (
                arg == "-p" and value.startswith("doorbell_ci.")):
            position += 1
        elif arg.startswith(("--junitxml=", "--junit-xml=", "--cov", "-n=", "--numprocesses=", "--dist=")):
            continue
        elif arg.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", arg):
            continue  # the suite's paths (absolute): the node id replaces them
        else:
            kept.append(arg)
    return kept


def reproduce(test: TestResult, suite: SuiteResult, project: str, suite_env: Mapping[str, str],
              environment: Mapping[str, Any], output_dir: Path | None) -> dict[str, Any]:
    """The command that reruns ``test`` alone, as argv and as one shell line, with env and seed.

    ``scope`` says what the command reruns: ``test`` (pytest, this test alone) or ``suite`` (a
    command suite's own command, which doorbell-ci cannot narrow to one test).
    """
    seed = None
    if is_pytest_suite(suite.command):
        python = suite.command[0] if suite.command[1:3] == ["-m", "pytest"] else "python"
        if environment.get("kind") not in (None, "local"):
            python = "python"  # inside the container, not the host's interpreter
        argv = [python, "-m", "pytest", test.nodeid, *_extra_pytest_args(suite.command)]
        seed = seed_from_log(output_dir / suite.log_file if output_dir and suite.log_file else None)
        if seed:
            argv += ["-p", "randomly", f"--randomly-seed={seed}"]
        scope = "test"
    else:
        argv, scope = list(suite.command), "suite"
    env, left_out = _environment(suite_env)
    line = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()), shlex.join(argv)])
    return {"argv": argv, "command": line, "cwd": project, "env": env, "env_left_out": left_out, "seed": seed,
            "scope": scope, "environment": {k: v for k, v in environment.items() if v is not None}}


def is_pytest_suite(command: list[str]) -> bool:
    """Whether the suite ran pytest, so that one test can be picked by its node id.

    doorbell-ci's own pytest suites load its progress plugin; a ``command`` suite that calls
    pytest itself (``python -m pytest ...``) can be narrowed the same way; anything else
    (``npm test``, a test binary) can only be rerun whole. No command recorded: pytest, as before.
    """
    if not command or "doorbell_ci.progress_plugin" in command:
        return True
    return any(pair == ("-m", "pytest") for pair in zip(command, command[1:], strict=False)) or any(
        PurePath(arg).name in ("pytest", "pytest.exe", "py.test") for arg in command[:1])
