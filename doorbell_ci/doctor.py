"""``doorbell-ci doctor``: what this machine has and lacks for a run, before a run fails on it.

A run on a new laptop, a Windows box or a fresh Pi runner tends to fail on something dull
(no pytest-xdist, Docker not reachable, the plugin not registered because the package was
not installed). The doctor looks at each of those once and says what to do; it exits 0 when
a run can work (optional things may be missing) and 3 (environment) when it cannot.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from doorbell_ci import __version__, platforms
from doorbell_ci.errors import DoorbellError, ExitCode

MIN_PYTHON = (3, 11)
PLUGINS = (  # (distribution, pytest11 entry point, why doorbell-ci needs it, needed by every run)
    ("pytest-xdist", "xdist", "runs parallel-safe suites on several workers", True),
    ("pytest-cov", "pytest_cov", "collects coverage", True),
    ("doorbell-ci", "doorbell_ci.perf.plugin", "the perf fixture of performance suites", False),
)
GITHUB_VARIABLES = ("GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GITHUB_TOKEN", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT",
                    "RUNNER_OS", "RUNNER_LABELS")
SECRET_VARIABLES = {"GITHUB_TOKEN"}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome", "msedge")


@dataclass(frozen=True)
class Finding:
    """One thing the doctor looked at. ``required`` findings that are not ``ok`` make a run impossible."""

    name: str
    ok: bool
    detail: str
    required: bool = True

    @property
    def label(self) -> str:
        if self.ok:
            return "ok"
        return "MISSING" if self.required else "optional"


def examine(project: Path | None = None, environ: Mapping[str, str] | None = None,
            docker_ping: Callable[[], str] | None = None,
            version_info: tuple[int, ...] | None = None, collect: bool = False) -> list[Finding]:
    """Every finding, in the order a reader wants them: Python, pytest, plugins, project, Docker, GitHub.

    ``collect`` also asks pytest what each suite would run (``--collect-only``), which imports the
    project's test modules: markers, ``-k`` or ``pytest_args`` that deselect everything show there.
    """
    environ = os.environ if environ is None else environ
    findings = [_python(version_info or tuple(sys.version_info[:3])), _pytest()]
    findings += [_plugin(*plugin) for plugin in PLUGINS]
    findings.append(_temp_folder())
    environment, config_finding = _project(project)
    if config_finding is not None:
        findings.append(config_finding)
        if config_finding.ok and project is not None:
            findings.append(_suites(project))
            if collect and findings[-1].ok:
                findings += _collected(project)
    findings.append(_docker(docker_ping or _docker_ping, required=environment == "docker"))
    findings.append(_valgrind(required=_wants_instructions(project, environ)))
    findings += _github(environ)
    findings.append(_chromium())
    findings.append(_console())
    return findings


def usable(findings: list[Finding]) -> bool:
    return all(finding.ok or not finding.required for finding in findings)


def render(findings: list[Finding], facts: Mapping[str, Any]) -> str:
    machine = (f"{facts.get('os_name') or facts.get('os')} on {facts.get('arch')}, {facts.get('cpu_count')} CPUs"
               f"{', ' + str(facts['pi_model']) if facts.get('pi_model') else ''}")
    lines = [f"doorbell-ci {__version__} doctor: {machine}"]
    width = max(len(finding.name) for finding in findings)
    for finding in findings:
        lines.append(f"  {finding.label:<8}  {finding.name:<{width}}  {finding.detail}")
    missing = [f.name for f in findings if not f.ok and f.required]
    lines.append("usable: yes" if not missing else f"usable: no (fix: {', '.join(missing)})")
    return "\n".join(lines)


def _python(version: tuple[int, ...]) -> Finding:
    shown = ".".join(str(part) for part in version)
    if tuple(version[:2]) >= MIN_PYTHON:
        return Finding("python", True, f"{shown} ({sys.executable})")
    wanted = ".".join(map(str, MIN_PYTHON))
    return Finding("python", False, f"{shown} is too old: doorbell-ci needs Python {wanted} or newer")


def _pytest() -> Finding:
    try:
        return Finding("pytest", True, metadata.version("pytest"))
    except metadata.PackageNotFoundError:
        return Finding("pytest", False, "not installed: pip install pytest")


def _plugin(distribution: str, entry_point: str, why: str, required: bool) -> Finding:
    name = f"plugin {entry_point}"
    try:
        version = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return Finding(name, False, f"{distribution} is not installed ({why}): pip install {distribution}", required)
    registered = {point.name for point in metadata.entry_points(group="pytest11")}
    if entry_point not in registered:
        return Finding(name, False, f"{distribution} {version} registers no pytest11 entry point {entry_point!r} "
                                    f"({why}): reinstall it (pip install -e . for doorbell-ci)", required)
    return Finding(name, True, f"{distribution} {version}", required)


def _temp_folder() -> Finding:
    """Every run makes a private temp tree; a read-only or full temp folder stops it at once."""
    folder = tempfile.gettempdir()
    try:
        with tempfile.TemporaryDirectory(prefix="doorbell-ci-doctor-") as scratch:
            (Path(scratch) / "probe").write_bytes(b"ok")
    except OSError as error:
        return Finding("temp folder", False, f"{folder} is not writable: {error.strerror or error}; set TMPDIR/TEMP")
    return Finding("temp folder", True, folder)


def _project(project: Path | None) -> tuple[str | None, Finding | None]:
    """The project's configuration, read the way ``run`` reads it; its environment decides if Docker is needed."""
    if project is None:
        return None, None
    from doorbell_ci.config import load_config

    try:
        config = load_config(project)
    except DoorbellError as error:
        return None, Finding("configuration", False, str(error))
    suites = [name for name, suite in config.suite_configs.items()
              if suite.command is not None or any((config.project / path).exists() for path in suite.paths)]
    detail = f"{config.project}: environment {config.environment}, suites found: {', '.join(suites) or 'none'}"
    return config.environment, Finding("configuration", True, detail)


