"""`doorbell-ci merge` keeps the test selection facts (report.json "impact") of the shards and legs it merges."""

from __future__ import annotations

import json
from pathlib import Path

from doorbell_ci.impact.impactmap import ImpactMap, read_map, write_map
from doorbell_ci.merge import merge
from doorbell_ci.reports import json_report
from doorbell_ci.results import Outcome
from tests.integration.test_merge import shard


def with_impact(folder: Path, impact: dict[str, object]) -> Path:
    run, _ = json_report.read(folder)
    run.impact = impact
    json_report.write(run, folder, 0)
    return folder


def selection(**changes: object) -> dict[str, object]:
    impact: dict[str, object] = {
        "mode": "affected", "map": {"commit": "a" * 40, "platform_key": "Linux-x86_64-py3.12"},
        "full_run_reason": None, "base": "a" * 40, "head": "b" * 40,
        "changed": [{"path": "src/app.py", "kind": "modified", "lines": [[3, 9]]}],
        "selected": 3, "total": 10, "reasons": {"changed_code": 2, "new_test_file": 1},
        "deselected": [f"unit::tests/unit/test_m.py::d{i}" for i in range(7)], "missed": [], "recorded": None,
        "notices": [],
    }
    impact.update(changes)
    return impact


def test_shards_of_one_selection_keep_it_once(tmp_path: Path) -> None:
    """Two shards split the 3 selected tests; the merged report still says 3 of 10, not 6 of 20."""
    one = with_impact(shard(tmp_path / "s1", 1, 2, {"unit": {"a": Outcome.PASSED, "b": Outcome.PASSED}}), selection())
    two = with_impact(shard(tmp_path / "s2", 2, 2, {"unit": {"c": Outcome.PASSED}}), selection())
    result, exit_code = merge([one, two], tmp_path / "merged")
    assert exit_code == 0 and result.notices == []
    impact = result.impact
    assert impact is not None
    assert (impact["selected"], impact["total"], impact["reasons"]) == (3, 10, {"changed_code": 2, "new_test_file": 1})
    assert len(impact["deselected"]) == 7 and impact["map"]["platform_key"] == "Linux-x86_64-py3.12"
    document = json.loads((tmp_path / "merged" / "report.json").read_text(encoding="utf-8"))
    assert document["impact"] == impact
    assert "**Test selection:** 3 of 10 tests selected; changed src/app.py:3-9, 1 test new" in \
        (tmp_path / "merged" / "summary.md").read_text(encoding="utf-8")
    assert 'id="selection"' in (tmp_path / "merged" / "report.html").read_text(encoding="utf-8")
    assert impact["recorded"] is None and not (tmp_path / "merged" / "impact.json.gz").exists()


def test_audit_shards_join_what_each_found_missed(tmp_path: Path) -> None:
    audit = {"mode": "audit"}
    one = with_impact(shard(tmp_path / "s1", 1, 2, {"unit": {"d1": Outcome.FAILED}}),
                      selection(**audit, missed=["unit::tests/unit/test_m.py::d1"]))
    two = with_impact(shard(tmp_path / "s2", 2, 2, {"unit": {"d4": Outcome.FAILED, "a": Outcome.PASSED}}),
                      selection(**audit, missed=["unit::tests/unit/test_m.py::d4"]))
    result, exit_code = merge([one, two], tmp_path / "merged")
    assert exit_code == 1
    assert result.impact is not None and result.impact["missed"] == ["unit::tests/unit/test_m.py::d1",
                                                                      "unit::tests/unit/test_m.py::d4"]
    summary = (tmp_path / "merged" / "summary.md").read_text(encoding="utf-8")
    assert "**Test selection:** selection would have missed 2 failing test\\(s\\)" in summary
    assert "**Missed by the selection (2):**" in summary


def test_legs_that_selected_apart_are_added_up_with_a_notice(tmp_path: Path) -> None:
    unit = with_impact(shard(tmp_path / "unit", 1, 1, {"unit": {"a": Outcome.PASSED}}),
                       selection(no_code_change=["src/a.py: comments/formatting only"]))
    e2e = with_impact(shard(tmp_path / "e2e", 1, 1, {"e2e": {"x": Outcome.PASSED}}), selection(
        no_code_change=["src/a.py: comments/formatting only", "src/b.py: comments/formatting only"],
        map={"commit": "c" * 40, "platform_key": "Linux-aarch64-py3.12"}, base="c" * 40, selected=5, total=5,
        full_run_reason="conftest.py changed", deselected=[], reasons={},
        changed=[{"path": "tests/e2e/conftest.py", "kind": "modified", "lines": [[1, 1]]},
                 {"path": "src/app.py", "kind": "modified", "lines": [[3, 9]]}]))
    bare = shard(tmp_path / "perf", 1, 1, {"performance": {"p": Outcome.PASSED}})
    result, _ = merge([unit, e2e, bare], tmp_path / "merged")
    impact = result.impact
    assert impact is not None
    assert (impact["selected"], impact["total"], impact["full_run_reason"]) == (8, 15, None)
    assert [entry["path"] for entry in impact["changed"]] == ["src/app.py", "tests/e2e/conftest.py"]
    assert impact["no_code_change"] == ["src/a.py: comments/formatting only", "src/b.py: comments/formatting only"]
    text = "\n".join(result.notices)
    assert "selected with different base commits" in text and "against 2 different impact maps" in text
    assert "one leg ran every test: conftest.py changed" in text
    assert "carried no test selection facts; the merged selection covers 2 of 3 folders" in text


