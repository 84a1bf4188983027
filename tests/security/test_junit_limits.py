"""Hostile JUnit XML through real runs: a 500 MB file, entities, deep nesting, broken bytes.

A suite's JUnit XML is written by the code under review, so it is attacker-controlled. Each
hostile file here is produced by a real suite (a ``command`` suite that writes it) in a real
``python -m doorbell_ci run``, next to a healthy pytest suite: the hostile suite must end as
``error`` with the reason in report.json, the healthy suite's results must be kept, no entity
may be resolved (a secret file's text never appears, a listening socket is never contacted),
and reading stays in bounded memory. See docs/SECURITY.md for the table of outcomes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from doorbell_ci import results
from doorbell_ci.errors import CollectError
from doorbell_ci.results import MB, read_junit
from tests.junit_factory import Written, write_junit
from tests.security.test_hostile_results import BILLION_LAUGHS
from tests.tooling import require_tool

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "junit"
HUGE_MB = 500
SECRET = "doorbell-secret-7f3a2c1d-never-in-a-report"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_", "PYTEST_"))}


def _project(root: Path, suites: dict[str, Path]) -> Path:
    """A project with a passing pytest suite ``unit`` and one command suite per hostile file.

    Each command suite copies its file to where it declared its JUnit XML, as a runner would
    write it (fresh modification time); the 500 MB one is hard-linked instead of copied, and
    the source ``mkfifo`` leaves a FIFO there (a device that never ends, like /dev/zero).
    """
    (root / "tests" / "unit").mkdir(parents=True)
    (root / "tests" / "unit" / "test_ok.py").write_text(
        "def test_one():\n    assert 1 + 1 == 2\n\n\ndef test_two():\n    assert 'doorbell'\n", encoding="utf-8")
    writer = ("import os, shutil, sys\nsource, target = sys.argv[1], sys.argv[2]\n"
              "if source == 'mkfifo':\n    os.mkfifo(target)\n"
              "elif os.path.getsize(source) > 1 << 20:\n    try:\n        os.link(source, target)\n"
              "    except OSError:\n        shutil.copyfile(source, target)\n    os.utime(target)\n"
              "else:\n    shutil.copyfile(source, target)\n")
    (root / "write_junit.py").write_text(writer, encoding="utf-8")
    tables = []
    for name, source in suites.items():
        command = [sys.executable, str(root / "write_junit.py"), str(source), str(root / "out" / f"{name}.xml")]
        tables.append(f"[tool.doorbell-ci.suite.{name}]\ncommand = {json.dumps(command)}\njunit = 'out/{name}.xml'\n")
    (root / "out").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'probe'\n\n[tool.doorbell-ci]\n" + "\n".join(tables),
                                         encoding="utf-8")
    return root


def _run(project: Path, suites: list[str], *extra: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    completed = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", *suites,
         "--no-coverage", "--quiet", "--workers", "1", *extra],
        env=_clean_env(), capture_output=True, text=True, timeout=600, check=False,
    )
    report = json.loads((project / "test-results" / "report.json").read_text(encoding="utf-8"))
    return completed, report


def _suite(report: dict, name: str) -> dict:
    return next(s for s in report["suites"] if s["name"] == name)


# --- a 500 MB JUnit file ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def huge_junit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Written]]:
    """A real ~500 MB pytest-style file: ~110,000 testcases, each with a few KB of captured output."""
    path = tmp_path_factory.mktemp("huge") / "huge.xml"
    written = write_junit(path, HUGE_MB * MB, "chatty")
    yield path, written
    path.unlink(missing_ok=True)


def test_a_500_mb_junit_file_is_refused_by_the_size_limit_in_a_real_run(
        tmp_path: Path, huge_junit: tuple[Path, Written]) -> None:
    path, _ = huge_junit
    project = _project(tmp_path / "proj", {"huge": path})
    completed, report = _run(project, ["unit", "huge"])
    assert completed.returncode == 1, completed.stdout + completed.stderr  # a suite crashed: exit 1
    huge = _suite(report, "huge")
    assert huge["status"] == "error"
    assert "huge.xml is 500 MB, over the 256 MB limit (--junit-max-mb)" in huge["reason"]
    assert huge["counts"]["tests"] == 0
    unit = _suite(report, "unit")
    assert (unit["status"], unit["counts"]["passed"]) == ("passed", 2)
    # the refused file is not copied into the results folder that gets uploaded
    assert not (project / "test-results" / "junit" / "huge.xml").exists()
    assert (project / "test-results" / "report.json").stat().st_size < MB


def test_a_500_mb_junit_file_is_read_in_bounded_memory_when_the_limit_allows_it(
        tmp_path: Path, huge_junit: tuple[Path, Written]) -> None:
    """Peak RSS of a fresh interpreter reading it stays far below the file's size.

    Measured: 67 MB (interpreter and imports 25 MB); the tree-building reader needed 576 MB.
    """
    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory is read from /proc/self/status (VmHWM), which only Linux has")
    path, written = huge_junit
    script = textwrap.dedent(f"""
        import json
        from pathlib import Path
        from doorbell_ci import results

        def peak_kib():  # VmHWM starts afresh at exec; ru_maxrss keeps the forking parent's peak
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])

        tests = results.read_junit(Path({str(path)!r}), "unit", max_bytes={(HUGE_MB + 1) * MB})
        counts = results.Counts.of(tests)
        print(json.dumps({{"tests": counts.tests, "failed": counts.failed, "errors": counts.errors,
                          "skipped": counts.skipped, "reader": results.__file__,
                          "peak_rss_mb": peak_kib() / 1024}}))
    """)
    # -I, a clean environment and an empty folder: no PYTHON* variable or stray doorbell_ci/ decides what is measured
    completed = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True,  # noqa: S603
                               timeout=600, check=False, cwd=tmp_path, env=_clean_env())
    assert completed.returncode == 0, completed.stderr[-2000:]
    figures = json.loads(completed.stdout)
    assert figures["reader"] == results.__file__
    assert path.stat().st_size >= (HUGE_MB - 1) * MB
    assert (figures["tests"], figures["failed"], figures["errors"], figures["skipped"]) == (
        written.tests, written.failures, written.errors, written.skipped)
    assert written.tests > 100_000
    assert figures["peak_rss_mb"] < 250, figures


# --- hostile files, each from its own suite in one real run ----------------------------------------


class _Listener:
    """A TCP port on 127.0.0.1 that records every connection: the proof that nothing was fetched."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections: list[bytes] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    self.connections.append(connection.recv(4096))
                except OSError:
                    self.connections.append(b"")

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.server.close()