def _suites(project: Path) -> Finding:
    """What a run would start, planned as ``run`` plans it: a run that would test nothing is not usable."""
    from doorbell_ci.config import fallback_test_paths, load_config
    from doorbell_ci.plan import make_plan

    config = load_config(project)
    plan = make_plan(config)
    if not plan.suites:
        missing = ", ".join([skipped.reason.removesuffix(" does not exist in the project") for skipped in plan.absent]
                            + [" ".join(config.suite_configs[name].paths) or name for name in plan.not_in_project])
        instead = ("the project configures its suites, so tests/ or pytest testpaths are not run instead"
                   if fallback_test_paths(project) else "there is no tests/ folder or pytest testpaths to run instead")
        return Finding("suites", False, f"nothing would run (exit 8): no selected suite exists (missing: "
                                        f"{missing or 'no suite selected'}), and {instead}; set the suites' paths, "
                                        "e.g. [tool.doorbell-ci.suite.unit] paths = [\"your/tests\"]")
    shown = ", ".join(f"{suite.name} ({' '.join(suite.config.paths) or 'command'})" for suite in plan.suites)
    return Finding("suites", True, f"would run {shown}" + "".join(f"; {notice}" for notice in plan.notices))


COLLECT_TIMEOUT = 300.0
_COLLECTED = re.compile(r"(?:(\d+)(?:/\d+)?|no) tests? collected(?: \((\d+) deselected\))?")  # pytest -q's line


def _collected(project: Path) -> list[Finding]:
    """How many tests each planned pytest suite would run, from ``pytest --collect-only`` in the project.

    Required only together: one suite with nothing to run next to others is shown, a run where
    every suite collects nothing would end with exit 8 and is not usable.
    """
    from doorbell_ci.config import load_config
    from doorbell_ci.plan import make_plan

    findings = []
    plan = make_plan(load_config(project))
    for suite in (suite for suite in plan.suites if suite.config.is_pytest):
        config = suite.config
        argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                *(config.paths or ["."]), *(["-m", config.markers] if config.markers else []), *config.pytest_args]
        try:
            completed = subprocess.run(argv, cwd=plan.project, capture_output=True, text=True, encoding="utf-8",  # noqa: S603
                                       errors="replace", timeout=COLLECT_TIMEOUT, check=False,
                                       env={**os.environ, **config.env, "PYTHONDONTWRITEBYTECODE": "1"})
        except (OSError, subprocess.TimeoutExpired) as error:
            findings.append(Finding(f"collect {suite.name}", False, f"pytest --collect-only failed: {error}", False))
            continue
        match = _COLLECTED.search(completed.stdout)
        count = int(match.group(1) or 0) if match and completed.returncode == 0 else 0
        if count:
            findings.append(Finding(f"collect {suite.name}", True, f"{count} tests", required=False))
        elif completed.returncode in (0, 5):
            deselected = int(match.group(2) or 0) if match else 0
            why = (f"all {deselected} collected tests are deselected (markers, -k or pytest_args)" if deselected
                   else "pytest collects no tests in " + " ".join(config.paths or ["."]))
            findings.append(Finding(f"collect {suite.name}", False, f"nothing would run: {why}", required=False))
        else:
            last = (completed.stdout.strip().splitlines() or ["no output"])[-1][:200]
            findings.append(Finding(f"collect {suite.name}", False,
                                    f"pytest --collect-only exited {completed.returncode}: {last}", required=False))
    if findings and not any(finding.ok for finding in findings):
        findings.append(Finding("collected", False, "nothing would run (exit 8): no suite collects a test"))
    return findings