def test_folders_without_selection_merge_as_before(tmp_path: Path) -> None:
    one = shard(tmp_path / "s1", 1, 1, {"unit": {"a": Outcome.PASSED}})
    result, _ = merge([one], tmp_path / "merged")
    assert result.impact is None and result.notices == []


def recorded_map(folder: Path, tests: dict[str, dict[str, tuple[tuple[int, int], ...]]], commit: str = "a" * 40,
                 files: dict[str, str] | None = None) -> None:
    files = files or {"src/app.py": "1" * 40, "tests/unit/test_m.py": "2" * 40}
    write_map(ImpactMap(commit=commit, dirty=False, platform_key="linux-x86_64-py3.12",
                        created_at="2026-12-02T10:00:00+00:00", suites=["unit"], files=files, tests=tests), folder)


def test_the_shards_recorded_maps_become_one(tmp_path: Path) -> None:
    recording = {"mode": "all", "map": None, "full_run_reason": None, "base": None, "head": None, "changed": [],
                 "selected": None, "total": None, "reasons": {}, "deselected": [], "missed": [], "notices": []}
    one = with_impact(shard(tmp_path / "s1", 1, 3, {"unit": {"a": Outcome.PASSED}}),
                      {**recording, "recorded": {"path": "impact.json.gz", "tests": 1, "files": 2, "bytes": 1}})
    two = shard(tmp_path / "s2", 2, 3, {"unit": {"b": Outcome.PASSED}})
    other = shard(tmp_path / "s3", 3, 3, {"unit": {"c": Outcome.PASSED}})
    recorded_map(one, {"unit::tests/unit/test_m.py::a": {"src/app.py": ((1, 4),)}, "unit::": {"src/app.py": ((1, 2),)}})
    recorded_map(two, {"unit::tests/unit/test_m.py::b": {"src/app.py": ((9, 9),), "tests/unit/test_m.py": ((1, 2),)},
                       "unit::": {"src/app.py": ((2, 3), (7, 7)), "tests/unit/test_m.py": ((1, 1),)}})
    recorded_map(other, {"unit::tests/unit/test_m.py::c": {"src/app.py": ((1, 1),)}},
                 files={"src/app.py": "3" * 40})  # the same path with other bytes: another checkout
    result, _ = merge([one, two, other], tmp_path / "merged")
    joined = read_map(tmp_path / "merged" / "impact.json.gz")
    assert sorted(joined.tests) == ["unit::", "unit::tests/unit/test_m.py::a", "unit::tests/unit/test_m.py::b"]
    assert joined.tests["unit::tests/unit/test_m.py::b"]["src/app.py"] == ((9, 9),)
    # import-time lines ("suite::") are in every shard's map: joined, never one shard's overwriting another's
    assert joined.tests["unit::"] == {"src/app.py": ((1, 3), (7, 7)), "tests/unit/test_m.py": ((1, 1),)}
    assert result.impact is not None and result.impact["recorded"]["tests"] == 2
    assert result.impact["recorded"]["bytes"] == (tmp_path / "merged" / "impact.json.gz").stat().st_size
    assert any("impact map of s3-3 is left out: 1 files differ" in notice for notice in result.notices)
    assert "impact map recorded \\(2 tests\\)" in (tmp_path / "merged" / "summary.md").read_text(encoding="utf-8")
    (other / "impact.json.gz").write_bytes(b"not gzip")
    result, _ = merge([two, other], tmp_path / "merged")  # the same output folder again
    assert result.impact is not None and result.impact["recorded"]["tests"] == 1
    assert any("s3-2: " in notice and "not gzip" in notice for notice in result.notices)
    result, _ = merge([other], tmp_path / "merged")
    assert result.impact is None and not (tmp_path / "merged" / "impact.json.gz").exists()  # no stale map