def _hostile_files(folder: Path, secret: Path, port: int) -> dict[str, bytes]:
    depth = 100_000
    return {
        "xxe_file": (f'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file://{secret.as_posix()}">]>'
                     '<testsuite tests="1"><testcase classname="x" name="&x;"/></testsuite>').encode(),
        "xxe_network": (f'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "http://127.0.0.1:{port}/leak">]>'
                        '<testsuite tests="1"><testcase classname="x" name="&x;"/></testsuite>').encode(),
        "xxe_parameter": (f'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p.dtd">'
                          '%p;]><testsuite tests="1"><testcase name="t"/></testsuite>').encode(),
        "external_dtd": (f'<?xml version="1.0"?><!DOCTYPE testsuite SYSTEM "http://127.0.0.1:{port}/evil.dtd">'
                         '<testsuite tests="1"><testcase classname="x" name="dtd_not_fetched"/></testsuite>').encode(),
        "billion_laughs": BILLION_LAUGHS.encode(),
        "deep_nesting": b"<testsuites>" + b"<testsuite>" * depth + b"</testsuite>" * depth + b"</testsuites>",
        "invalid_utf8": b'<testsuite tests="2"><testcase name="ok"/><testcase name="caf\xe9 \xff\xfe"/></testsuite>',
        "truncated": (FIXTURES / "truncated.xml").read_bytes(),
        "empty": (FIXTURES / "empty.xml").read_bytes(),
        "not_junit": b"<html><body><script>alert(1)</script></body></html>",
    }


# suite -> what its reason must say; external_dtd is the one harmless case: read, nothing fetched
EXPECTED = {
    "xxe_file": "declares a DTD or entities, which are refused",
    "xxe_network": "declares a DTD or entities, which are refused",
    "xxe_parameter": "declares a DTD or entities, which are refused",
    "billion_laughs": "declares a DTD or entities, which are refused",
    "deep_nesting": "nests elements more than 200 levels deep",
    "invalid_utf8": "is not valid UTF-8",
    "truncated": "it stops inside an element, so it was cut off",
    "empty": "is empty",
    "not_junit": "is not JUnit XML: its root element is <html>",
    "fifo": "fifo.xml is not a regular file",
}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict, str, _Listener]]:
    root = tmp_path_factory.mktemp("hostile")
    secret = root / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    listener = _Listener()
    try:
        sources = {}
        (root / "files").mkdir()
        for name, content in _hostile_files(root / "files", secret, listener.port).items():
            sources[name] = root / "files" / f"{name}.xml"
            sources[name].write_bytes(content)
        sources["fifo"] = Path("mkfifo")
        project = _project(root / "proj", sources)
        completed, report = _run(project, ["unit", *sources])
        yield project, report, completed.stdout + completed.stderr + f"\nexit {completed.returncode}", listener
    finally:
        listener.close()


@pytest.mark.parametrize("suite", sorted(EXPECTED))
def test_hostile_junit_ends_its_suite_in_error_with_the_reason(
        hostile_run: tuple[Path, dict, str, _Listener], suite: str) -> None:
    _, report, output, _ = hostile_run
    result = _suite(report, suite)
    assert result["status"] == "error", result
    assert EXPECTED[suite] in result["reason"], result["reason"]
    assert result["counts"]["tests"] == 0
    assert output.rstrip().endswith("exit 1"), output[-2000:]


