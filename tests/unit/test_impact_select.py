"""The selection rules, as a pure function of the map, the changes and the collected tests."""

from __future__ import annotations

import pytest

from doorbell_ci.impact import summary_line
from doorbell_ci.impact.changes import WHOLE_FILE, ChangedFile, Changes
from doorbell_ci.impact.impactmap import ImpactMap
from doorbell_ci.impact.select import SelectSettings, matches, select_tests

SHA = "a" * 40
COLLECTED = {"unit": ["tests/test_a.py::test_add", "tests/test_a.py::test_sub", "tests/test_b.py::test_mul",
                      "tests/test_b.py::test_new"],
             "integration": ["tests/it/test_flow.py::test_flow"]}


def the_map() -> ImpactMap:
    return ImpactMap(
        commit="c" * 40, dirty=False, platform_key="k", created_at="t", suites=["unit", "integration"],
        files={"src/calc.py": SHA, "src/flow.py": SHA, "tests/test_a.py": SHA, "tests/test_b.py": SHA},
        tests={
            "unit::tests/test_a.py::test_add": {"src/calc.py": ((3, 4),)},
            "unit::tests/test_a.py::test_sub": {"src/calc.py": ((7, 8),)},
            "unit::tests/test_b.py::test_mul": {"src/calc.py": ((3, 4), (11, 14))},
            "integration::tests/it/test_flow.py::test_flow": {"src/flow.py": ((2, 9),), "src/calc.py": ((7, 7),)},
            "unit::": {"src/calc.py": ((1, 1), (20, 21))},  # import-time lines
        })


def select(*changed: ChangedFile, recent: set[str] | None = None, settings: SelectSettings | None = None,
           importers: dict[str, set[str]] | None = None):
    def importers_of(modules: set[str]) -> set[str]:
        return {test for module in modules for test in (importers or {}).get(module, set())}

    return select_tests(the_map(), Changes("c" * 40, "d" * 40, list(changed)), COLLECTED, recent or set(),
                        settings or SelectSettings(), importers_of)


def modified(path: str, *blocks: tuple[int, int]) -> ChangedFile:
    return ChangedFile(path, "modified", blocks, blocks)


def selected_keys(selection) -> set[str]:
    return {f"{suite}::{nodeid}" for suite, ids in selection.selected.items() for nodeid in ids}


def test_a_changed_function_selects_exactly_the_tests_that_ran_it_plus_tests_without_an_entry() -> None:
    selection = select(modified("src/calc.py", (7, 8)))
    assert selection.full_run_reason is None
    assert selected_keys(selection) == {"unit::tests/test_a.py::test_sub",
                                        "integration::tests/it/test_flow.py::test_flow",
                                        "unit::tests/test_b.py::test_new"}
    assert selection.reasons["unit::tests/test_b.py::test_new"] == "no_map_entry"
    assert selection.reason_counts() == {"changed_code": 2, "new_test_file": 0, "modified_test_file": 0,
                                         "no_map_entry": 1, "recent_failure": 0}
    assert sorted(selection.deselected) == ["unit::tests/test_a.py::test_add", "unit::tests/test_b.py::test_mul"]
    assert (selection.count, selection.total) == (3, 5)
    assert selection.selected["unit"] == ["tests/test_a.py::test_sub", "tests/test_b.py::test_new"]  # collected order


def test_a_whole_file_change_selects_every_test_that_ran_any_line_and_the_importers() -> None:
    whole = ChangedFile("src/calc.py", "modified", ((1, 1),), WHOLE_FILE)
    assert len(selected_keys(select(whole))) == 5
    flow = ChangedFile("src/flow.py", "modified", ((1, 1),), WHOLE_FILE)
    assert selected_keys(select(flow)) == {"integration::tests/it/test_flow.py::test_flow",
                                           "unit::tests/test_b.py::test_new"}
    with_importer = select(flow, importers={"src/flow.py": {"tests/test_a.py"}})
    assert {"unit::tests/test_a.py::test_add", "unit::tests/test_a.py::test_sub"} <= selected_keys(with_importer)


def test_a_changed_function_that_ran_at_import_time_counts_as_module_level() -> None:
    selection = select(modified("src/calc.py", (20, 22)), importers={"src/calc.py": {"tests/test_a.py"}})
    assert {"unit::tests/test_a.py::test_add", "unit::tests/test_b.py::test_mul"} <= selected_keys(selection)


