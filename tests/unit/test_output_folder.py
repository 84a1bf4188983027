"""output_folder: which folders doorbell-ci may empty (the attacks are in tests/security/test_output_dir.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from doorbell_ci import output_folder
from doorbell_ci.errors import ConfigError


def test_a_new_folder_is_created_and_marked(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b"
    output_folder.claim(folder)
    assert output_folder.is_ours(folder)
    output_folder.claim(folder)  # ours: claiming again changes nothing
    assert sorted(p.name for p in folder.iterdir()) == [output_folder.MARKER]


def test_an_empty_folder_is_adopted_and_a_full_one_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    output_folder.claim(tmp_path / "empty")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="did not write"):
        output_folder.claim(tmp_path / "full")
    assert not output_folder.is_ours(tmp_path / "full")


def test_clear_recreates_the_result_folders_empty(tmp_path: Path) -> None:
    output_folder.claim(tmp_path)
    (tmp_path / "junit").mkdir()
    (tmp_path / "junit" / "old.xml").write_text("<x/>")
    (tmp_path / "report.json").write_text("{}")
    output_folder.clear(tmp_path, ("junit", "logs"))
    assert list((tmp_path / "junit").iterdir()) == [] and (tmp_path / "logs").is_dir()
    assert (tmp_path / "report.json").is_file()  # only the named folders are touched


def test_overlap_names_the_relation(tmp_path: Path) -> None:
    used = tmp_path / "tests"
    (used / "unit").mkdir(parents=True)
    folders = [(used.resolve(), "tests")]
    assert output_folder.overlap(used, folders)[0][0] == "is"
    assert output_folder.overlap(tmp_path, folders)[0][0] == "holds"
    assert output_folder.overlap(used / "unit", folders)[0][0] == "inside"
    assert output_folder.overlap(used / "new" / "deeper", folders)[0][0] == "inside"  # not made yet
    assert output_folder.overlap(tmp_path / "test-results", folders) == []
