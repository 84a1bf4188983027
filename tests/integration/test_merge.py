"""`doorbell-ci merge` on shard folders written to disk (doorbell_ci/merge.py); real runs are in tests/e2e."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doorbell_ci.cli import main
from doorbell_ci.errors import ReportError
from doorbell_ci.merge import merge
from doorbell_ci.reports import json_report
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult


def shard(folder: Path, index: int, total: int, suites: dict[str, dict[str, Outcome]],
          statuses: dict[str, SuiteStatus] | None = None) -> Path:
    results = []
    for name, outcomes in suites.items():
        tests = [TestResult(suite=name, name=test, classname=f"tests.{name}.test_m", file=f"tests/{name}/test_m.py",
                            outcome=outcome, duration=1.0, message="boom" if outcome is Outcome.FAILED else "")
                 for test, outcome in outcomes.items()]
        status = (statuses or {}).get(name) or (SuiteStatus.FAILED if any(t.outcome is Outcome.FAILED for t in tests)
                                                else SuiteStatus.PASSED)
        results.append(SuiteResult(name=name, status=status, tests=tests, duration=10.0 * index,
                                   log_file=f"logs/{name}.log", reason="x" if status is SuiteStatus.ABSENT else ""))
    run = RunResult(run_id=f"s{index}", project=str(folder), started_at=f"2026-01-01T00:0{index}:00+00:00",
                    finished_at=f"2026-01-01T00:1{index}:00+00:00", duration=30.0 * index, suites=results,
                    analysis={"shard": {"index": index, "total": total}, "history": {}})
    (folder / "logs").mkdir(parents=True)
    for name in suites:
        (folder / "logs" / f"{name}.log").write_text(f"log of {name} in shard {index}\n")
    json_report.write(run, folder, 0)
    return folder


def test_counts_are_the_sum_and_files_are_kept(tmp_path: Path) -> None:
    one = shard(tmp_path / "s1", 1, 2, {"unit": {"a": Outcome.PASSED, "b": Outcome.FAILED},
                                        "e2e": {"x": Outcome.SKIPPED}})
    two = shard(tmp_path / "s2", 2, 2, {"unit": {"c": Outcome.PASSED}, "e2e": {}},
                statuses={"e2e": SuiteStatus.ABSENT})
    result, exit_code = merge([one, two], tmp_path / "merged")
    assert exit_code == 1 and result.notices == []
    assert result.counts.astuple() == (4, 2, 1, 0, 1)
    assert [(s.name, s.status) for s in result.suites] == [("unit", SuiteStatus.FAILED), ("e2e", SuiteStatus.PASSED)]
    assert result.duration == 60.0  # shards run side by side: the slowest
    document = json.loads((tmp_path / "merged" / "report.json").read_text())
    assert document["totals"]["tests"] == 4
    assert len(document["analysis"]["shard"]["merged"]) == 2
    assert (tmp_path / "merged" / "junit.xml").read_text().count("<testcase") == 4
    assert (tmp_path / "merged" / "summary.md").is_file()
    assert list((tmp_path / "merged" / "shards").glob("*/logs/unit.log"))


def test_a_missing_shard_and_a_test_run_twice_are_notices(tmp_path: Path) -> None:
    one = shard(tmp_path / "s1", 1, 3, {"unit": {"a": Outcome.PASSED, "b": Outcome.PASSED}})
    two = shard(tmp_path / "s2", 2, 3, {"unit": {"b": Outcome.FAILED}})
    broken = tmp_path / "s3"
    broken.mkdir()
    (broken / "report.json").write_text("{truncated")
    result, _ = merge([one, two, broken], tmp_path / "merged")
    text = "\n".join(result.notices)
    assert "shard 3/3 missing" in text
    assert "s3" in text and "not readable JSON" in text
    assert "unit::tests/unit/test_m.py::b ran in" in text
    assert result.counts.astuple() == (2, 1, 1, 0, 0)  # b once, with its worse outcome


def test_nothing_readable_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="nothing to merge"):
        merge([tmp_path / "empty"], tmp_path / "merged")
    assert main(["merge", str(tmp_path / "empty"), "--output-dir", str(tmp_path / "out")]) == 4
    assert capsys.readouterr().err.startswith("doorbell-ci: error: no shard folder")


def test_output_folder_cannot_be_a_shard_folder(tmp_path: Path) -> None:
    one = shard(tmp_path / "s1", 1, 1, {"unit": {"a": Outcome.PASSED}})
    with pytest.raises(ReportError, match="is one of the shard folders"):
        merge([one], one)


def test_shards_that_split_differently_are_a_notice(tmp_path: Path) -> None:
    one = shard(tmp_path / "s1", 1, 2, {"unit": {"a": Outcome.PASSED}})
    two = shard(tmp_path / "s2", 2, 2, {"unit": {"b": Outcome.PASSED}})
    document = json.loads((two / "report.json").read_text())
    document["analysis"]["shard"].update(total_tests=3, strategy="count")
    (two / "report.json").write_text(json.dumps(document))
    result, _ = merge([one, two], tmp_path / "merged")
    assert any("did not split the same way" in notice for notice in result.notices)


def test_shards_that_together_tested_nothing_merge_to_exit_8(tmp_path: Path) -> None:
    one = shard(tmp_path / "s1", 1, 2, {"unit": {"a": Outcome.SKIPPED}})
    two = shard(tmp_path / "s2", 2, 2, {"unit": {}}, statuses={"unit": SuiteStatus.NO_TESTS})
    result, exit_code = merge([one, two], tmp_path / "merged")
    assert exit_code == 8
    assert any(notice.startswith("nothing was tested: the only test was skipped") for notice in result.notices)
    assert (tmp_path / "merged" / "summary.md").read_text().startswith("## doorbell-ci: ⚠️ nothing tested")
    three = shard(tmp_path / "s3", 1, 2, {"unit": {"b": Outcome.PASSED}})
    assert merge([three, two], tmp_path / "merged-2")[1] == 0


def test_shard_histories_become_one_history_with_the_merged_run(tmp_path: Path) -> None:
    from doorbell_ci.analysis import history_store

    past = RunResult(run_id="main-1", project=str(tmp_path), started_at="2025-12-31T00:00:00+00:00",
                     finished_at="2025-12-31T00:01:00+00:00", duration=5.0,
                     suites=[SuiteResult(name="unit", status=SuiteStatus.PASSED, tests=[
                         TestResult(suite="unit", name=n, classname="tests.unit.test_m", duration=0.5)
                         for n in ("a", "c")])])
    folders = []
    for index, outcomes in ((1, {"a": Outcome.PASSED}), (2, {"c": Outcome.FAILED})):
        folder = shard(tmp_path / f"s{index}", index, 2, {"unit": outcomes})
        own, _ = json_report.read(folder)
        history = history_store.append(history_store.History(), past, "linux", environ={"GITHUB_SHA": "1" * 40})
        history_store.append(history, own, "linux", environ={"GITHUB_SHA": "2" * 40})
        history_store.write(history, folder)
        folders.append(folder)
    result, _ = merge(folders, tmp_path / "merged")
    merged = history_store.read(tmp_path / "merged" / "history.json")
    assert [run["id"] for run in merged.runs] == ["main-1", result.run_id]  # s1, s2 replaced by the merge
    assert {key: row["o"] for key, row in merged.tests.items()} == {
        "unit::tests.unit.test_m::a": "PP", "unit::tests.unit.test_m::c": "PF"}
    assert merged.runs[-1]["passed"] == 1 and merged.runs[-1]["failed"] == 1


def _as_version_1(folder: Path) -> None:
    """Rewrite a shard's report.json the way doorbell-ci wrote it before schema version 2 (every test
    with its classname, outcome and duration, defaults included), as an older doorbell-ci's shard job would."""
    path = folder / "report.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["schema_version"] = 1
    for suite in document["suites"]:
        suite["tests"] = [{"name": t["name"], "classname": t.get("classname", ""),
                           "outcome": t.get("outcome", "passed"), "duration": t.get("duration", 0.0), **t}
                          for t in suite["tests"]]
    path.write_text(json.dumps(document), encoding="utf-8")