def _docker_ping() -> str:
    """The engine's version through the docker SDK; raises when it cannot be reached."""
    import docker

    client = docker.from_env(timeout=5)
    try:
        client.ping()
        return str(client.version().get("Version", "unknown version"))
    finally:
        client.close()


def _docker(ping: Callable[[], str], required: bool) -> Finding:
    why = "needed by --environment docker" if required else "only needed for --environment docker"
    try:
        version = ping()
    except Exception as error:  # noqa: BLE001 - any failure to reach the engine is the finding
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return Finding("docker engine", False, f"not reachable ({why}): {first_line[:200]}", required=required)
    return Finding("docker engine", True, f"Docker {version}", required=required)


def _github(environ: Mapping[str, str]) -> list[Finding]:
    """Publishing needs these; outside GitHub Actions they are simply absent (never printed: the token)."""
    inside = environ.get("GITHUB_ACTIONS") == "true"
    findings = []
    for name in GITHUB_VARIABLES:
        value = environ.get(name, "")
        if value:
            shown = "set (hidden)" if name in SECRET_VARIABLES else value
            findings.append(Finding(name, True, shown, required=False))
        else:
            where = "in this workflow" if inside else "(not running in GitHub Actions)"
            findings.append(Finding(name, False, f"not set {where}", required=False))
    return findings


def _wants_instructions(project: Path | None, environ: Mapping[str, str]) -> bool:
    """Whether this project's runs ask for ``--perf-metric instructions`` (then Valgrind is required)."""
    if environ.get("DOORBELL_CI_PERF_METRIC", "").strip() == "instructions":
        return True
    if project is None:
        return False
    from doorbell_ci.config import load_config

    try:
        return load_config(project).perf_metric == "instructions"
    except DoorbellError:
        return False


def _valgrind(required: bool) -> Finding:
    """Valgrind counts instructions for ``--perf-metric instructions``: tried for real, not just looked up."""
    from doorbell_ci.perf import valgrind

    ok, detail = valgrind.usable()
    if not ok:
        detail += "; needed only for --perf-metric instructions"
    return Finding("valgrind", ok, detail, required=required)


def _chromium() -> Finding:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return Finding("chromium", True, path, required=False)
    return Finding("chromium", False, "not found (only needed to check report.html in a browser)", required=False)


def _console() -> Finding:
    """A Windows console in cp1252 cannot show every test name; doorbell-ci switches its output to UTF-8."""
    encoding = (getattr(sys.stdout, "encoding", None) or "unknown").lower()
    if encoding.replace("-", "") == "utf8":
        return Finding("console", True, "UTF-8", required=False)
    return Finding("console", False, f"{encoding}: doorbell-ci writes UTF-8 (set PYTHONUTF8=1 for other tools)",
                   required=False)


def register_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check this machine for what a run needs (Python, pytest plugins, Docker, GitHub)",
        description="Print what doorbell-ci found and what is missing. Exit 0 when a run can work, 3 when not.")
    parser.add_argument("--project", type=Path, default=Path("."), metavar="DIR",
                        help="the project whose configuration to check (default: .)")
    parser.add_argument("--json", action="store_true", help="print the findings and the platform as JSON")
    parser.add_argument("--collect", action="store_true",
                        help="also ask pytest (--collect-only) how many tests each suite would run; imports the "
                             "project's test modules")
    parser.set_defaults(handler=_doctor_command)


def _doctor_command(args: argparse.Namespace) -> int:
    findings = examine(args.project, collect=args.collect)
    facts = platforms.describe()
    if args.json:
        document = {"usable": usable(findings), "findings": [asdict(f) for f in findings], "platform": facts}
        print(json.dumps(document, indent=2, default=str))
    else:
        print(render(findings, facts))
    return int(ExitCode.OK if usable(findings) else ExitCode.ENVIRONMENT)
