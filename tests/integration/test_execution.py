"""Execution and collection with real pytest processes: timeouts, process trees, exit codes, fail-fast.

Each test builds a small project in tmp_path and runs the real pipeline on it, in-process
(so the console can be captured), with real subprocesses underneath.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from doorbell_ci import cli, execution, pipeline
from doorbell_ci.analysis import render
from doorbell_ci.config import load_config
from doorbell_ci.errors import ConfigError, ExitCode
from doorbell_ci.execution import Console
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus
from tests.tooling import time_scale


def make_project(root: Path, files: dict[str, str], table: str = "") -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    (root / "pyproject.toml").write_text(f"[project]\nname = 'probe'\n\n[tool.doorbell-ci]\n{table}\n",
                                         encoding="utf-8")
    return root


def run_pipeline(project: Path, quiet: bool = True, **cli: str) -> tuple[RunResult, ExitCode, str]:
    config = load_config(project, {"coverage": "false", **cli}, environ={})
    stream = io.StringIO()
    result, code = pipeline.run(config, Console(quiet=quiet, stream=stream))
    return result, code, stream.getvalue()


def suite(result: RunResult, name: str) -> SuiteResult:
    return next(s for s in result.suites if s.name == name)


# --- timeouts and the process tree ---------------------------------------------------------------

HUNG_TESTS = '''
    import os, signal, subprocess, sys, time, json
    from pathlib import Path

    import psutil

    PIDS = Path(os.environ["PROBE_PIDS"])

    def record(pid):
        proc = psutil.Process(pid)
        (PIDS / f"{pid}.json").write_text(json.dumps({"pid": pid, "created": proc.create_time()}))

    def test_quick_one():
        record(os.getpid())
        record(os.getppid())  # the xdist controller (the suite's pytest process)

    def test_quick_two():
        record(os.getpid())

    def test_hangs_with_a_stubborn_grandchild():
        record(os.getpid())
        stubborn = subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"],
            start_new_session=True)  # its own session: killing the suite's process group misses it
        record(stubborn.pid)
        time.sleep(600)
'''


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM-ignoring grandchild is a POSIX scenario")
def test_hung_xdist_suite_is_killed_with_its_whole_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv("PROBE_PIDS", str(pids))
    project = make_project(tmp_path / "proj", {"tests/unit/test_hang.py": HUNG_TESTS})
    begin = time.monotonic()
    timeout = round(15 * time_scale())  # the quick tests must finish first, also under emulation
    result, code, _ = run_pipeline(project, suites="unit", workers="2", timeout=str(timeout))
    elapsed = time.monotonic() - begin

    unit = suite(result, "unit")
    assert code is ExitCode.TESTS_FAILED
    assert unit.status is SuiteStatus.TIMEOUT
    assert f"timeout of {timeout}s" in unit.reason
    assert elapsed < timeout + 15 * time_scale()  # killed at the timeout, not at the end of the sleep

    outcomes = {t.name: t.outcome for t in unit.tests}
    assert outcomes["test_quick_one"] is Outcome.PASSED  # finished before the kill: kept
    assert outcomes["test_quick_two"] is Outcome.PASSED
    assert outcomes["test_hangs_with_a_stubborn_grandchild"] is Outcome.ERROR
    hung = next(t for t in unit.tests if t.name == "test_hangs_with_a_stubborn_grandchild")
    assert hung.message.startswith("killed:")

    seen = [json.loads(p.read_text()) for p in pids.glob("*.json")]
    assert len(seen) >= 3  # the controller, the xdist worker(s) and the stubborn grandchild
    survivors = []
    for entry in seen:
        try:
            proc = psutil.Process(entry["pid"])
            if abs(proc.create_time() - entry["created"]) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE:
                survivors.append(entry["pid"])
        except psutil.NoSuchProcess:
            pass
    assert survivors == []
    assert unit.resources.processes >= 4
    assert unit.resources.peak_rss_bytes > 0

    log = (project / "test-results" / "logs" / "unit.log").read_text(encoding="utf-8")
    assert f"killed the suite's process tree at its timeout of {timeout}s" in log
    assert "timeout" in unit.output_tail
    report = json.loads((project / "test-results" / "report.json").read_text(encoding="utf-8"))
    assert report["suites"][0]["status"] == "timeout"
    assert report["totals"]["passed"] == 2


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGTERM")
def test_sigterm_kills_every_suite_and_keeps_the_results(tmp_path: Path) -> None:
    """A cancelled CI job: doorbell-ci gets SIGTERM, kills the trees, reports what finished, exits 130."""
    pids = tmp_path / "pids"
    pids.mkdir()
    project = make_project(tmp_path / "proj", {"tests/unit/test_hang.py": HUNG_TESTS})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_", "PYTEST_"))}
    proc = subprocess.Popen(  # noqa: S603 - argv list
        [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", "unit",
         "--workers", "1", "--no-coverage", "--quiet"],
        env={**env, "PROBE_PIDS": str(pids)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    progress = project / "test-results" / "logs" / "unit.progress.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if progress.exists() and "test_hangs_with_a_stubborn_grandchild" in progress.read_text(encoding="utf-8") \
                and len(list(pids.glob("*.json"))) >= 3:
            break
        time.sleep(0.2)
    # let the tree sampler see the grandchild (its own session): where the kernel refuses a subreaper
    # (qemu-user) a sample is the only way to know it once its parent is killed, and samples come every
    # 0.25-1 s, slower under emulation (it failed once under qemu with 0.5 s)
    time.sleep(1.5 * time_scale())
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert output.rstrip().splitlines()[-1] == "2 passed, 1 failed, 0 skipped; 1 suite error (unit)"  # interrupted
    report = json.loads((project / "test-results" / "report.json").read_text(encoding="utf-8"))
    unit = report["suites"][0]
    assert unit["status"] == "error" and "interrupted" in unit["reason"]
    assert unit["counts"]["passed"] == 2
    for entry in (json.loads(p.read_text()) for p in pids.glob("*.json")):
        try:
            alive = psutil.Process(entry["pid"])
            assert abs(alive.create_time() - entry["created"]) > 0.01 or alive.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            pass


# --- exit codes ----------------------------------------------------------------------------------


def test_fail_fast_stops_after_the_first_failing_suite(tmp_path: Path) -> None:
    project = make_project(tmp_path, {
        "tests/unit/test_u.py": "def test_fails():\n    assert False, 'broken bell'\n",
        "tests/integration/test_i.py": "def test_fine():\n    pass\n",
        "tests/security/test_s.py": "def test_fine():\n    pass\n",
    })
    result, code, _ = run_pipeline(project, suites="unit integration security", fail_fast="true",
                                   parallel_suites="1", workers="1")
    assert code is ExitCode.TESTS_FAILED
    assert suite(result, "unit").status is SuiteStatus.FAILED
    for name in ("integration", "security"):
        assert suite(result, name).status is SuiteStatus.NOT_RUN
        assert suite(result, name).reason == "--fail-fast: unit failed first"
    assert result.counts.failed == 1


def test_without_fail_fast_every_suite_runs(tmp_path: Path) -> None:
    project = make_project(tmp_path, {
        "tests/unit/test_u.py": "def test_fails():\n    assert False\n",
        "tests/integration/test_i.py": "def test_fine():\n    pass\n",
    })
    result, _, _ = run_pipeline(project, suites="unit integration", parallel_suites="1", workers="1")
    assert suite(result, "integration").status is SuiteStatus.PASSED


@pytest.mark.parametrize(
    ("files", "table", "pytest_exit", "reason"),
    [
        # exit 2: interrupted by a collection error
        ({"tests/unit/test_bad.py": "def test_x(:\n    pass\n"}, "", 2, "interrupted"),
        # exit 3: internal error in a hook
        ({"tests/unit/conftest.py": "def pytest_runtestloop(session):\n    raise RuntimeError('hook blew up')\n",
          "tests/unit/test_x.py": "def test_x():\n    pass\n"}, "", 3, "internal error"),
        # exit 4: usage error (an option pytest does not know)
        ({"tests/unit/test_x.py": "def test_x():\n    pass\n"},
         "[tool.doorbell-ci.suite.unit]\npytest_args = ['--no-such-option']\n", 4, "usage error"),
    ],
    ids=["exit2", "exit3", "exit4"],
)
def test_pytest_crash_is_a_suite_error_with_the_output_tail(
    tmp_path: Path, files: dict[str, str], table: str, pytest_exit: int, reason: str
) -> None:
    project = make_project(tmp_path, files, table)
    result, code, _ = run_pipeline(project, suites="unit", workers="1")
    unit = suite(result, "unit")
    assert unit.exit_code == pytest_exit
    assert unit.status is SuiteStatus.ERROR
    assert code is ExitCode.TESTS_FAILED
    assert unit.output_tail.strip()
    expected_in_tail = {2: "SyntaxError", 3: "hook blew up", 4: "--no-such-option"}[pytest_exit]
    assert expected_in_tail in unit.output_tail
    summary = (project / "test-results" / "summary.md").read_text(encoding="utf-8")
    assert "unit | \U0001f4a5 error" in summary


def test_nothing_collected_is_no_tests_and_a_run_of_it_alone_tested_nothing(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"tests/unit/helpers.py": "VALUE = 1\n"})
    result, code, _ = run_pipeline(project, suites="unit", workers="1")
    unit = suite(result, "unit")
    assert unit.exit_code == 5
    assert unit.status is SuiteStatus.NO_TESTS
    assert code is ExitCode.NOTHING_TESTED  # tests/integration/test_nothing_tested.py: every route to it


def test_all_suites_absent_is_nothing_tested_with_a_notice(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"src/app.py": "X = 1\n"})
    result, code, _ = run_pipeline(project)
    assert code is ExitCode.NOTHING_TESTED
    assert result.suites == []  # none was asked for by name: no row per missing default folder
    notice = next(n for n in result.notices if n.startswith("no suite ran: every selected suite is absent"))
    assert "unit, integration, e2e" in notice  # but when nothing ran, say once where it looked
    assert any(n.startswith("nothing was tested: no selected suite exists") for n in result.notices)
    summary = (project / "test-results" / "summary.md").read_text(encoding="utf-8")
    assert "nothing was tested" in summary and "no suite ran" in summary


def test_default_suites_not_in_the_project_are_not_listed_unless_asked_for(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Console, summary.md, report.html and report.json of a project with only tests/unit (issue 17 item 4)."""
    project = make_project(tmp_path, {"tests/unit/test_a.py": "def test_a():\n    pass\n"})
    assert cli.main(["run", "--project", str(project), "--no-coverage", "--quiet"]) == 0
    console = capsys.readouterr().out
    out = project / "test-results"
    documents = {"console": console, "summary.md": (out / "summary.md").read_text(encoding="utf-8")}
    for where, text in documents.items():
        for missing in ("integration", "performance", "security", "streaming", "tests/load"):
            assert missing not in text, (where, missing)
        assert "absent" not in text, where
    html = (out / "report.html").read_text(encoding="utf-8")  # its command line quotes pytest's argv
    assert 'class="s-absent"' not in html and "does not exist" not in html
    assert [s["name"] for s in json.loads((out / "report.json").read_text(encoding="utf-8"))["suites"]] == ["unit"]

    assert cli.main(["run", "--project", str(project), "--no-coverage", "--quiet",
                     "--suites", "unit", "load", "e2e"]) == 0
    lines = capsys.readouterr().out.splitlines()
    absent = [line for line in lines if "absent" in line]
    assert absent == ["  absent: load, e2e  [tests/load does not exist in the project; "
                      "tests/e2e does not exist in the project]"]  # asked for by name: said once, on one line


