"""`doorbell-ci merge` keeps the test selection facts (report.json "impact") of the shards and legs it merges."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

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
    (one / "impact.json.gz").write_bytes(gzip.compress(b'{"part": 1}'))
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
    kept = list((tmp_path / "merged" / "shards").glob("*/impact.json.gz"))
    assert len(kept) == 1 and gzip.decompress(kept[0].read_bytes()) == b'{"part": 1}'


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
    assert "test selection would have missed 2 failing tests" in summary


def test_legs_that_selected_apart_are_added_up_with_a_notice(tmp_path: Path) -> None:
    unit = with_impact(shard(tmp_path / "unit", 1, 1, {"unit": {"a": Outcome.PASSED}}), selection())
    e2e = with_impact(shard(tmp_path / "e2e", 1, 1, {"e2e": {"x": Outcome.PASSED}}), selection(
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
    text = "\n".join(result.notices)
    assert "selected with different base commits" in text and "against 2 different impact maps" in text
    assert "one leg ran every test: conftest.py changed" in text
    assert "carried no test selection facts; the merged selection covers 2 of 3 folders" in text


def test_folders_without_selection_merge_as_before(tmp_path: Path) -> None:
    one = shard(tmp_path / "s1", 1, 1, {"unit": {"a": Outcome.PASSED}})
    result, _ = merge([one], tmp_path / "merged")
    assert result.impact is None and result.notices == []