def test_a_shard_written_with_schema_version_1_merges_with_a_version_2_one(tmp_path: Path) -> None:
    old = shard(tmp_path / "old", 1, 2, {"unit": {"a": Outcome.PASSED, "b": Outcome.FAILED, "s": Outcome.SKIPPED}})
    _as_version_1(old)
    assert '"outcome": "passed"' in (old / "report.json").read_text(encoding="utf-8")
    new = shard(tmp_path / "new", 2, 2, {"unit": {"c": Outcome.PASSED, "d": Outcome.ERROR}})
    result, exit_code = merge([old, new], tmp_path / "merged")
    assert exit_code == 1 and result.notices == []
    assert result.counts.astuple() == (5, 2, 1, 1, 1)
    outcomes = {t.name: t.outcome for t in result.iter_tests()}
    assert outcomes == {"a": Outcome.PASSED, "b": Outcome.FAILED, "s": Outcome.SKIPPED, "c": Outcome.PASSED,
                        "d": Outcome.ERROR}
    document = json.loads((tmp_path / "merged" / "report.json").read_text(encoding="utf-8"))
    assert document["schema_version"] == 2 and document["totals"]["passed"] == 2
    merged = {t["name"]: t for t in document["suites"][0]["tests"]}
    assert "outcome" not in merged["a"] and merged["b"]["outcome"] == "failed"
    again, _ = json_report.read(tmp_path / "merged")
    assert again.counts.astuple() == (5, 2, 1, 1, 1)
