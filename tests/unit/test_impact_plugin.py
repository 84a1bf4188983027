"""The recording plugin's in-memory recorder against a real coverage.py, in a process of its own.

Each case starts a real ``coverage.Coverage`` in a child Python (the test run may itself be under
coverage), runs a small module's functions as "tests" with :class:`LineRecorder` switching between
them, saves, and prints what the ``.lines`` file and coverage's own data hold; a second child does
the same without the recorder, and coverage's data must be the same in both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import coverage
import pytest

from doorbell_ci.impact import RECORDER_ENV
from doorbell_ci.impact.plugin import _lines_of_arcs, ranges_of, recorder_problem

MODULE = '''\
def first(x):
    if x > 0:
        return x
    return -x


def second(items):
    total = 0
    for item in items:
        total += item
    return total


def both():
    return first(-1) + second([1, 2])
'''

CHILD = '''\
import json, sys
import coverage
sys.path.insert(0, sys.argv[1])
branch, record, data_file, lines_file, context = sys.argv[2] == "1", sys.argv[3] == "1", sys.argv[4], sys.argv[5], \\
    sys.argv[6]
cov = coverage.Coverage(branch=branch, data_file=data_file, source=[sys.argv[1]], config_file=False)
cov.start()
import measured
if record:
    from doorbell_ci.impact.plugin import LineRecorder
    recorder = LineRecorder(cov, lines_file)
    switch = recorder.switch
else:
    switch = lambda name: None
if context:
    cov.switch_context("project-a")  # the project's own dynamic contexts, through coverage's public API
switch("test_first")
measured.first(3)
switch("test_second")
measured.second([1])
measured.first(3)
if context:
    cov.switch_context("project-b")
switch("test_both")
measured.both()
switch("")
cov.stop()
cov.save()
if record:
    recorder.close()  # as pytest_unconfigure does, after pytest-cov saved
data = coverage.CoverageData(basename=data_file)
data.read()
name = [f for f in data.measured_files() if f.endswith("measured.py")][0]
by_context = {}
for context_name in sorted(data.measured_contexts()):
    data.set_query_contexts([context_name])
    by_context[context_name] = [sorted(data.lines(name) or []), sorted(data.arcs(name) or []) if branch else []]
print(json.dumps(by_context))
'''


def run_child(tmp_path: Path, *, branch: bool, record: bool, context: bool = False) -> tuple[dict, list[dict]]:
    folder = tmp_path / f"b{int(branch)}r{int(record)}c{int(context)}"
    folder.mkdir()
    (folder / "measured.py").write_text(MODULE, encoding="utf-8")
    (folder / "child.py").write_text(CHILD, encoding="utf-8")
    lines_file = folder / "unit.impact-fixtures.main.lines"
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("COVERAGE_", "DOORBELL_CI"))}
    done = subprocess.run(  # noqa: S603 - our own child script
        [sys.executable, str(folder / "child.py"), str(folder), str(int(branch)), str(int(record)),
         str(folder / ".coverage"), str(lines_file), "1" if context else ""],
        capture_output=True, text=True, timeout=120, check=False, env=environment, cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    records = [json.loads(line) for line in lines_file.read_text(encoding="utf-8").splitlines()] if record else []
    return json.loads(done.stdout), records


def lines_by_context(records: list[dict]) -> dict[str, set[int]]:
    assert records[-1] == {"complete": True}  # the last line, that record.py requires
    found: dict[str, set[int]] = {}
    for record in records[:-1]:
        for name, spans in record["lines"].items():
            assert name.endswith("measured.py")
            for first, last in spans:
                found.setdefault(record["context"], set()).update(range(first, last + 1))
    return found


@pytest.mark.parametrize("branch", [False, True], ids=["lines", "branch"])
def test_each_test_gets_the_lines_it_ran_and_coverage_keeps_its_own_data(tmp_path: Path, branch: bool) -> None:
    plain, _ = run_child(tmp_path, branch=branch, record=False)
    recorded, records = run_child(tmp_path, branch=branch, record=True)
    assert recorded == plain  # coverage's data (lines, and arcs with branch) as if nothing had recorded
    per_test = lines_by_context(records)
    # the module's def lines run at import, outside any test; second() runs first() again: its lines again
    assert per_test[""] == {1, 7, 14}
    assert per_test["test_first"] == {2, 3}
    assert per_test["test_second"] == {2, 3, 8, 9, 10, 11}
    assert per_test["test_both"] == {2, 4, 8, 9, 10, 11, 15}


def test_the_projects_own_contexts_are_written_as_without_the_recorder(tmp_path: Path) -> None:
    plain, _ = run_child(tmp_path, branch=True, record=False, context=True)
    recorded, records = run_child(tmp_path, branch=True, record=True, context=True)
    assert set(plain) == {"", "project-a", "project-b"}
    assert recorded == plain  # every line under the project's context, none under the recorder's names
    assert lines_by_context(records)["test_both"] == {2, 4, 8, 9, 10, 11, 15}  # coverage's switch cut no test


def test_line_spans_and_packed_arcs() -> None:
    assert ranges_of({0, 1, 2, 3, 7, 9, 10}) == [[1, 3], [7, 7], [9, 10]]
    assert ranges_of(set()) == []

    def packed(first: int, second: int) -> int:  # coverage's CTracer_record_pair
        value = abs(first) | (abs(second) << 28)
        return value | ((1 << 56) if first < 0 else 0) | ((1 << 57) if second < 0 else 0)

    arcs = [(-1, 2), (2, 3), (3, -1), (12, 14)]
    assert _lines_of_arcs({packed(a, b) for a, b in arcs}, packed=True) == {2, 3, 12, 14}
    assert _lines_of_arcs(set(arcs), packed=False) == {2, 3, 12, 14}


def test_the_recorder_falls_back_to_contexts_when_asked_or_when_coverage_is_not_running(
        monkeypatch: pytest.MonkeyPatch) -> None:
    idle = coverage.Coverage(data_file=None)
    monkeypatch.delenv(RECORDER_ENV, raising=False)
    assert recorder_problem(idle) == "coverage's collector has no in-memory data to read"
    monkeypatch.setenv(RECORDER_ENV, "contexts")
    assert recorder_problem(idle) == f"{RECORDER_ENV}=contexts"


ALIASED = """\
import json, sys
import coverage
folder = sys.argv[1]
sys.path.insert(0, folder + "/installed")
cov = coverage.Coverage(data_file=folder + "/.coverage", source=[folder], config_file=folder + "/coveragerc")
cov.start()
import measured
from doorbell_ci.impact.plugin import LineRecorder
recorder = LineRecorder(cov, folder + "/x.lines")
recorder.switch("test_first")
measured.first(3)
recorder.switch("")
cov.stop()
cov.save()
recorder.close()
"""


def test_measured_files_get_the_names_coverages_paths_aliases_give_them(tmp_path: Path) -> None:
    # a package tested installed (tox without usedevelop): [paths] maps its files to the project's src/,
    # which is what pytest-cov's combine writes and the map is made of
    for folder in ("src", "installed"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "measured.py").write_text(MODULE, encoding="utf-8")
    (tmp_path / "coveragerc").write_text(f"[paths]\nsource =\n    {tmp_path}/src\n    {tmp_path}/installed\n",
                                         encoding="utf-8")
    (tmp_path / "child.py").write_text(ALIASED, encoding="utf-8")
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("COVERAGE_", "DOORBELL_CI"))}
    done = subprocess.run([sys.executable, str(tmp_path / "child.py"), str(tmp_path)],  # noqa: S603
                          capture_output=True, text=True, timeout=120, check=False, env=environment, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    records = [json.loads(line) for line in (tmp_path / "x.lines").read_text(encoding="utf-8").splitlines()]
    assert {name for record in records[:-1] for name in record["lines"]} == {str(tmp_path / "src" / "measured.py")}
    assert lines_by_context(records)["test_first"] == {2, 3}