def test_new_and_modified_test_files_run_whole() -> None:
    selection = select(ChangedFile("tests/test_b.py", "modified", ((1, 1),), ((1, 1),)),
                       ChangedFile("tests/it/test_flow.py", "added", (), WHOLE_FILE))
    assert selection.reasons == {"unit::tests/test_b.py::test_mul": "modified_test_file",
                                 "unit::tests/test_b.py::test_new": "modified_test_file",
                                 "integration::tests/it/test_flow.py::test_flow": "new_test_file"}


def test_recent_failures_always_run() -> None:
    selection = select(recent={"unit::tests/test_a.py::test_add"})
    assert selection.reasons == {"unit::tests/test_a.py::test_add": "recent_failure",
                                 "unit::tests/test_b.py::test_new": "no_map_entry"}


def test_nothing_changed_selects_only_tests_without_an_entry() -> None:
    assert selected_keys(select()) == {"unit::tests/test_b.py::test_new"}


@pytest.mark.parametrize(("changed", "reason"), [
    (ChangedFile("tests/conftest.py", "modified", ((1, 1),), ((1, 1),)), "tests/conftest.py changed (conftest.py"),
    (ChangedFile("conftest.py", "added", (), WHOLE_FILE), "conftest.py changed (conftest.py"),
    (ChangedFile("pyproject.toml", "modified", ((1, 1),), ((1, 1),)), "pyproject.toml changed (not Python code"),
    (ChangedFile("requirements.txt", "modified", ((1, 1),), ((1, 1),)), "requirements.txt changed (not Python"),
    (ChangedFile("tests/data/input.json", "modified", ((1, 1),), ((1, 1),)), "tests/data/input.json changed"),
    (ChangedFile(".doorbell-ci/quarantine.toml", "modified", ((1, 1),), ((1, 1),)), ".doorbell-ci/quarantine.toml"),
    (ChangedFile("setup.py", "modified", ((1, 1),), ((1, 1),)), "setup.py modified, a Python file the map never"),
    (ChangedFile("src/migrations/0002.py", "added", (), WHOLE_FILE), "src/migrations/0002.py added, a Python file"),
    (ChangedFile("src/old.py", "deleted", (), WHOLE_FILE), "src/old.py deleted, a Python file the map never"),
    (ChangedFile("../shared/lib.py", "modified", ((1, 1),), ((1, 1),)),
     "../shared/lib.py changed, outside the project folder"),
])
def test_changes_coverage_cannot_see_run_everything(changed: ChangedFile, reason: str) -> None:
    selection = select(modified("src/calc.py", (7, 8)), changed)
    assert selection.full_run_reason is not None and selection.full_run_reason.startswith(reason)
    assert selection.count == selection.total == 5
    assert selection.deselected == []


def test_a_deleted_module_the_map_measured_selects_the_tests_that_ran_it() -> None:
    selection = select(ChangedFile("src/flow.py", "deleted", (), WHOLE_FILE))
    assert selection.full_run_reason is None
    assert "integration::tests/it/test_flow.py::test_flow" in selected_keys(selection)


def test_docs_are_ignored_and_the_patterns_are_configurable() -> None:
    docs = [ChangedFile(p, "modified", ((1, 1),), ((1, 1),)) for p in ("README.md", "docs/api/x.txt", "LICENSE")]
    selection = select(*docs)
    assert selection.full_run_reason is None and selection.ignored == ["README.md", "docs/api/x.txt", "LICENSE"]
    data = ChangedFile("fixtures/x.csv", "modified", ((1, 1),), ((1, 1),))
    assert select(data).full_run_reason is not None
    assert select(data, settings=SelectSettings(ignore=("fixtures/**",))).full_run_reason is None
    forced = select(modified("src/calc.py", (7, 8)), settings=SelectSettings(full_run=("src/calc.py",)))
    assert forced.full_run_reason == "src/calc.py changed (impact_full_run)"
    readme = select(docs[0], settings=SelectSettings(full_run=("*.md",)))
    assert readme.full_run_reason == "README.md changed (impact_full_run)"  # full_run beats the ignore list