# --- command suites ------------------------------------------------------------------------------

JUNIT_WRITER = '''
    """A stand-in for jest or a C++ test binary: writes JUnit XML, exits 1 on failure."""
    import pathlib, sys
    out = pathlib.Path("web/junit.xml")
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        '<testsuites><testsuite name="web" tests="3" failures="1">'
        '<testcase classname="Button" name="renders" time="0.01"/>'
        '<testcase classname="Button" name="rings" time="0.02">'
        '<failure message="expected ring">at Button.js:9</failure></testcase>'
        '<testcase classname="Button" name="night mode" time="0"><skipped/></testcase>'
        '</testsuite></testsuites>', encoding="utf-8")
    print("web suite done")
    sys.exit(1)
'''


def test_command_suite_results_flow_into_the_reports(tmp_path: Path) -> None:
    table = (
        "[tool.doorbell-ci.suite.web]\n"
        f"command = {json.dumps([sys.executable, 'write_junit.py'])}\n"
        "junit = 'web/junit.xml'\n"
    )
    project = make_project(tmp_path, {"write_junit.py": JUNIT_WRITER}, table)
    result, code, _ = run_pipeline(project, suites="web")
    web = suite(result, "web")
    assert web.status is SuiteStatus.FAILED
    assert (web.counts.passed, web.counts.failed, web.counts.skipped) == (1, 1, 1)
    assert code is ExitCode.TESTS_FAILED
    output = project / "test-results"
    assert (output / "junit" / "web.xml").is_file()
    assert "web suite done" in (output / "logs" / "web.log").read_text(encoding="utf-8")
    assert 'name="rings"' in (output / "junit.xml").read_text(encoding="utf-8")
    assert "expected ring" in (output / "report.html").read_text(encoding="utf-8")
    assert "expected ring" in (output / "summary.md").read_text(encoding="utf-8")


