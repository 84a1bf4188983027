"""history.json: written in the fixed format, bounded, combined across legs and shards, read strictly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from doorbell_ci.analysis import history_store
from doorbell_ci.analysis.history_store import History, HistoryError
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult


def make_run(run_id: str, outcomes: dict[str, Outcome], flaky: tuple[str, ...] = (),
             started: str = "2026-12-01T10:00:00+00:00") -> RunResult:
    tests = [TestResult(suite="unit", name=name, classname="tests.unit.test_x", outcome=outcome, duration=0.25,
                        flaky=name in flaky) for name, outcome in outcomes.items()]
    suite = SuiteResult(name="unit", status=SuiteStatus.PASSED, tests=tests, duration=1.5)
    return RunResult(run_id=run_id, project="/nonexistent", started_at=started, finished_at=started, duration=2.0,
                     suites=[suite])


ENV = {"GITHUB_SHA": "a" * 40, "GITHUB_REF_NAME": "main"}


def test_a_run_is_appended_as_one_column_in_the_fixed_format(tmp_path: Path) -> None:
    history = History()
    history_store.append(history, make_run("r1", {"test_a": Outcome.PASSED, "test_b": Outcome.FAILED}), "linux",
                         environ=ENV)
    history_store.append(history, make_run("r2", {"test_a": Outcome.PASSED, "test_c": Outcome.SKIPPED},
                                           flaky=("test_a",)), "linux", environ=ENV)
    path = history_store.write(history, tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["schema"] == "doorbell-ci.history" and document["version"] == 1
    assert [run["id"] for run in document["runs"]] == ["r1", "r2"]
    first = document["runs"][0]
    assert first == {"id": "r1", "commit": "a" * 40, "branch": "main", "platform": "linux",
                     "started_at": "2026-12-01T10:00:00+00:00", "duration": 2.0, "passed": 1, "failed": 1,
                     "skipped": 0, "errors": 0, "suites": {"unit": 1.5}, "benchmarks": {}}
    assert document["tests"] == {
        "unit::tests.unit.test_x::test_a": {"o": "PR", "d": [0.25, 0.25]},
        "unit::tests.unit.test_x::test_b": {"o": "F.", "d": [0.25, None]},
        "unit::tests.unit.test_x::test_c": {"o": ".S", "d": [None, 0.25]},
    }
    again = history_store.read(tmp_path)  # the folder or the file
    assert again.tests == document["tests"]


def test_runs_and_tests_are_bounded_and_the_most_recently_seen_tests_are_kept() -> None:
    history = History()
    for index in range(10):
        history_store.append(history, make_run(f"r{index}", {f"test_{index}": Outcome.PASSED,
                                                             "test_always": Outcome.PASSED}),
                             "linux", max_runs=4, max_tests=3, environ=ENV)
    assert [run["id"] for run in history.runs] == ["r6", "r7", "r8", "r9"]
    assert set(history.tests) == {"unit::tests.unit.test_x::test_always", "unit::tests.unit.test_x::test_9",
                                  "unit::tests.unit.test_x::test_8"}
    assert all(len(row["o"]) == len(row["d"]) == 4 for row in history.tests.values())
    assert history.tests["unit::tests.unit.test_x::test_8"]["o"] == "..P."


def test_benchmark_medians_and_their_unit_are_recorded() -> None:
    performance = {"metric": "wall", "benchmarks": [{"name": "decode", "head_median": 0.0123},
                                                   {"name": "none", "head_median": None}]}
    assert history_store.benchmark_figures(performance) == {"decode": {"value": 0.0123, "unit": "s"}}


def document(**changes: Any) -> dict[str, Any]:
    base = {"schema": "doorbell-ci.history", "version": 1,
            "runs": [{"id": "r", "commit": "", "branch": "", "platform": "p", "started_at": "t", "duration": 1.0,
                      "passed": 1, "failed": 0, "skipped": 0, "errors": 0, "suites": {}, "benchmarks": {}}],
            "tests": {"k": {"o": "P", "d": [0.1]}}}
    base.update(changes)
    return base


@pytest.mark.parametrize(("changes", "message"), [
    ({"schema": "other"}, "schema 'other'"),
    ({"version": 2}, "version 2"),
    ({"tests": {"k": {"o": "PP", "d": [0.1]}}}, "2 outcomes and 1 durations for 1 runs"),
    ({"tests": {"k": {"o": "X", "d": [0.1]}}}, "outcome letter"),
    ({"tests": {"k": {"o": "P", "d": [None]}}}, "finite number"),
    ({"tests": {"k": {"o": ".", "d": [0.5]}}}, "null duration where it ran"),
    ({"tests": {"k": {"o": "P", "d": [-1]}}}, "finite number"),
    ({"tests": {"k": {"o": "P", "d": [True]}}}, "finite number"),
    ({"tests": {"k": {"o": "P", "d": ["0.1"]}}}, "finite number"),
    ({"tests": {"k": {"o": "P", "d": [1e400]}}}, "finite number"),
    ({"runs": [{"id": "r"}]}, "runs[0] needs a text 'commit'"),
    ({"runs": "x"}, "'runs' must be a list"),
])
def test_anything_not_of_the_format_is_refused_in_one_line(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(HistoryError) as caught:
        history_store.parse(document(**changes), "h.json")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_non_finite_numbers_and_oversized_histories_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    path.write_text(json.dumps(document()).replace('"duration": 1.0', '"duration": NaN'), encoding="utf-8")
    with pytest.raises(HistoryError, match="not JSON"):
        history_store.read(path)
    path.write_text(json.dumps(document()), encoding="utf-8")
    with pytest.raises(HistoryError, match="1 runs, more than 0"):
        history_store.read(path, max_runs=0)
    with pytest.raises(HistoryError, match="1 tests, more than 0"):
        history_store.read(path, max_tests=0)
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(HistoryError, match="not JSON"):
        history_store.read(path)


def test_matrix_legs_combine_into_one_timeline_of_both_platforms() -> None:
    arm, x86 = History(), History()
    history_store.append(arm, make_run("a1", {"t": Outcome.PASSED}, started="2026-12-01T10:00:00+00:00"), "arm",
                         environ=ENV)
    history_store.append(x86, make_run("x1", {"t": Outcome.FAILED, "u": Outcome.PASSED},
                                       started="2026-12-01T10:05:00+00:00"), "x86", environ=ENV)
    history_store.append(arm, make_run("a2", {"t": Outcome.PASSED}, started="2026-12-01T10:10:00+00:00"), "arm",
                         environ=ENV)
    combined = history_store.combine([arm, x86])
    assert [(r["id"], r["platform"]) for r in combined.runs] == [("a1", "arm"), ("x1", "x86"), ("a2", "arm")]
    assert combined.tests["unit::tests.unit.test_x::t"]["o"] == "PFP"
    assert combined.tests["unit::tests.unit.test_x::u"] == {"o": ".P.", "d": [None, 0.25, None]}
    history_store.parse(combined.to_json())  # what it writes, it reads


def test_shards_share_their_past_once_and_their_own_runs_are_left_out() -> None:
    past = make_run("old", {"t": Outcome.PASSED, "u": Outcome.PASSED}, started="2026-12-01T09:00:00+00:00")
    shards = []
    for index, name in enumerate(("t", "u")):
        history = History()
        history_store.append(history, past, "linux", environ=ENV)
        history_store.append(history, make_run(f"s{index}", {name: Outcome.FAILED},
                                               started="2026-12-01T10:00:00+00:00"), "linux", environ=ENV)
        shards.append(history)
    combined = history_store.combine(shards, leave_out={"s0", "s1"})
    assert [r["id"] for r in combined.runs] == ["old"]
    merged = make_run("merged", {"t": Outcome.FAILED, "u": Outcome.FAILED}, started="2026-12-01T10:00:00+00:00")
    history_store.append(combined, merged, "linux", environ=ENV)
    assert {k: v["o"] for k, v in combined.tests.items()} == {"unit::tests.unit.test_x::t": "PF",
                                                            "unit::tests.unit.test_x::u": "PF"}


def test_the_combine_command_writes_one_timeline_and_refuses_a_bad_input_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from doorbell_ci.cli import main

    for leg, started in (("arm", "2026-12-01T10:00:00+00:00"), ("x86", "2026-12-01T09:00:00+00:00")):
        history = history_store.append(History(), make_run(f"{leg}-1", {"t": Outcome.PASSED}, started=started), leg,
                                       environ=ENV)
        (tmp_path / leg).mkdir()
        history_store.write(history, tmp_path / leg)
    assert main(["history", "combine", str(tmp_path / "arm"), str(tmp_path / "x86" / "history.json"),
                 "--output", str(tmp_path / "all.json")]) == 0
    combined = history_store.read(tmp_path / "all.json")
    assert [run["id"] for run in combined.runs] == ["x86-1", "arm-1"]
    (tmp_path / "bad.json").write_text("[]", encoding="utf-8")
    code = main(["history", "combine", str(tmp_path / "bad.json"), "--output", str(tmp_path / "out.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "is not a doorbell-ci history" in err[0]
    assert not (tmp_path / "out.json").exists()


def test_a_test_id_too_long_to_keep_is_left_out_so_the_dashboard_still_reads_the_file(tmp_path: Path) -> None:
    """A parametrized id holding 2 MB (doorbell-ci's own hostile tests have one) once made dashboard.html fail."""
    from doorbell_ci.reports import dashboard

    history = History()
    huge = "test_p[" + "x" * 2_000_000 + "]"
    history_store.append(history, make_run("r1", {"test_a": Outcome.PASSED, huge: Outcome.PASSED}), "linux",
                         environ=ENV)
    path = history_store.write(history, tmp_path)
    assert list(json.loads(path.read_text(encoding="utf-8"))["tests"]) == ["unit::tests.unit.test_x::test_a"]
    assert dashboard.write_beside(tmp_path) is not None  # the page is drawn from it
