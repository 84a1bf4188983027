"""The GitHub token never leaves doorbell-ci: a real run of a project whose tests try hard to leak it.

doorbell-ci runs with GITHUB_TOKEN and DOORBELL_CI_GITHUB_TOKEN set to a fresh fake token. The
project's tests print the environment, read the token from a file the harness left in the
project (a test that got it some other way), fail with it in the assertion message, write it to
stderr, log it, raise it, put it in a test id, in a 200 KB line without a break, in base64, and
in a file of their own inside the output folder; the conftest prints it at session start. Then
every byte under the output folder and everything doorbell-ci printed is searched for the token
(and its base64 form), and ``***`` must stand where each leak was: redaction, not silence.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sqlite3
import string
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from doorbell_ci.reports import json_report
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult
from tests.docker_tools import docker_client, readable_by_containers

CONFTEST = '''
import os
from pathlib import Path

TOKEN = Path(__file__).resolve().parents[1].joinpath("stolen-token.txt").read_text().strip()


def pytest_report_header(config):
    return f"header sees token {TOKEN}"


def pytest_sessionstart(session):
    print(f"conftest sees token {TOKEN} and GITHUB_TOKEN={os.environ.get('GITHUB_TOKEN')!r}", flush=True)
'''

LEAKY_TESTS = '''
import base64
import logging
import os
import sys
from pathlib import Path

import pytest

TOKEN = Path(__file__).resolve().parents[2].joinpath("stolen-token.txt").read_text().strip()
GITHUB_VARIABLES = ("GITHUB_TOKEN", "DOORBELL_CI_GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN",
                    "ACTIONS_ID_TOKEN_REQUEST_TOKEN")


def test_the_token_variables_are_not_inherited():
    assert not [name for name in GITHUB_VARIABLES if name in os.environ]


def test_prints_the_environment():
    print("environment:", dict(os.environ), "file token:", TOKEN)
    assert False, "see stdout"


def test_assertion_message():
    assert TOKEN == "nothing", f"leaked token {TOKEN}"


def test_stderr():
    sys.stderr.write(f"stderr token {TOKEN}\\n")
    assert False


def test_logging():
    logging.getLogger("leaky").error("logged token %s", TOKEN)
    assert False


def test_exception():
    raise RuntimeError(f"exception token {TOKEN}")


@pytest.mark.parametrize("value", [TOKEN])
def test_token_in_the_test_id(value):
    assert value == "nothing"


def test_long_line_and_base64():
    # the token straddles the runner's 64 KiB read boundary
    sys.stdout.write("A" * (64 * 1024 - 20) + TOKEN + "B" * 150_000 + "\\n")
    sys.stdout.write("base64 " + base64.b64encode(TOKEN.encode()).decode() + "\\n")
    sys.stdout.flush()
    assert False


def test_writes_into_the_output_folder():
    folder = Path(os.environ["DOORBELL_CI_PERF_OUTPUT"]).parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "leak.txt").write_text(f"file token {TOKEN}\\n")
    (folder / "leak.bin").write_bytes(b"\\0binary\\0" + TOKEN.encode() + b"\\0end")
    assert False


def test_writes_everywhere_in_the_output_folder():
    import gzip, io, json, zipfile
    top = Path(os.environ["DOORBELL_CI_PERF_OUTPUT"]).parent.parent
    (top / "top-level.txt").write_text(f"top {TOKEN}\\n")
    (top / ".hidden" / "a" / "b").mkdir(parents=True, exist_ok=True)
    (top / ".hidden" / "a" / "b" / ".deep").write_text(f"deep {TOKEN}\\n")
    refs = "".join(f"&#{ord(c)};" if i % 2 else f"&#x0{ord(c):X};" for i, c in enumerate(TOKEN))
    (top / "extra-junit.xml").write_text(f'<testsuite><testcase name="x"><failure message="{refs}"/>'
                                             f'</testcase></testsuite>\\n')
    (top / "escaped.json").write_text(json.dumps({"t": "".join(f"\\\\u{ord(c):04x}" for c in TOKEN)})
                                      .replace("\\\\\\\\", "\\\\") + "\\n")
    (top / "percent.txt").write_text("".join(f"%{ord(c):02x}" for c in TOKEN) + "\\n")
    (top / "repr.txt").write_text("b'" + "".join(f"\\\\x{ord(c):02x}" for c in TOKEN) + "'\\n")
    (top / "leak.gz").write_bytes(gzip.compress(TOKEN.encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("inner.txt", TOKEN)
    (top / "leak.zip").write_bytes(buffer.getvalue())
    (top / "link-to-token").symlink_to(Path(__file__).resolve().parents[2] / "stolen-token.txt")
    os.mkfifo(top / "fifo")
    assert False
'''

PYPROJECT = '''
[tool.doorbell-ci]
suites = ["unit"]

[tool.doorbell-ci.suite.unit]
pytest_args = ["-o", "junit_logging=all", "--cov-context=test"]
'''


def fake_token() -> str:
    """A token in GitHub's format, new each run, so nothing in the tree can hold it by chance."""
    return "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))