def test_command_suite_that_writes_no_junit_is_an_error(tmp_path: Path) -> None:
    table = (
        "[tool.doorbell-ci.suite.web]\n"
        f"command = {json.dumps([sys.executable, '-c', 'print(42)'])}\n"
        "junit = 'web/junit.xml'\n"
    )
    result, _, _ = run_pipeline(make_project(tmp_path, {}, table), suites="web")
    web = suite(result, "web")
    assert web.status is SuiteStatus.ERROR
    assert web.reason.startswith("web/junit.xml was not written")  # the path configured, not our copy (item 5)


@pytest.mark.parametrize(("writes", "expected"), [
    ("'<testsuite><testcase'", "web/junit.xml is not well-formed XML"),
    ("'<html><body>oops</body></html>'", "web/junit.xml is not JUnit XML"),
    ("''", "web/junit.xml is empty"),
])
def test_command_suite_junit_problems_name_the_configured_path(tmp_path: Path, writes: str, expected: str) -> None:
    """Every reason about a command suite's XML names the file the user configured (issue 17 item 5)."""
    script = f"import pathlib; pathlib.Path('web').mkdir(); pathlib.Path('web/junit.xml').write_text({writes})"
    table = ("[tool.doorbell-ci.suite.web]\n"
             f"command = {json.dumps([sys.executable, '-c', script])}\njunit = 'web/junit.xml'\n")
    result, _, _ = run_pipeline(make_project(tmp_path, {}, table), suites="web")
    web = suite(result, "web")
    assert web.status is SuiteStatus.ERROR and web.reason.startswith(expected), web.reason
    assert "web.xml" not in web.reason  # doorbell-ci's copy is junit/web.xml in the output folder


