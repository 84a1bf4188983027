"""Counts parity: doorbell-ci's report.json against plain ``pytest --junitxml`` on real test suites.

Why: doorbell-ci is only worth trusting if the numbers it reports are the numbers pytest
reports. This downloads pinned sdists of real open-source projects from PyPI (their test suites
ship in the sdist), splits their tests into doorbell-ci suites with a
``[tool.doorbell-ci.suite.NAME]`` table in the unpacked project's pyproject.toml, runs each
suite's paths with plain pytest (no xdist, the ground truth) and the whole thing with
``doorbell-ci run`` (xdist where the suite allows it), and compares tests / failed / errors /
skipped per suite and in total. The plain numbers are the ``<testcase>`` elements of pytest's
own JUnit XML, cross-checked against pytest's terminal summary line. (pytest 9 adds unittest
``subTest``s to the ``tests`` attribute of ``<testsuite>`` without writing a ``<testcase>`` for
them, so that attribute is not used; subtests are reported separately.)

One command re-runs it:  python benchmarks/parity/run_parity.py [--project sample|six|...] [--json FILE]
The e2e test tests/e2e/test_parity.py uses these functions for the bundled sample project too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Skipped

COUNT_KEYS = ("tests", "failed", "errors", "skipped")


@dataclass(frozen=True)
class ParityProject:
    """A PyPI project whose sdist ships its tests, and how its tests split into suites."""

    name: str
    version: str
    suites: dict[str, tuple[str, ...]]  # doorbell-ci suite name -> test paths in the sdist
    test_deps: tuple[str, ...] = ()  # pip requirements the tests need besides pytest
    parallel: bool = True  # False: its suites must not run under pytest-xdist
    notes: str = ""


PROJECTS: tuple[ParityProject, ...] = (
    ParityProject(
        "more-itertools", "10.5.0",
        {"more": ("tests/test_more.py",), "recipes": ("tests/test_recipes.py",)},
        # Its unittest subTests cannot cross pytest-xdist's channel under pytest 9 (execnet
        # DumpError: "can't serialize <class 'type'>"), so the suites run in one process.
        parallel=False,
        notes="unittest-style tests with subTests, run by pytest",
    ),
    ParityProject(
        "six", "1.17.0", {"unit": ("test_six.py",)},
        notes="one module with skips that depend on the interpreter (Python 2-only paths)",
    ),
)
PROJECTS_BY_NAME = {p.name: p for p in PROJECTS}

# The bundled sample project, with its opt-in failures switched on so failed tests are compared too.
SAMPLE_PROJECT = Path(__file__).resolve().parents[2] / "tests" / "sample_project"
SAMPLE_ENV = {"DOORBELL_SAMPLE_FAIL": "1"}


@dataclass
class SuiteParity:
    suite: str
    plain: dict[str, int]
    doorbell: dict[str, int]
    status: str = ""
    summary: str = ""  # plain pytest's last terminal line

    @property
    def equal(self) -> bool:
        return self.plain == self.doorbell


@dataclass
class ParityResult:
    project: str
    suites: list[SuiteParity] = field(default_factory=list)

    @property
    def totals(self) -> tuple[dict[str, int], dict[str, int]]:
        plain = {key: sum(s.plain[key] for s in self.suites) for key in COUNT_KEYS}
        doorbell = {key: sum(s.doorbell[key] for s in self.suites) for key in COUNT_KEYS}
        return plain, doorbell

    @property
    def equal(self) -> bool:
        plain, doorbell = self.totals
        return bool(self.suites) and all(s.equal for s in self.suites) and plain == doorbell

    def as_dict(self) -> dict[str, object]:
        plain, doorbell = self.totals
        return {"project": self.project, "equal": self.equal,
                "suites": [{"suite": s.suite, "status": s.status, "plain_pytest": s.plain, "doorbell_ci": s.doorbell,
                            "plain_pytest_summary": s.summary} for s in self.suites],
                "totals": {"plain_pytest": plain, "doorbell_ci": doorbell}}


def download_sdist(project: ParityProject, workdir: Path) -> Path:
    """pip-download the pinned sdist (never a wheel: wheels do not carry the tests) and unpack it."""
    downloads = workdir / "downloads"
    subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", project.name,
         "--disable-pip-version-check", "-q", "--timeout", "30", "--retries", "2", "-d", str(downloads),
         f"{project.name}=={project.version}"],
        check=True, timeout=300,  # offline: fail in minutes, not after pip's default retries
    )
    archive = next(downloads.glob(f"{project.name.replace('-', '[-_]')}-{project.version}.tar.gz"), None)
    if archive is None:
        archive = next(downloads.glob("*.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(workdir, filter="data")
    unpacked = workdir / archive.name.removesuffix(".tar.gz")
    if project.test_deps:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *project.test_deps],  # noqa: S603
                       check=True, timeout=600)
    return unpacked


def configure_suites(project_dir: Path, suites: dict[str, tuple[str, ...]], parallel: bool = True) -> None:
    """Declare the suites in the project's pyproject.toml (created when the sdist has none).

    A pyproject.toml without a [tool.pytest.ini_options] table does not change which file
    pytest takes its settings from, so plain pytest and doorbell-ci see the same configuration.
    """
    lines = ["", "[tool.doorbell-ci]", 'output_dir = "doorbell-results"']
    for name, paths in suites.items():
        lines += ["", f"[tool.doorbell-ci.suite.{name}]", f"paths = {json.dumps(list(paths))}"]
        if not parallel:
            lines.append("parallel = false")
    pyproject = project_dir / "pyproject.toml"
    existing = pyproject.read_text(encoding="utf-8") if pyproject.exists() else ""
    pyproject.write_text(existing + "\n".join(lines) + "\n", encoding="utf-8")


def junit_counts(path: Path) -> dict[str, int]:
    """Outcomes of the <testcase> elements pytest wrote (junitparser's result classes decide)."""
    document = JUnitXml.fromfile(str(path))
    counts = dict.fromkeys(COUNT_KEYS, 0)
    for suite in document:
        for case in suite:
            counts["tests"] += 1
            kinds = {type(entry) for entry in case.result}
            if Failure in kinds:
                counts["failed"] += 1
            elif Error in kinds:
                counts["errors"] += 1
            elif Skipped in kinds:
                counts["skipped"] += 1
    return counts


_SUMMARY_ITEM = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)\b")