def hostile_project(root: Path, token: str) -> Path:
    project = root / "leaky"
    (project / "tests" / "unit").mkdir(parents=True)
    (project / "src" / "leaky").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (project / "stolen-token.txt").write_text(token + "\n", encoding="utf-8")
    (project / "src" / "leaky" / "__init__.py").write_text("VALUE = 1\n", encoding="utf-8")
    (project / "tests" / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (project / "tests" / "unit" / "test_leaky.py").write_text(LEAKY_TESTS, encoding="utf-8")
    return project


def doorbell_env(token: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DOORBELL_", "PYTEST_", "COV_CORE_", "COVERAGE_", "GITHUB_", "ACTIONS_", "RUNNER_"))}
    env.update({"GITHUB_TOKEN": token, "DOORBELL_CI_GITHUB_TOKEN": token,
                "ACTIONS_RUNTIME_TOKEN": token[::-1], **extra})
    return env


def doorbell_ci(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "doorbell_ci", *args], cwd=project, env=env,
                          capture_output=True, timeout=600, check=False)


def leaks(token: str) -> list[bytes]:
    """The token, its base64, the second fake secret, and the 12-character ends pytest shows of a long repr."""
    raw = token.encode()
    return [raw, base64.b64encode(raw).rstrip(b"="), token[::-1].encode(), raw[:12], raw[-12:]]


def files_with_leaks(folder: Path, token: str) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path.relative_to(folder)}: {needle[:8]!r}..." for needle in leaks(token) if needle in data]
    return found


def without_mask_commands(output: bytes) -> bytes:
    """The ``::add-mask::`` lines are the one place the token must appear: the runner hides them."""
    return b"\n".join(line for line in output.splitlines() if not line.startswith(b"::add-mask::"))


@pytest.fixture(scope="module")
def leaky_run(tmp_path_factory: pytest.TempPathFactory):
    """One real run under GitHub Actions' variables, shared by the checks below (it takes seconds)."""
    root = tmp_path_factory.mktemp("secrets")
    token = fake_token()
    project = hostile_project(root, token)
    env = doorbell_env(token, GITHUB_ACTIONS="true")
    completed = doorbell_ci(project, env, "run", "--output-dir", str(root / "results"), "--reruns", "1")
    return token, project, root / "results", completed


def test_no_produced_file_holds_the_token(leaky_run) -> None:
    token, _project, results, completed = leaky_run
    assert completed.returncode == 1, completed.stderr.decode(errors="replace")
    produced = [p.relative_to(results).as_posix() for p in results.rglob("*") if p.is_file()]
    for expected in ("report.json", "report.html", "summary.md", "junit.xml", "junit/unit.xml", "logs/unit.log",
                     "perf/leak.txt", "perf/leak.bin", "coverage/coverage.xml"):
        assert expected in produced, produced
    assert any(name.startswith("coverage/html/") for name in produced)
    assert files_with_leaks(results, token) == []


def decoded_views(data: bytes) -> list[bytes]:
    """What readers of the file would see: XML/HTML references, JSON and Python escapes, percent-encoding,
    and the inside of gzip and zip files (decoded here with the standard library, independently of redaction.py)."""
    import codecs
    import gzip
    import html
    import io
    import urllib.parse
    import warnings
    import zipfile

    text = data.decode("latin-1")
    views = [html.unescape(text), urllib.parse.unquote(text)]
    with warnings.catch_warnings():  # "invalid escape sequence" for backslashes that escape nothing
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            views.append(codecs.decode(text, "unicode_escape"))
        except UnicodeDecodeError:
            pass
    inside = []
    if data.startswith(b"\x1f\x8b"):
        inside.append(gzip.decompress(data))
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inside += [archive.read(name) for name in archive.namelist()]
    return [view.encode("latin-1", "replace") for view in views] + inside