def test_command_suite_junit_over_the_limit_names_the_configured_path(tmp_path: Path) -> None:
    script = ("import pathlib; pathlib.Path('out').mkdir(); "
              "pathlib.Path('out/big.xml').write_text('<testsuite>' + ' ' * 2_000_000 + '</testsuite>')")
    table = ("[tool.doorbell-ci.suite.web]\n"
             f"command = {json.dumps([sys.executable, '-c', script])}\njunit = 'out/big.xml'\n")
    result, _, _ = run_pipeline(make_project(tmp_path, {}, table), suites="web", junit_max_mb="1")
    assert suite(result, "web").reason.startswith("out/big.xml is 1.9 MB, over the 1 MB limit")


def test_command_suite_reproduction_is_its_own_command_without_secrets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing jest-like test is reproduced with the suite's command, not pytest (issue 17 item 6)."""
    for name in [name for name in os.environ if name.startswith("DOORBELL_") and not name.startswith("DOORBELL_CI_")]:
        monkeypatch.delenv(name)  # e.g. DOORBELL_CONFIG, when doorbell-ci runs its own suites
    monkeypatch.setenv("DOORBELL_API_TOKEN", "tok-" + "s3cr3t" * 4)
    monkeypatch.setenv("DOORBELL_CAMERA_KEY", "short")  # a key, even too short to be masked
    monkeypatch.setenv("DOORBELL_CLOUD_URL", "https://u:" + "pa55w0rd" * 3 + "@cloud.example")
    monkeypatch.setenv("GITHUB_TOKEN", "pa55w0rd" * 3)  # makes that value a known secret
    monkeypatch.setenv("DOORBELL_MODE", "night")
    table = ("[tool.doorbell-ci.suite.web]\n"
             f"command = {json.dumps([sys.executable, 'write_junit.py'])}\njunit = 'web/junit.xml'\n")
    project = make_project(tmp_path, {"write_junit.py": JUNIT_WRITER}, table)
    result, _, _ = run_pipeline(project, suites="web")
    how = next(f["reproduce"] for f in result.analysis["failures"] if f["nodeid"].endswith("rings"))
    assert how["argv"] == [sys.executable, "write_junit.py"] and how["scope"] == "suite"
    assert "pytest" not in how["command"]
    assert how["env"] == {"DOORBELL_MODE": "night"}
    assert how["env_left_out"] == ["DOORBELL_API_TOKEN", "DOORBELL_CAMERA_KEY", "DOORBELL_CLOUD_URL"]
    for name in ("s3cr3t", "short", "pa55w0rd", "***"):
        assert name not in json.dumps(how)
    again = subprocess.run(how["argv"], cwd=how["cwd"], env={**os.environ, **how["env"]},  # noqa: S603
                           capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 1 and "web suite done" in again.stdout  # it really reruns the suite
    shown = render.terminal(result.analysis)  # what `doorbell-ci analyze` prints
    assert f"rerun its suite: (cd {project} && DOORBELL_MODE=night {sys.executable} write_junit.py)" in shown
    assert "also set: DOORBELL_API_TOKEN, DOORBELL_CAMERA_KEY, DOORBELL_CLOUD_URL" in shown


def test_command_suite_with_only_a_stale_junit_file_is_an_error(tmp_path: Path) -> None:
    """A crash before writing must not be reported with the results an earlier run left behind."""
    table = (
        "[tool.doorbell-ci.suite.web]\n"
        f"command = {json.dumps([sys.executable, '-c', 'raise SystemExit(3)'])}\n"
        "junit = 'web/junit.xml'\n"
    )
    project = make_project(tmp_path, {"web/junit.xml": '<testsuite tests="1"><testcase name="old"/></testsuite>'},
                           table)
    an_hour_ago = time.time() - 3600
    os.utime(project / "web" / "junit.xml", (an_hour_ago, an_hour_ago))
    result, code, _ = run_pipeline(project, suites="web")
    web = suite(result, "web")
    assert web.status is SuiteStatus.ERROR
    assert web.reason.startswith("web/junit.xml is older than this run")
    assert web.tests == []
    assert code is ExitCode.TESTS_FAILED


def test_command_that_cannot_start_is_an_error(tmp_path: Path) -> None:
    table = "[tool.doorbell-ci.suite.web]\ncommand = ['no-such-program-doorbell']\njunit = 'web.xml'\n"
    result, code, _ = run_pipeline(make_project(tmp_path, {}, table), suites="web")
    web = suite(result, "web")
    assert web.status is SuiteStatus.ERROR
    assert "could not start 'no-such-program-doorbell'" in web.reason
    assert code is ExitCode.TESTS_FAILED


def test_unwritable_output_folder_is_a_config_error(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"tests/unit/test_x.py": "def test_x():\n    pass\n"})
    (project / "results-file").write_text("not a folder", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot use .*results-file as the output folder"):
        run_pipeline(project, suites="unit", output_dir="results-file")


def test_endless_output_line_is_logged_in_pieces(tmp_path: Path) -> None:
    """A runner that prints megabytes without a newline must not be held in memory as one line."""
    script = ("import sys\nsys.stdout.write('x' * 3_000_000)\nsys.stdout.flush()\n"
              "open('out.xml', 'w').write('<testsuite tests=\"1\"><testcase name=\"t\"/></testsuite>')\n")
    table = (
        "[tool.doorbell-ci.suite.noisy]\n"
        f"command = {json.dumps([sys.executable, 'noisy.py'])}\n"
        "junit = 'out.xml'\n"
    )
    project = make_project(tmp_path, {"noisy.py": script}, table)
    result, code, _ = run_pipeline(project, suites="noisy")
    assert code is ExitCode.OK and suite(result, "noisy").counts.passed == 1
    log = project / "test-results" / "logs" / "noisy.log"
    assert log.read_text(encoding="utf-8").count("x") == 3_000_000
    assert len(suite(result, "noisy").output_tail) <= execution.TAIL_LINES * (execution.MAX_LINE_BYTES + 1)


# --- live progress and logs ----------------------------------------------------------------------


def test_live_progress_lines_and_log_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execution, "PROGRESS_INTERVAL", 0.5)
    tests = "import time\n\ndef test_a():\n    assert False\n\ndef test_b():\n    pass\n\n" \
            "def test_slow():\n    time.sleep(4)\n"
    project = make_project(tmp_path, {"tests/unit/test_p.py": tests})
    result, _, output = run_pipeline(project, quiet=False, suites="unit", workers="1")
    assert "[unit] 2/3 done, 1 failed" in output
    assert "==> unit: starting" in output and "<== unit: exit 1" in output
    log = (project / "test-results" / "logs" / "unit.log").read_text(encoding="utf-8")
    assert "1 failed, 2 passed" in log


