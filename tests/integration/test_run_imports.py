"""What a plain `doorbell-ci run` imports: never the statistics stack (numpy, scipy) when no benchmark ran.

Importing scipy.stats costs 0.6 s of CPU on a quiet machine and several seconds under load, on the
critical path after the suites (docs/PERFORMANCE.md, "Overhead figures (benchmarks/overhead)",
2026-12-02): the history stage named the platform through ``perf.baselines``, which imported
``perf.stats`` for one constant, and that made the orchestrator overhead on 2,000 quick tests 1.35
instead of about 1.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

RUN_AND_LIST = """
import json, sys
from doorbell_ci import cli
code = cli.main(["run", "--suites", "unit", "--no-coverage", "--quiet"])
print("MODULES " + json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
raise SystemExit(code)
"""



def imported_modules(project: Path, script: str) -> set[str]:
    """Run ``script`` (a doorbell-ci run that prints ``MODULES [...]``) in ``project``; the modules it listed."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_CI_", "GITHUB_"))}
    completed = subprocess.run(  # noqa: S603 - our own CLI on a project the test made
        [sys.executable, "-c", script], cwd=project, env=environment, capture_output=True, text=True,
        timeout=300, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    line = next(line for line in completed.stdout.splitlines() if line.startswith("MODULES "))
    return set(json.loads(line[len("MODULES "):]))

def test_a_plain_run_with_history_never_imports_numpy_or_scipy(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "tests" / "unit").mkdir(parents=True)
    (project / "tests" / "unit" / "test_mod.py").write_text(
        "def test_one():\n    assert 1 + 1 == 2\n\n\ndef test_two():\n    assert 'a'.upper() == 'A'\n",
        encoding="utf-8")
    (project / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\n', encoding="utf-8")
    for run in (1, 2):  # the second run also reads the first one's report.json and history.json
        modules = imported_modules(project, RUN_AND_LIST)
        assert "doorbell_ci" in modules and "junitparser" in modules  # the run and its reports did happen
        assert not modules & {"numpy", "scipy"}, f"run {run} imported {sorted(modules & {'numpy', 'scipy'})}"
        history = json.loads((project / "test-results" / "history.json").read_text(encoding="utf-8"))
        assert len(history["runs"]) == run  # the history stage, which named the platform, ran


LIST_AT_FIRST_SUITE = """
import json, sys
from doorbell_ci import cli, execution
original = execution.run_command
seen = []
def recording(*args, **kwargs):
    if not seen:  # the first suite's process is about to start: what did start-up import?
        seen.append(sorted({name.split(".")[0] for name in sys.modules}))
    return original(*args, **kwargs)
execution.run_command = recording
code = cli.main(["run", "--suites", "unit", "--no-coverage", "--quiet"])
print("MODULES " + json.dumps(seen[0]))
raise SystemExit(code)
"""


def test_start_up_imports_no_report_writer_before_the_first_suite(tmp_path: Path) -> None:
    """jinja2, junitparser and lxml are for after the suites: imported while they run, never before.

    The console summary (reports.console) is imported at start-up; the reports package used to
    import every writer with it, 0.05-0.1 s of CPU on the critical path before the first suite.
    """
    project = tmp_path / "project"
    (project / "tests" / "unit").mkdir(parents=True)
    (project / "tests" / "unit" / "test_mod.py").write_text("def test_one():\n    assert 1 + 1 == 2\n",
                                                             encoding="utf-8")
    (project / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\n', encoding="utf-8")
    modules = imported_modules(project, LIST_AT_FIRST_SUITE)
    assert "doorbell_ci" in modules and "psutil" in modules  # start-up did happen
    assert not modules & {"jinja2", "junitparser", "lxml"}, sorted(modules & {"jinja2", "junitparser", "lxml"})
    report = json.loads((project / "test-results" / "report.json").read_text(encoding="utf-8"))
    assert report["totals"]["passed"] == 1
    assert (project / "test-results" / "report.html").is_file()  # the writers ran after the suite
    assert (project / "test-results" / "junit.xml").is_file()