def test_the_healthy_suite_keeps_its_results_next_to_hostile_ones(
        hostile_run: tuple[Path, dict, str, _Listener]) -> None:
    _, report, _, _ = hostile_run
    unit = _suite(report, "unit")
    assert (unit["status"], unit["counts"]["tests"], unit["counts"]["passed"]) == ("passed", 2, 2)


def test_no_entity_is_resolved_and_nothing_is_fetched(hostile_run: tuple[Path, dict, str, _Listener]) -> None:
    project, report, output, listener = hostile_run
    assert listener.connections == []  # neither the entity, the parameter entity nor the external DTD
    dtd = _suite(report, "external_dtd")  # a DOCTYPE naming an external DTD is harmless: never fetched
    assert (dtd["status"], dtd["counts"]["passed"]) == ("passed", 1)
    produced = [path for path in (project / "test-results").rglob("*") if path.is_file()]
    assert any(path.name == "report.html" for path in produced)
    for path in produced:
        assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in output
    assert "lollollol" not in (project / "test-results" / "report.json").read_text(encoding="utf-8")


# --- the reader, directly: what the runs above cannot show ------------------------------------------


def test_a_file_that_grows_past_the_limit_while_it_is_read_is_cut_off(tmp_path: Path) -> None:
    """The size is checked when the file is opened; a runner still appending cannot slip past it."""
    from doorbell_ci.results import iter_junit

    path = tmp_path / "growing.xml"
    case = '<testcase classname="c" name="t{}"><system-out>{}</system-out></testcase>\n'
    path.write_text('<testsuite name="s">' + "".join(case.format(n, "x" * 900) for n in range(500)),
                    encoding="utf-8")
    results = iter_junit(path, "unit", max_bytes=2 * MB)
    assert next(results).name == "t0"  # opened and checked: about 0.5 MB, under the limit
    with path.open("a", encoding="utf-8") as grow:
        grow.write("".join(case.format(n, "y" * 9_000) for n in range(500, 1_000)))  # now ~5 MB
    with pytest.raises(CollectError, match=r"growing\.xml is 2 MB, over the 2 MB limit"):
        list(results)


def _lxml_available() -> bool:
    try:
        import lxml.etree  # noqa: F401
    except ImportError:
        return False
    return True


def test_the_reader_refuses_entities_with_lxml_installed(tmp_path: Path) -> None:
    """junitparser builds its elements with lxml when lxml is importable; lxml resolves entities
    unless told not to. The reader must never hand parsing to it."""
    require_tool("lxml", _lxml_available(), "dev extra; junitparser switches to lxml when it is importable")
    import junitparser.junitparser

    assert junitparser.junitparser.etree.__name__ == "lxml.etree"  # the situation under test
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    xxe = tmp_path / "xxe.xml"
    xxe.write_text(f'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file://{secret.as_posix()}">]>'
                   '<testsuite><testcase name="&x;"/></testsuite>', encoding="utf-8")
    laughs = tmp_path / "laughs.xml"
    laughs.write_text(BILLION_LAUGHS, encoding="utf-8")
    for path in (xxe, laughs):
        with pytest.raises(CollectError, match="DTD or entities") as refused:
            read_junit(path, "unit")
        assert SECRET not in str(refused.value)
    tests = read_junit(FIXTURES / "pytest_xunit1.xml", "unit")  # and the dialects still read the same
    assert len(tests) == 7 and tests[1].line == 9


def test_reader_and_merged_junit_work_without_lxml_too(tmp_path: Path) -> None:
    """The other half: an interpreter where lxml cannot be imported (junitparser on xml.etree)."""
    script = textwrap.dedent(f"""
        import sys
        sys.modules["lxml"] = None  # as if lxml were not installed
        from pathlib import Path
        import junitparser.junitparser
        assert junitparser.junitparser.etree.__name__ == "xml.etree.ElementTree"
        from doorbell_ci.errors import CollectError
        from doorbell_ci.reports import junit
        from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult, read_junit
        try:
            read_junit(Path({str(FIXTURES / "dtd_entity.xml")!r}), "unit")
            raise SystemExit("entity accepted")
        except CollectError:
            pass
        flaky = TestResult("unit", "t", "c", Outcome.PASSED, flaky=True, message="first try failed")
        junit.write(RunResult("id", "/p", "s", "f", 1.0, [SuiteResult("unit", SuiteStatus.PASSED, [flaky])]),
                    Path({str(tmp_path)!r}))
        print(len(read_junit(Path({str(tmp_path / "junit.xml")!r}), "unit")))
    """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,  # noqa: S603
                               timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "1"
    assert "flakyFailure" in (tmp_path / "junit.xml").read_text(encoding="utf-8")