def test_every_file_in_the_output_folder_is_scrubbed_or_withheld(leaky_run) -> None:
    """Item 10/15 of issue 12: not only junit/, logs/, coverage/ and perf/: any name, any depth, hidden,
    escaped as a reader would decode it, compressed; links and FIFOs are never published."""
    token, _project, results, completed = leaky_run
    assert (results / "top-level.txt").read_text(encoding="utf-8") == "top ***\n"
    assert (results / ".hidden" / "a" / "b" / ".deep").read_text(encoding="utf-8") == "deep ***\n"
    from defusedxml import ElementTree

    failure = ElementTree.parse(results / "extra-junit.xml").getroot().find("testcase/failure")
    assert failure is not None and failure.get("message") == "***"  # still valid XML
    assert json.loads((results / "escaped.json").read_text(encoding="utf-8")) == {"t": "***"}
    assert (results / "percent.txt").read_text(encoding="utf-8") == "***\n"
    assert (results / "repr.txt").read_text(encoding="utf-8") == "b'***'\n"
    for withheld in ("leak.gz", "leak.zip", "link-to-token", "fifo"):
        assert not os.path.lexists(results / withheld), withheld
    notices = json.loads((results / "report.json").read_text(encoding="utf-8"))["notices"]
    for withheld in ("leak.gz", "leak.zip", "link-to-token", "fifo"):
        assert any(notice.startswith(f"{withheld}: removed from") for notice in notices), notices
    for path in sorted(results.rglob("*")):
        assert not path.is_symlink(), path
        if path.is_file():
            for view in decoded_views(path.read_bytes()):
                assert not [needle for needle in leaks(token) if needle in view], path


def test_the_console_holds_the_token_only_in_mask_commands(leaky_run) -> None:
    token, _project, _results, completed = leaky_run
    stdout = completed.stdout
    assert f"::add-mask::{token}".encode() in stdout
    first_mask = stdout.index(b"::add-mask::")
    first_suite_line = stdout.index(b"[unit]")
    assert first_mask < first_suite_line  # the runner knows the secret before any test prints
    for needle in leaks(token):
        assert needle not in without_mask_commands(stdout)
        assert needle not in completed.stderr
    console = stdout.decode("utf-8", errors="replace")
    assert "conftest sees token *** and GITHUB_TOKEN=None" in console
    assert "A" * 100 + "***" + "B" * 100 in console.replace("\n", "").replace("[unit] ", "")


def test_redaction_is_where_each_leak_was(leaky_run) -> None:
    _token, _project, results, _completed = leaky_run
    document = json.loads((results / "report.json").read_text(encoding="utf-8"))
    (suite,) = document["suites"]
    tests = {t["name"]: t for t in suite["tests"]}
    assert tests["test_the_token_variables_are_not_inherited"].get("outcome", "passed") == "passed"  # left out: passed
    assert "leaked token ***" in tests["test_assertion_message"]["message"]
    assert "assert '***...***' == 'nothing'" in tests["test_assertion_message"]["message"]  # pytest's abbreviation
    assert "exception token ***" in tests["test_exception"]["details"]
    assert "stderr token ***" in tests["test_stderr"]["stderr"] + tests["test_stderr"].get("stdout", "")
    assert "logged token ***" in json.dumps(tests["test_logging"])
    assert "file token: ***" in tests["test_prints_the_environment"]["stdout"]
    assert "test_token_in_the_test_id[***]" in tests
    assert "base64 ***" in (results / "logs" / "unit.log").read_text(encoding="utf-8")
    assert "conftest sees token ***" in (results / "logs" / "unit.log").read_text(encoding="utf-8")
    assert (results / "perf" / "leak.txt").read_text(encoding="utf-8") == "file token ***\n"
    leak_bin = (results / "perf" / "leak.bin").read_bytes()
    assert leak_bin == b"\0binary\0" + b"*" * 40 + b"\0end"  # binary files keep their length
    assert "leaked token ***" in (results / "junit" / "unit.xml").read_text(encoding="utf-8")
    with closing(sqlite3.connect(results / "coverage" / ".coverage")) as database:  # --cov-context=test
        assert database.execute("pragma integrity_check").fetchall() == [("ok",)]
        contexts = [row[0] for row in database.execute("select context from context")]
    assert any("test_token_in_the_test_id[" + "*" * 40 + "]" in context for context in contexts), contexts
    assert "leaked token ***" in (results / "report.html").read_text(encoding="utf-8")
    assert r"test\_token\_in\_the\_test\_id\[\*\*\*\]" in (results / "summary.md").read_text(encoding="utf-8")


def test_re_rendering_the_reports_does_not_leak(leaky_run, tmp_path) -> None:
    """Even from a report.json that holds the token (written by a doorbell-ci without redaction)."""
    token, project, results, _completed = leaky_run
    document = json.loads((results / "report.json").read_text(encoding="utf-8"))
    document["suites"][0]["tests"][0]["message"] = f"old report quotes {token}"
    document["notices"].append(f"old notice {token}")
    (results / "report.json").write_text(json.dumps(document), encoding="utf-8")
    completed = doorbell_ci(project, doorbell_env(token), "report", str(results))
    assert completed.returncode == 1, completed.stderr.decode(errors="replace")
    assert files_with_leaks(results, token) == []
    assert "old notice ***" in (results / "report.html").read_text(encoding="utf-8")
    for needle in leaks(token):
        assert needle not in completed.stdout + completed.stderr


