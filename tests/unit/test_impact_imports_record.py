"""The static import closure (module-level changes) and the recording from real coverage data."""

from __future__ import annotations

from pathlib import Path

import coverage

from doorbell_ci.impact.impactmap import read_map, write_map
from doorbell_ci.impact.imports import conftests_for, importers, module_names
from doorbell_ci.impact.record import Recording, build_map, read_fixture_uses, read_spawned, read_suite, test_of


def write(root: Path, files: dict[str, str]) -> list[str]:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return list(files)


def test_module_names_cover_every_source_root() -> None:
    assert module_names("src/pkg/calc.py") == ["src.pkg.calc", "pkg.calc", "calc"]
    assert module_names("src/pkg/__init__.py") == ["src.pkg", "pkg"]


def test_importers_follow_imports_through_modules_packages_and_conftests(tmp_path: Path) -> None:
    files = write(tmp_path, {
        "src/pkg/__init__.py": "from .core import run\n",
        "src/pkg/core.py": "from pkg import settings\n\ndef run():\n    return settings.LIMIT\n",
        "src/pkg/settings.py": "LIMIT = 3\n",
        "src/other.py": "X = 1\n",
        "src/lazy.py": "def f():\n    import other\n    return other.X\n",
        "tests/test_run.py": "import pkg\n",
        "tests/test_lazy.py": "from lazy import f\n",
        "tests/test_plain.py": "def test_x():\n    pass\n",
        "tests/sub/conftest.py": "from pkg.settings import LIMIT\n",
        "tests/sub/test_fixture_user.py": "def test_y():\n    pass\n",
        "tests/test_relative.py": "from .helpers import value\n",
        "tests/helpers.py": "import other\nvalue = 1\n",
        "tests/test_broken.py": "def broken(:\n",
    })
    tests = [f for f in files if f.rsplit("/", 1)[-1].startswith("test_")]
    reached = importers(tmp_path, files, tests, {"src/pkg/settings.py"})
    # test_broken.py does not parse: it counts as importing anything
    assert reached == {"tests/test_run.py", "tests/sub/test_fixture_user.py", "tests/test_broken.py"}
    assert importers(tmp_path, files, tests, {"src/other.py"}) == {
        "tests/test_lazy.py", "tests/test_relative.py", "tests/test_broken.py"}
    # a deleted module is still found by the names that import it
    assert "tests/test_lazy.py" in importers(tmp_path, [*files, "src/gone.py"], tests, {"src/lazy.py"})
    assert conftests_for("tests/sub/test_a.py", {"tests/sub/conftest.py", "conftest.py", "x/conftest.py"}) == [
        "tests/sub/conftest.py", "conftest.py"]


def test_contexts_name_the_test_and_drop_the_phase() -> None:
    assert test_of("tests/a.py::test_x|run") == "tests/a.py::test_x"
    assert test_of("tests/a.py::T::test_y[1|2]|setup") == "tests/a.py::T::test_y[1|2]"
    assert test_of("") == ""
    assert test_of("doorbell-ci-fixture:tests::db") is None


def test_a_map_is_built_from_real_coverage_data_with_contexts(tmp_path: Path) -> None:
    project = tmp_path
    write(project, {"src/m.py": "def a():\n    return 1\n\n\ndef b():\n    return 2\n", "src/empty.py": ""})
    data = coverage.CoverageData(basename=str(tmp_path / ".coverage.unit"))
    source = str(project / "src" / "m.py")
    data.set_context("")
    data.add_lines({source: [1, 5], str(project / "src" / "empty.py"): [0]})
    data.set_context("tests/t.py::test_a|run")
    data.add_lines({source: [2]})
    data.set_context("tests/t.py::test_b|setup")
    data.add_lines({source: [6]})
    data.set_context("doorbell-ci-fixture:tests::db")
    data.add_lines({source: [2]})
    data.set_context("tests/t.py::test_c|run")
    data.add_lines({"/elsewhere/site-packages/lib.py": [1]})
    data.write()
    uses = tmp_path / "unit.impact-fixtures.gw0"
    uses.write_text('{"test": "tests/t.py::test_b", "fixtures": ["tests::db"]}\nnot json\n', encoding="utf-8")

    recording = Recording()
    read_suite(recording, "unit", tmp_path / ".coverage.unit", project)
    read_fixture_uses(recording, "unit", [uses])
    built = build_map(recording, project, "ab" * 20, False, "key",
                      ran=["unit::tests/t.py::test_a", "unit::tests/t.py::test_b", "unit::tests/t.py::test_d"],
                      unsure=["unit::tests/t.py::test_c"])
    assert built.files.keys() == {"src/m.py", "src/empty.py"}  # nothing outside the project
    assert built.tests == {
        "unit::": {"src/m.py": ((1, 1), (5, 5))},  # import time (line 0 of the empty module dropped)
        "unit::tests/t.py::test_a": {"src/m.py": ((2, 2),)},
        "unit::tests/t.py::test_b": {"src/m.py": ((2, 2), (6, 6))},  # its own setup and the shared fixture's
        "unit::tests/t.py::test_d": {},  # ran, executed nothing measured
    }  # test_c was skipped or errored: no entry, so it always runs
    assert recording.suites == ["unit"]
    write_map(built, tmp_path / "impact.json.gz")
    assert read_map(tmp_path / "impact.json.gz").tests == built.tests


COMPLETE = '{"complete": true}\n'  # LineRecorder's last line