def summary_counts(line: str) -> dict[str, int]:
    """pytest's terminal summary (``3 failed, 10 passed, 1 skipped, 5 subtests passed in 1.2s``) as counts.

    Subtest items are left out: pytest writes no <testcase> for them. xfailed counts as skipped
    and xpassed as passed, which is how they appear in JUnit XML.
    """
    found = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    for match in _SUMMARY_ITEM.finditer(re.sub(r"\d+ subtests? \w+", "", line)):
        number, word = int(match.group(1)), match.group(2)
        key = {"error": "errors", "xfailed": "skipped", "xpassed": "passed"}.get(word, word)
        if key in found:
            found[key] += number
    return {"tests": sum(found.values()), "failed": found["failed"], "errors": found["errors"],
            "skipped": found["skipped"]}


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without doorbell-ci settings that would change the run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOORBELL_CI_") and k != "PYTEST_ADDOPTS"}
    env.update(extra or {})
    return env


def plain_pytest_counts(project_dir: Path, paths: tuple[str, ...], junit: Path,
                        env: dict[str, str] | None = None, timeout: float = 900) -> tuple[dict[str, int], str]:
    """Run plain pytest over ``paths`` (no xdist); return its JUnit counts and its summary line.

    The JUnit counts must agree with the terminal summary, or the ground truth itself is in doubt.
    """
    completed = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "pytest", *paths, f"--junitxml={junit}", "-p", "no:cacheprovider", "-q"],
        cwd=project_dir, env=_clean_env(env), capture_output=True, text=True, timeout=timeout, check=False,
    )
    if completed.returncode not in (0, 1, 5) or not junit.exists():
        raise RuntimeError(f"plain pytest failed with exit {completed.returncode} in {project_dir}:\n"
                           + (completed.stdout + completed.stderr)[-3000:])
    summary = completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else ""
    counts = junit_counts(junit)
    if summary_counts(summary) != counts:
        raise RuntimeError(f"pytest's JUnit XML {counts} and its summary {summary!r} disagree")
    return counts, summary