@pytest.mark.parametrize("debug", [False, True], ids=["error line", "debug traceback"])
def test_error_messages_do_not_quote_the_token(leaky_run, debug: bool) -> None:
    token, project, _results, _completed = leaky_run
    completed = doorbell_ci(project, doorbell_env(token), *(["--debug"] if debug else []), "run",
                            "--suites", token, "--output-dir", str(project / "unused"))
    assert completed.returncode == 2
    stderr = completed.stderr.decode("utf-8", errors="replace")
    assert "doorbell-ci: error:" in stderr and "***" in stderr
    if debug:
        assert "Traceback (most recent call last)" in stderr
    for needle in leaks(token):
        assert needle not in completed.stdout + completed.stderr


def test_a_docker_run_does_not_leak_either(tmp_path) -> None:
    """The container gets only the variables doorbell-ci lists; its output passes the same redaction."""
    docker_client()  # skips without an engine (fails in CI, where one is required)
    token = fake_token()
    project = hostile_project(tmp_path, token)
    readable_by_containers(project)
    results = tmp_path / "results"
    completed = doorbell_ci(project, doorbell_env(token, DOORBELL_CI_DOCKER_BASE="offline"), "run",
                            "--environment", "docker", "--no-coverage", "--output-dir", str(results))
    assert completed.returncode == 1, completed.stdout.decode(errors="replace")[-3000:]
    document = json.loads((results / "report.json").read_text(encoding="utf-8"))
    tests = {t["name"]: t for t in document["suites"][0]["tests"]}
    assert document["environment"]["kind"] == "docker"
    assert tests["test_the_token_variables_are_not_inherited"].get("outcome", "passed") == "passed"  # left out: passed
    assert "leaked token ***" in tests["test_assertion_message"]["message"]
    assert (results / "perf" / "leak.txt").read_text(encoding="utf-8") == "file token ***\n"
    assert files_with_leaks(results, token) == []
    for needle in leaks(token):
        assert needle not in completed.stdout + completed.stderr


def test_publishing_does_not_leak_even_an_unredacted_report(tmp_path, double) -> None:
    """report.json from before redaction existed, or written by another tool, still publishes clean."""
    token = fake_token()
    failing = TestResult(suite="unit", name="test_leak", classname="tests.unit.test_a", outcome=Outcome.FAILED,
                         file="tests/unit/test_a.py", line=3, message=f"leaked token {token}",
                         details=f"E   AssertionError: {token}", stdout=f"printed {token}")
    run = RunResult(run_id="r1", project=str(tmp_path / "project"), started_at="2026-11-25T10:00:00+00:00",
                    finished_at="2026-11-25T10:00:05+00:00", duration=5.0, notices=[f"notice {token}"],
                    suites=[SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=[failing],
                                        reason=f"reason {token}", log_file="logs/unit.log")])
    results = tmp_path / "project" / "test-results"
    json_report.write(run, results, exit_code=1)  # the writer alone: no redaction on this path
    (results / "logs").mkdir()
    (results / "logs" / "unit.log").write_text(f"log line {token}\n", encoding="utf-8")
    # files the run step could not scrub (it never held the token), and a link a test left
    (results / "left-by-a-test.txt").write_text(f"file {token}\n", encoding="utf-8")
    (results / "link").symlink_to(tmp_path / "project")
    assert token.encode() in (results / "report.json").read_bytes()
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7, "head": {"sha": "d" * 40}}}), encoding="utf-8")
    env = doorbell_env(token, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"),
                       GITHUB_OUTPUT=str(tmp_path / "output.txt"), GITHUB_API_URL=double.url,
                       GITHUB_REPOSITORY=f"{double.owner}/{double.repo}", GITHUB_EVENT_PATH=str(event),
                       GITHUB_EVENT_NAME="pull_request", GITHUB_SHA="e" * 40, GITHUB_RUN_ID="5",
                       DOORBELL_CI_CHECK_RUN="true")
    completed = doorbell_ci(tmp_path / "project", env, "publish", str(results))
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")
    assert b"comment: created on #7" in completed.stdout and b"check run: created" in completed.stdout
    (comment,) = double.comments.values()
    (check,) = double.check_runs.values()
    sent = json.dumps([comment, check])
    assert token not in sent and "leaked token ***" in sent
    step_files = (tmp_path / "summary.md").read_text(encoding="utf-8") + (tmp_path / "output.txt").read_text()
    assert token not in step_files and "***" in step_files
    assert token.encode() not in without_mask_commands(completed.stdout) + completed.stderr
    assert b"log line ***" in completed.stdout  # the folded suite log
    # the folder the action uploads next: scrubbed with the publish step's token, the link removed
    assert (results / "left-by-a-test.txt").read_text(encoding="utf-8") == "file ***\n"
    assert not os.path.lexists(results / "link") and b"link: removed from" in completed.stdout
    assert files_with_leaks(results, token) == []