def test_a_map_is_built_from_the_recorders_lines_files(tmp_path: Path) -> None:
    project = tmp_path
    write(project, {"src/m.py": "def a():\n    return 1\n\n\ndef b():\n    return 2\n", "src/empty.py": ""})
    source, empty = str(project / "src" / "m.py"), str(project / "src" / "empty.py")
    data = coverage.CoverageData(basename=str(tmp_path / ".coverage.unit"))
    data.add_lines({source: [1, 2, 5, 6], empty: [0]})  # no contexts: the project's data, as without recording
    data.write()
    worker0, worker1 = tmp_path / "unit.impact-fixtures.gw0.lines", tmp_path / "unit.impact-fixtures.gw1.lines"
    worker0.write_text(
        f'{{"context": "", "lines": {{"{source}": [[1, 1], [5, 5]]}}}}\n'
        f'{{"context": "tests/t.py::test_b", "lines": {{"{source}": [[6, 6]]}}}}\n'
        f'{{"context": "doorbell-ci-fixture:tests::db", "lines": {{"{source}": [[2, 2]]}}}}\n'
        f'{{"context": "tests/t.py::test_b", "lines": {{"/elsewhere/lib.py": [[1, 9]]}}}}\n{COMPLETE}',
        encoding="utf-8")
    worker1.write_text(f'{{"context": "tests/t.py::test_a", "lines": {{"{source}": [[2, 2]]}}}}\n{COMPLETE}',
                       encoding="utf-8")
    uses = tmp_path / "unit.impact-fixtures.gw0"
    uses.write_text('{"test": "tests/t.py::test_b", "fixtures": ["tests::db"]}\n', encoding="utf-8")

    recording = Recording()
    read_suite(recording, "unit", tmp_path / ".coverage.unit", project, [worker0, worker1])
    read_fixture_uses(recording, "unit", [uses])
    built = build_map(recording, project, "ab" * 20, False, "key", ran=["unit::tests/t.py::test_a",
                                                                        "unit::tests/t.py::test_b"])
    assert built.files.keys() == {"src/m.py", "src/empty.py"}  # measured: from the coverage data
    assert built.tests == {
        "unit::": {"src/m.py": ((1, 1), (5, 5))},
        "unit::tests/t.py::test_a": {"src/m.py": ((2, 2),)},
        "unit::tests/t.py::test_b": {"src/m.py": ((2, 2), (6, 6))},
    }
    assert recording.suites == ["unit"] and not recording.notices

    damaged = tmp_path / "unit.impact-fixtures.gw2.lines"
    damaged.write_text(f'{{"context": "tests/t.py::test_c", "lines": {{"{source}": [[1, 1]]}}}}\n{{"context": 3}}\n'
                       f'{COMPLETE}', encoding="utf-8")
    crashed = tmp_path / "unit.impact-fixtures.gw3.lines"  # a worker that died: no last line
    crashed.write_text(f'{{"context": "tests/t.py::test_c", "lines": {{"{source}": [[1, 1]]}}}}\n', encoding="utf-8")
    for file, problem in ((damaged, "gw2.lines line 2 is not a context and its lines"),
                          (crashed, "gw3.lines is incomplete")):
        other = Recording()
        read_suite(other, "other", tmp_path / ".coverage.unit", project, [worker1, file])
        assert other.suites == [] and not other.lines  # no partial entries: the suite's tests always run
        assert problem in other.notices[0]


def test_data_without_contexts_or_damaged_costs_only_that_suite(tmp_path: Path) -> None:
    data = coverage.CoverageData(basename=str(tmp_path / ".coverage.plain"))
    data.add_lines({str(tmp_path / "m.py"): [1]})
    data.write()
    (tmp_path / "m.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / ".coverage.broken").write_bytes(b"SQLite format 3\x00" + b"\xff" * 500)
    recording = Recording()
    read_suite(recording, "plain", tmp_path / ".coverage.plain", tmp_path)
    read_suite(recording, "broken", tmp_path / ".coverage.broken", tmp_path)
    assert recording.suites == []
    assert "no per-test contexts" in recording.notices[0]
    assert "broken's coverage data could not be read" in recording.notices[1]


def test_without_the_fixture_lists_every_test_gets_every_shared_fixture(tmp_path: Path) -> None:
    recording = Recording()
    recording.lines["unit::t.py::test_a"]["m.py"].add(2)
    recording.fixture_lines["unit::tests::db"]["m.py"].add(9)
    recording.measured.add("m.py")
    (tmp_path / "m.py").write_text("x\n" * 10, encoding="utf-8")
    read_fixture_uses(recording, "unit", [])  # the plugin wrote nothing
    built = build_map(recording, tmp_path, "", False, "k", ran=["unit::t.py::test_a", "unit::t.py::test_b"])
    assert built.tests == {"unit::t.py::test_a": {"m.py": ((2, 2), (9, 9))}, "unit::t.py::test_b": {"m.py": ((9, 9),)}}


def test_tests_that_start_a_process_get_no_entry(tmp_path: Path) -> None:
    recording = Recording()
    for key in ("unit::t.py::test_a", "unit::t.py::test_b", "unit::t.py::test_c"):
        recording.lines[key]["m.py"].add(2)
    recording.measured.add("m.py")
    (tmp_path / "m.py").write_text("x\n" * 3, encoding="utf-8")
    uses = tmp_path / "unit.impact-fixtures.main"
    uses.write_text('{"test": "t.py::test_b", "fixtures": ["tests::server"]}\n', encoding="utf-8")
    spawned = tmp_path / "unit.impact-fixtures.main.spawned"
    spawned.write_text('{"spawned": "t.py::test_a"}\n{"spawned": "doorbell-ci-fixture:tests::server"}\n',
                       encoding="utf-8")
    read_fixture_uses(recording, "unit", [uses])
    read_spawned(recording, "unit", [spawned])
    built = build_map(recording, tmp_path, "", False, "k", ran=["unit::t.py::test_a", "unit::t.py::test_c"])
    assert set(built.tests) == {"unit::t.py::test_c"}  # a: started a process; b: its shared fixture did