def test_files_python_leaves_behind_are_not_changes() -> None:
    left = [ChangedFile(p, "added", (), WHOLE_FILE) for p in (
        "src/pkg/__pycache__/calc.cpython-311.pyc", "__pycache__/x.pyc", ".coverage", "tests/.coverage.host.1",
        "src/pkg.egg-info/PKG-INFO", ".pytest_cache/v/cache/nodeids")]
    selection = select(*left)
    assert selection.full_run_reason is None and len(selection.ignored) == 6


def test_patterns() -> None:
    assert matches("docs/a/b.txt", ["docs/**"]) and matches("a/b/c.md", ["*.md"])
    assert not matches("src/docs.py", ["docs/**"]) and not matches("sub/LICENSE", ["LICENSE*"])


def impact_doc(**overrides: object) -> dict:
    document = {"mode": "affected", "full_run_reason": None, "selected": 412, "total": 3120,
                "changed": [{"path": "src/doorbell/faces.py", "kind": "modified", "lines": [[40, 72]]}],
                "reasons": {"new_test_file": 3, "no_map_entry": 0}, "missed": []}
    document.update(overrides)
    return document


def test_summary_line() -> None:
    assert summary_line(impact_doc()) == "412 of 3,120 tests selected; changed src/doorbell/faces.py:40-72, 3 tests new"
    assert summary_line(impact_doc(full_run_reason="pyproject.toml changed")) == \
        "all 3,120 tests: pyproject.toml changed"
    audit = summary_line(impact_doc(mode="audit", missed=["unit::t"]))
    assert audit.startswith("selection would have missed 1 failing test(s); audit: all 3,120 tests ran")
    many = [{"path": f"f{i}.py", "kind": "added", "lines": []} for i in range(5)]
    assert summary_line(impact_doc(changed=many, reasons={})) == \
        "412 of 3,120 tests selected; changed f0.py (added), f1.py (added), f2.py (added) and 2 more"
    assert summary_line({"mode": "all", "recorded": {"tests": 10}}) == \
        "all tests (--select all); impact map recorded (10 tests)"


def test_a_failing_selection_costs_the_selection_not_the_run(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from types import SimpleNamespace

    from doorbell_ci.impact import stage

    def broken(*args: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(stage, "_select", broken)
    said: list[str] = []
    plan = SimpleNamespace(suites=())
    result = stage.select(plan, None, SimpleNamespace(select="affected"), SimpleNamespace(write=said.append))
    assert result.plan is plan  # everything runs
    assert result.impact["full_run_reason"] == "the selection failed (OSError: disk on fire); every test runs"
    assert said == ["==> impact: the selection failed (OSError: disk on fire); every test runs"]
    assert summary_line(result.impact) == "all tests: the selection failed (OSError: disk on fire); every test runs"
    run = SimpleNamespace(notices=[])
    monkeypatch.setattr(stage, "_after_run", broken)
    stage.after_run(result, plan, None, run)
    assert run.notices == ["impact: recording or auditing failed (OSError: disk on fire)"]


def test_doorbell_cis_own_files_inside_the_project_are_not_changes(tmp_path) -> None:
    from types import SimpleNamespace

    from doorbell_ci.impact.stage import _own_folders

    (tmp_path / "fetched").mkdir()
    config = SimpleNamespace(project=tmp_path, output_dir=tmp_path / "test-results", impact_map="maps/impact.json.gz",
                             history_from="fetched")
    assert _own_folders(config) == ("test-results/**", "maps/impact.json.gz", "fetched/**")
    outside = SimpleNamespace(project=tmp_path, output_dir=tmp_path.parent / "out", impact_map=None, history_from=None)
    assert _own_folders(outside) == ()


def test_an_unmeasured_file_next_to_a_suite_that_could_not_be_listed_names_the_collection_error() -> None:
    added = ChangedFile("tests/it/test_other.py", "added", (), WHOLE_FILE)
    assert select(added).full_run_reason == ("tests/it/test_other.py added, a Python file the map never measured "
                                             "and not a test file")
    selection = select_tests(the_map(), Changes("c" * 40, "d" * 40, [added]), {"unit": COLLECTED["unit"]}, set(),
                             SelectSettings(), None, unlisted=["integration"])
    assert selection.full_run_reason == (
        "the tests of integration could not be listed (a collection error? see logs/integration-collect.log), so "
        "tests/it/test_other.py (added) cannot be told from one of their test files; every test runs")
