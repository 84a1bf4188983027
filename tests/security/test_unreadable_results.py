"""Results a suite made unreadable, in real runs as an unprivileged user (uid 65534).

Everything doorbell-ci reads after a suite (its JUnit file, the progress events, the coverage
data, a ``command`` suite's own XML) sits in folders the suite's processes can write. A test can
chmod them to 000, replace a file with a folder or a symlink loop, or a folder with a file. As
root none of that stops a read, so each form runs as uid 65534 (tests/nonroot.py): the project's
own test or conftest does the damage, and the run must end with that suite in ``error`` and the
reason, report.json written, exit 1, and no traceback. Before the fix the first form raised
``PermissionError`` out of ``collect_suite`` (``Path.exists`` on the file inside the 000 folder):
traceback, exit 1, no report.json.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nonroot import give_to_nonroot, nonroot_env, nonroot_python, run_as_nonroot

HEALTHY = "def test_one():\n    assert 1 + 1 == 2\n\n\ndef test_two():\n    assert 'doorbell'\n"
OUTPUT = "Path(__file__).resolve().parents[2] / 'test-results'"  # from tests/<suite>/ to the output folder
# the damage is done after pytest wrote its XML (pytest_unconfigure runs after the junitxml plugin's sessionfinish)
AFTER_XML = ("import os\nfrom pathlib import Path\n\n\ndef pytest_unconfigure(config):\n"
             "    junit = {output} / 'junit' / 'unit.xml'\n{body}")

FORMS = {
    "junit folder chmod 000 by a test": (
        {"tests/unit/test_lock.py": f"import os\nfrom pathlib import Path\n\n\ndef test_lock():\n"
                                    f"    os.chmod({OUTPUT} / 'junit', 0)\n"},
        r"unit\.xml could not be read: Permission denied"),
    "junit file chmod 000 after pytest wrote it": (
        {"tests/unit/conftest.py": AFTER_XML.format(output=OUTPUT, body="    os.chmod(junit, 0)\n")},
        r"unit\.xml could not be read: Permission denied"),
    "junit file replaced by a folder": (
        {"tests/unit/conftest.py": AFTER_XML.format(output=OUTPUT, body="    junit.unlink()\n    junit.mkdir()\n")},
        r"unit\.xml is a folder, not a file"),
    "junit file replaced by a symlink loop": (
        {"tests/unit/conftest.py": AFTER_XML.format(output=OUTPUT,
                                                    body="    junit.unlink()\n    os.symlink(junit, junit)\n")},
        r"unit\.xml could not be read: Too many levels of symbolic links"),
    "junit folder replaced by a file": (
        {"tests/unit/test_lock.py": f"import os\nfrom pathlib import Path\n\n\ndef test_swap():\n"
                                    f"    os.rmdir({OUTPUT} / 'junit')\n    ({OUTPUT} / 'junit').write_text('x')\n"},
        r"unit\.xml could not be read: Not a directory"),
    "junit folder and progress file chmod 000": (
        {"tests/unit/test_lock.py": f"import os\nfrom pathlib import Path\n\n\ndef test_lock():\n"
                                    f"    os.chmod({OUTPUT} / 'logs' / 'unit.progress.jsonl', 0)\n"
                                    f"    os.chmod({OUTPUT} / 'junit', 0)\n"},
        r"unit\.xml could not be read: Permission denied; the progress file unit\.progress\.jsonl could not be "
        r"read either \(Permission denied\)"),
    "junit folder chmod 000 and the progress file replaced by a FIFO": (  # a plain open() of it blocked forever
        {"tests/unit/test_lock.py": f"import os\nfrom pathlib import Path\n\n\ndef test_lock():\n"
                                    f"    progress = {OUTPUT} / 'logs' / 'unit.progress.jsonl'\n"
                                    f"    progress.unlink()\n    os.mkfifo(progress)\n"
                                    f"    os.chmod({OUTPUT} / 'junit', 0)\n"},
        r"unit\.xml could not be read: Permission denied; the progress file unit\.progress\.jsonl could not be "
        r"read either \(not a regular file\)"),
}


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A folder outside /tmp/pytest-of-root, which every other pytest session of root sets back to 0700."""
    folder = Path(tempfile.mkdtemp(prefix="doorbell-ci-unreadable-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)  # as root: modes 000 do not stop it


def _project(root: Path, files: dict[str, str], pyproject: str = "") -> Path:
    (root / "tests" / "unit").mkdir(parents=True)
    (root / "tests" / "unit" / "test_ok.py").write_text(HEALTHY, encoding="utf-8")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    (root / "pyproject.toml").write_text(f"[project]\nname = 'probe'\n{pyproject}", encoding="utf-8")
    give_to_nonroot(root)
    return root


def _run_as_nonroot(project: Path, *args: str) -> tuple[int, str, dict]:
    completed = run_as_nonroot(
        [nonroot_python(), "-m", "doorbell_ci", "run", "--project", str(project), "--workers", "1", *args],
        cwd=project, env=nonroot_env(), timeout=300)
    output = completed.stdout + completed.stderr
    report = project / "test-results" / "report.json"
    assert report.is_file(), f"no report.json; output:\n{output[-3000:]}"
    return completed.returncode, output, json.loads(report.read_text(encoding="utf-8"))


def _suite(report: dict, name: str) -> dict:
    return next(s for s in report["suites"] if s["name"] == name)


@pytest.mark.parametrize("form", list(FORMS))
def test_a_result_the_suite_made_unreadable_is_that_suites_error(tmp_path: Path, form: str) -> None:
    files, reason = FORMS[form]
    project = _project(tmp_path / "project", files)
    code, output, report = _run_as_nonroot(project, "--suites", "unit", "--no-coverage")
    assert "Traceback (most recent call last)" not in output.split("<== unit")[-1]  # the suite's own may show
    unit = _suite(report, "unit")
    assert unit["status"] == "error"
    assert re.search(reason, unit["reason"]), unit["reason"]
    assert code == 1
    assert report["run"]["status"] == "failed"
    if "progress" not in form:  # the tests that finished are kept, from the progress events
        assert unit["counts"]["passed"] >= 2


COVERAGE_FORMS = {
    "coverage folder chmod 000 by a test": (
        {"tests/unit/test_lock.py": f"import os\nfrom pathlib import Path\n\n\ndef test_lock():\n"
                                    f"    os.chmod({OUTPUT} / 'coverage', 0)\n"},
        "the coverage folder coverage/ could not be read (Permission denied"),
    "coverage data file chmod 000 after pytest-cov wrote it": (
        {"tests/unit/conftest.py": f"import os\nfrom pathlib import Path\n\n\ndef pytest_unconfigure(config):\n"
                                   f"    for data in ({OUTPUT} / 'coverage').glob('.coverage.unit*'):\n"
                                   f"        os.chmod(data, 0)\n"},
        "its coverage data coverage/.coverage.unit could not be read (Permission denied)"),
}


@pytest.mark.parametrize("form", list(COVERAGE_FORMS))
def test_unreadable_coverage_data_is_the_suites_error_not_a_silent_gap(tmp_path: Path, form: str) -> None:
    """Unreadable, the suite's coverage was left out of the total without a word (or the run crashed), and a
    fail_under gate could pass on the other suites' figures. The other suite's coverage still combines."""
    files, reason = COVERAGE_FORMS[form]
    (tmp_path / "project" / "tests" / "integration").mkdir(parents=True)
    (tmp_path / "project" / "tests" / "integration" / "test_i.py").write_text(
        "from probe import X\n\n\ndef test_i():\n    assert X == 1\n", encoding="utf-8")
    project = _project(tmp_path / "project", {**files, "src/probe/__init__.py": "X = 1\n"},
                       "\n[tool.pytest.ini_options]\npythonpath = ['src']\n")
    code, output, report = _run_as_nonroot(project, "--suites", "unit", "integration", "--cov-fail-under", "1")
    unit = _suite(report, "unit")
    assert unit["status"] == "error", output[-2000:]
    assert reason in unit["reason"]
    integration = _suite(report, "integration")
    if "folder" in form:  # the suites run side by side: the other one may lose its data to the same chmod
        assert integration["status"] == "passed" or "coverage folder" in integration["reason"]
    else:
        assert integration["status"] == "passed", integration["reason"]
        assert report["coverage"] is not None and report["coverage"]["percent"] == 100.0  # combined without unit's
    assert any(reason in notice for notice in report["notices"])
    assert code == 1


def test_a_command_suites_unreadable_xml_is_its_error_and_other_suites_are_kept(tmp_path: Path) -> None:
    """A ``command`` suite that writes its XML and then makes its folder unreadable (or its file a folder)."""
    writer = ("import os, sys\nfrom pathlib import Path\nout = Path(sys.argv[1])\nout.mkdir(exist_ok=True)\n"
              "if sys.argv[2] == 'chmod':\n"
              "    (out / 'r.xml').write_text('<testsuite tests=\"1\"><testcase name=\"t\"/></testsuite>')\n"
              "    os.chmod(out, 0)\n"
              "else:\n    (out / 'r.xml').mkdir()\n")
    tables = "".join(
        f"[tool.doorbell-ci.suite.{name}]\ncommand = {json.dumps([nonroot_python(), 'writer.py', name, mode])}\n"
        f"junit = '{name}/r.xml'\n" for name, mode in (("locked", "chmod"), ("folder", "mkdir")))
    project = _project(tmp_path / "project", {"writer.py": writer}, "\n[tool.doorbell-ci]\n" + tables)
    os.chmod(project / "writer.py", stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    code, output, report = _run_as_nonroot(project, "--suites", "unit", "locked", "folder", "--no-coverage")
    assert _suite(report, "unit")["status"] == "passed"
    assert _suite(report, "unit")["counts"]["passed"] == 2
    assert "r.xml could not be read: Permission denied" in _suite(report, "locked")["reason"]
    assert _suite(report, "locked")["status"] == "error"
    assert _suite(report, "folder")["status"] == "error"
    assert re.search(r"r\.xml (is not a regular file|is a folder)", _suite(report, "folder")["reason"])
    assert code == 1


def test_an_output_folder_made_unreadable_still_gives_a_report_json_with_the_reason(tmp_path: Path) -> None:
    """The whole output folder chmodded 000: every later stage used ``Path.is_file``/``glob`` on it (perf, the
    previous report, report.json's own error path) and raised. Now the suite is an error, the perf and coverage
    readers say why in notices, and report.json goes to a fallback folder the last line names."""
    test = f"import os\nfrom pathlib import Path\n\n\ndef test_lock():\n    os.chmod({OUTPUT}, 0)\n"
    project = _project(tmp_path / "project", {"tests/unit/test_lock.py": test})
    completed = run_as_nonroot(
        [nonroot_python(), "-m", "doorbell_ci", "run", "--project", str(project), "--workers", "1",
         "--suites", "unit"], cwd=project, env=nonroot_env(), timeout=300)
    assert "Traceback" not in completed.stderr, completed.stderr[-3000:]
    fallback = re.search(r"this run's reports were written to (\S+) instead", completed.stderr)
    assert fallback, completed.stderr[-2000:]
    try:
        report = json.loads((Path(fallback[1]) / "report.json").read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(fallback[1], ignore_errors=True)
    unit = _suite(report, "unit")
    assert unit["status"] == "error"
    assert "unit.xml could not be read: Permission denied" in unit["reason"]
    assert any(notice.startswith("performance: perf/ could not be read") for notice in report["notices"])
    assert completed.returncode == 4  # reports not where asked (ExitCode.REPORT); the failure is in report.json


def test_reruns_into_a_logs_folder_made_unreadable_are_a_notice(tmp_path: Path) -> None:
    """--reruns writes each rerun's selection file into logs/; a test that chmods it made that a traceback."""
    test = (f"import os\nfrom pathlib import Path\n\n\ndef test_fails():\n"
            f"    if ({OUTPUT} / 'logs').stat().st_mode & 0o777:\n        os.chmod({OUTPUT} / 'logs', 0)\n"
            f"    assert False\n")
    project = _project(tmp_path / "project", {"tests/unit/test_lock.py": test})
    code, output, report = _run_as_nonroot(project, "--suites", "unit", "--no-coverage", "--reruns", "1")
    assert _suite(report, "unit")["status"] == "failed"
    assert any(re.match(r"reruns: .*test_fails could not be rerun: Permission denied", notice)
               for notice in report["notices"]), report["notices"]
    assert code == 1


def test_a_fifo_among_the_perf_samples_is_a_problem_not_a_hang(tmp_path: Path) -> None:
    """perf/ is writable by the suites; a FIFO named like a samples file blocked ``read_text`` forever."""
    from doorbell_ci.perf.compare import read_measurements

    (tmp_path / "perf").mkdir()
    os.mkfifo(tmp_path / "perf" / "unit.samples.json")
    outcome: list = []
    reader = threading.Thread(target=lambda: outcome.append(read_measurements(tmp_path)), daemon=True)
    reader.start()
    reader.join(timeout=20)
    assert outcome, "read_measurements blocked on the FIFO"
    assert outcome[0].problems == ["performance: unit.samples.json is not a regular file; its benchmarks are left out"]