def doorbell_report(project_dir: Path, suites: list[str] | None, output_dir: Path,
                    env: dict[str, str] | None = None, timeout: float = 1800) -> dict:
    """Run ``doorbell-ci run`` and return its report.json (coverage off: counts do not depend on it)."""
    argv = [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project_dir), "--output-dir",
            str(output_dir), "--no-coverage", "--quiet"]
    if suites:
        argv += ["--suites", *suites]
    completed = subprocess.run(argv, env=_clean_env(env), capture_output=True, text=True,  # noqa: S603
                               timeout=timeout, check=False)
    report = output_dir / "report.json"
    if completed.returncode not in (0, 1) or not report.exists():
        raise RuntimeError(f"doorbell-ci failed with exit {completed.returncode}:\n"
                           + (completed.stdout + completed.stderr)[-3000:])
    return json.loads(report.read_text(encoding="utf-8"))


def compare(project_name: str, project_dir: Path, suites: dict[str, tuple[str, ...]], workdir: Path,
            env: dict[str, str] | None = None) -> ParityResult:
    """Plain pytest per suite vs one doorbell-ci run over the same suites."""
    report = doorbell_report(project_dir, list(suites), workdir / "doorbell", env)
    by_suite = {s["name"]: s for s in report["suites"]}
    result = ParityResult(project=project_name)
    for name, paths in suites.items():
        plain, summary = plain_pytest_counts(project_dir, paths, workdir / f"plain-{name}.xml", env)
        counts = by_suite[name]["counts"]
        result.suites.append(SuiteParity(
            suite=name, plain=plain, doorbell={key: counts[key] for key in COUNT_KEYS},
            status=by_suite[name]["status"], summary=summary,
        ))
    plain_total, doorbell_total = result.totals
    totals = report["totals"]
    if {key: totals[key] for key in COUNT_KEYS} != doorbell_total:  # report.json's own total must agree too
        raise RuntimeError(f"report.json totals {totals} differ from the sum of its suites {doorbell_total}")
    return result


def run_sample(workdir: Path, source: Path = SAMPLE_PROJECT) -> ParityResult:
    """The sample project (a fresh copy), every suite folder it has, with its opt-in failures on."""
    project_dir = workdir / "sample_project"
    shutil.copytree(source, project_dir, ignore=shutil.ignore_patterns(
        "test-results", "__pycache__", ".pytest_cache", "*.egg-info", ".coverage*"))
    suites = {folder.name: (f"tests/{folder.name}",) for folder in sorted((project_dir / "tests").iterdir())
              if folder.is_dir() and any(folder.glob("test_*.py"))}
    return compare("sample project (DOORBELL_SAMPLE_FAIL=1)", project_dir, suites, workdir, SAMPLE_ENV)


def run_project(project: ParityProject, workdir: Path) -> ParityResult:
    project_dir = download_sdist(project, workdir)
    configure_suites(project_dir, project.suites, project.parallel)
    return compare(f"{project.name} {project.version}", project_dir, project.suites, workdir)


def print_table(result: ParityResult) -> None:
    print(f"\n{result.project}: {'EQUAL' if result.equal else 'DIFFERENT'}")
    print(f"  {'suite':<12} {'plain pytest (t/f/e/s)':<26} doorbell-ci (t/f/e/s)")
    rows = [(s.suite, s.plain, s.doorbell) for s in result.suites] + [("total", *result.totals)]
    for name, plain, doorbell in rows:
        shown = ["/".join(str(c[k]) for k in COUNT_KEYS) for c in (plain, doorbell)]
        print(f"  {name:<12} {shown[0]:<26} {shown[1]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", action="append", choices=["sample", *sorted(PROJECTS_BY_NAME)],
                        help="only this project (repeatable); default: the sample project and every PyPI one")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    results = []
    root = Path(tempfile.mkdtemp(prefix="doorbell-parity-"))
    try:
        for name in args.project or ["sample", *(p.name for p in PROJECTS)]:
            workdir = root / name
            workdir.mkdir()
            result = run_sample(workdir) if name == "sample" else run_project(PROJECTS_BY_NAME[name], workdir)
            print_table(result)
            results.append(result)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps([r.as_dict() for r in results], indent=2), encoding="utf-8")
    return 0 if all(r.equal for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