def test_quiet_prints_no_test_output(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"tests/unit/test_q.py": "def test_a():\n    print('noisy')\n"})
    _, _, output = run_pipeline(project, quiet=True, suites="unit", workers="1")
    assert "[unit]" not in output
    assert "<== unit: exit 0" in output
    assert "test session starts" in (project / "test-results" / "logs" / "unit.log").read_text(encoding="utf-8")


def test_progress_tail_reads_only_new_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    tail = execution.ProgressTail(path)
    tail.update()
    assert tail.summary() is None
    path.write_text('{"event":"collected","count":3}\n{"event":"finish","nodeid":"a"}\n{"event":"rep',
                    encoding="utf-8")
    tail.update()
    assert tail.summary() == "1/3 done, 0 failed"
    with path.open("a", encoding="utf-8") as handle:
        handle.write('ort","nodeid":"b","outcome":"failed"}\n{"event":"finish","nodeid":"b"}\n')
    tail.update()
    assert tail.summary() == "2/3 done, 1 failed"


def test_paths_run_a_flat_tests_folder_without_any_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`doorbell-ci run --paths tests` on a project with no [tool.doorbell-ci] and no tests/unit (item 1)."""
    project = tmp_path / "flat"
    for name, text in {"tests/test_bell.py": "def test_ring():\n    pass\n",
                       "tests/camera/test_frames.py": "def test_frame():\n    assert 1 == 2\n",
                       "pyproject.toml": "[project]\nname = 'flat'\n"}.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text, encoding="utf-8")
    code = cli.main(["run", "--project", str(project), "--paths", "tests", "--no-coverage", "--quiet"])
    out = capsys.readouterr().out
    assert code == int(ExitCode.TESTS_FAILED)
    assert "  paths  failed    1 passed, 1 failed" in out
    document = json.loads((project / "test-results" / "report.json").read_text(encoding="utf-8"))
    assert [s["name"] for s in document["suites"]] == ["paths"]

    code = cli.main(["run", "--project", str(project), "--paths", "tests/test_bell.py::test_ring", "--quiet"])
    assert code == 0 and capsys.readouterr().out.strip().endswith("1 passed, 0 failed, 0 skipped")


@pytest.mark.parametrize("with_pidfd", [True, False], ids=["pidfd", "polling"])
def test_the_suite_loop_wakes_when_the_process_ends_and_otherwise_at_its_interval(with_pidfd: bool) -> None:
    """``_wait_for_exit`` returns once the process has ended (pidfd, or Popen.wait's polling where there is
    none) and, while it runs, after the interval, so the loop can sample, tick and check the timeout."""
    for seconds, interval, ended in ((0.2, 30.0, True), (30.0, 0.2, False)):
        popen = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])  # noqa: S603
        exited = execution._exit_descriptor(popen) if with_pidfd else None
        if with_pidfd and exited is None:
            popen.kill()
            popen.wait()
            pytest.skip("no pidfd here (kernel before 5.3, or emulated)")
        try:
            begin = time.monotonic()
            execution._wait_for_exit(popen, exited, interval)
            waited = time.monotonic() - begin
            assert (popen.poll() is not None) is ended
            assert waited < 15.0 * time_scale()  # the 0.2 s sleeper: far sooner than its 30 s interval
            if not ended:
                assert waited >= 0.19  # the interval was waited out, not cut short
        finally:
            if exited is not None:
                os.close(exited)
            popen.kill()
            popen.wait()
