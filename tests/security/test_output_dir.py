"""An output folder can never remove the project's files (issue 12, item 13).

Two mechanisms, attacked in several forms: ``config._check_output_overlap`` refuses an output
folder that is, holds or lies inside a folder the project uses (compared by device and inode when
it exists, so links, bind mounts and other spellings are caught), and ``output_folder.claim`` /
``clear`` empty only a folder doorbell-ci marked as its own (or adopted while it was empty).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from doorbell_ci import output_folder
from doorbell_ci.config import load_config
from doorbell_ci.errors import ConfigError


def _project(tmp_path: Path, table: str = "") -> Path:
    """A project whose folders hold files a careless run would delete (tests/logs is a real folder name)."""
    project = tmp_path / "project"
    for folder in ("tests/unit", "tests/logs", "tests/junit", "src/app/logs", "src/app/coverage", "lib/cov/perf",
                   "baselines/logs"):
        (project / folder).mkdir(parents=True, exist_ok=True)
        (project / folder / "keep.txt").write_text("project file\n")
    (project / "src" / "app" / "__init__.py").write_text("")
    (project / "tests" / "unit" / "test_ok.py").write_text("def test_ok():\n    pass\n")
    (project / "pyproject.toml").write_text("[tool.doorbell-ci]\n" + table)
    return project


def _files(project: Path) -> set[str]:
    return {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}


def _refused(project: Path, cli: dict | None = None, environ: dict | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(project, cli or {}, environ=environ or {})
    text = str(caught.value)
    assert "output_dir" in text and "\n" not in text, text
    return text


@pytest.mark.parametrize("spelling", [
    "tests", "tests/", "tests/unit", "./tests//unit/", "src/app", "src/app/", "src", "src/app/logs",
    "build/../tests", "tests/unit/../../src/app", "baselines", "lib/cov", ".git", "tests/fixtures/x/..",
])
def test_an_output_folder_on_a_project_folder_is_refused_in_every_spelling(tmp_path: Path, spelling: str) -> None:
    project = _project(tmp_path, 'coverage_source = ["lib/cov"]\n')
    (project / ".git").mkdir()
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (project / "tests" / "fixtures").mkdir()
    before = _files(project)
    _refused(project, {"output_dir": spelling})
    _refused(project, {"output_dir": str(project / spelling)})  # absolute
    assert _files(project) == before


@pytest.mark.parametrize("source", ["pyproject", "environment", "command line"])
def test_every_source_is_checked(tmp_path: Path, source: str) -> None:
    project = _project(tmp_path, 'output_dir = "src/app"\n' if source == "pyproject" else "")
    if source == "environment":
        text = _refused(project, environ={"DOORBELL_CI_OUTPUT_DIR": "tests"})
    elif source == "command line":  # also the action: its output-dir input becomes --output-dir
        text = _refused(project, {"output_dir": "tests/unit"})
    else:
        text = _refused(project)
    assert source in text


def test_a_symlink_into_the_project_is_followed_to_what_it_names(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "results").symlink_to(project / "tests")
    (tmp_path / "elsewhere").symlink_to(project / "src" / "app", target_is_directory=True)
    assert "'results' (that is 'tests') is the project's tests/ folder" in _refused(project, {"output_dir": "results"})
    assert "package folder src/app" in _refused(project, {"output_dir": str(tmp_path / "elsewhere")})


def test_another_name_for_the_same_folder_is_caught_by_its_inode(tmp_path: Path) -> None:
    """A bind mount stands for every other spelling (case on macOS and Windows): not a path, the same folder."""
    project = _project(tmp_path)
    alias = tmp_path / "alias"
    alias.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(project / "tests"), str(alias)], capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"bind mount not permitted here: {mounted.stderr.decode().strip()}")
    try:
        assert os.path.realpath(alias) == str(alias)  # nothing for a path comparison to see
        assert "is the project's tests/ folder" in _refused(project, {"output_dir": str(alias)})
        assert "lies inside" in _refused(project, {"output_dir": str(alias / "logs")})
    finally:
        subprocess.run(["umount", str(alias)], check=True)


def test_a_real_run_into_a_project_folder_removes_nothing(tmp_path: Path) -> None:
    project = _project(tmp_path)
    before = _files(project)
    for spelling in ("tests", "src/app", "tests/unit/"):
        done = subprocess.run([sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--output-dir",
                               spelling, "--no-coverage"], capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 2, done.stdout + done.stderr
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        assert len(lines) == 1 and "output_dir" in lines[0], lines
    assert _files(project) == before


def test_an_empty_folder_inside_a_project_folder_is_accepted_and_marked(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "tests" / "results").mkdir()
    done = subprocess.run([sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--output-dir",
                           "tests/results", "--no-coverage", "--suites", "unit"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert output_folder.is_ours(project / "tests" / "results")
    assert (project / "tests" / "results" / "report.json").is_file()
    load_config(project, {"output_dir": "tests/results"}, environ={})  # ours now: accepted again


def test_a_folder_that_is_not_ours_is_never_emptied_wherever_it_is(tmp_path: Path) -> None:
    """Outside the project's folders too (docs/, /srv/x): the run refuses before removing anything."""
    project = _project(tmp_path)
    for target in (project / "docs", tmp_path / "outside"):
        (target / "logs").mkdir(parents=True)
        (target / "logs" / "keep.txt").write_text("not ours\n")
        (target / "perf").mkdir()
        done = subprocess.run([sys.executable, "-m", "doorbell_ci", "run", "--project", str(project),
                               "--output-dir", str(target), "--no-coverage"],
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "did not write" in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert (target / "logs" / "keep.txt").read_text() == "not ours\n" and (target / "perf").is_dir()


def test_merge_into_a_folder_that_is_not_ours_removes_nothing(tmp_path: Path) -> None:
    from doorbell_ci.reports import json_report
    from tests.unit._report_samples import sample_run

    json_report.write(sample_run(), tmp_path / "shard1")
    target = tmp_path / "mine"
    (target / "shards").mkdir(parents=True)
    (target / "shards" / "keep.txt").write_text("not ours\n")
    done = subprocess.run([sys.executable, "-m", "doorbell_ci", "merge", str(tmp_path / "shard1"), "--output-dir",
                           str(target)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2 and "did not write" in done.stderr, done.stdout + done.stderr
    assert (target / "shards" / "keep.txt").is_file()


def test_results_of_an_earlier_version_are_adopted(tmp_path: Path) -> None:
    from doorbell_ci.reports import json_report
    from tests.unit._report_samples import sample_run

    folder = tmp_path / "test-results"
    json_report.write(sample_run(), folder)
    (folder / "junit").mkdir()
    (folder / "junit" / "old.xml").write_text("<testsuites/>")
    output_folder.claim(folder)
    output_folder.clear(folder, ("junit", "logs"))
    assert output_folder.is_ours(folder) and list((folder / "junit").iterdir()) == []


def test_clearing_removes_a_link_never_what_it_points_to(tmp_path: Path) -> None:
    folder, outside = tmp_path / "out", tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("x")
    output_folder.claim(folder)
    (folder / "logs").symlink_to(outside, target_is_directory=True)
    (folder / "junit").mkdir()
    (folder / "junit" / "link").symlink_to(outside, target_is_directory=True)
    output_folder.clear(folder, ("logs", "junit"))
    assert (outside / "keep.txt").read_text() == "x"
    assert (folder / "logs").is_dir() and not (folder / "logs").is_symlink()


def test_a_marker_that_is_a_link_does_not_make_a_folder_ours(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "file.txt").write_text("x")
    (tmp_path / "real-marker").write_text("")
    (folder / output_folder.MARKER).symlink_to(tmp_path / "real-marker")
    with pytest.raises(ConfigError, match="did not write"):
        output_folder.claim(folder)
    with pytest.raises(ConfigError):
        output_folder.clear(folder, ("junit",))
    assert (folder / "file.txt").is_file()
