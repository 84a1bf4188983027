"""Sharded runs with recording and selection, merged: real git, real doorbell-ci runs, real pytest.

The map is recorded in two shards and joined by ``merge``; a change is then selected against the
joined map in two shards, and the merged report still says what was selected of how many.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from doorbell_ci.impact.impactmap import read_map
from tests.tooling import require_tool

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
MODULES = {f"src/mod{i}.py": f"def value():\n    return {i}\n" for i in range(4)}
TESTS = {f"tests/unit/test_mod{i}.py": f"from mod{i} import value\n\n\ndef test_value_{i}():\n"
         f"    assert value() == {i}\n" for i in range(4)}
PYPROJECT = "[project]\nname = 'x'\n\n[tool.pytest.ini_options]\npythonpath = ['src']\n"


def doorbell(project: Path, output: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DOORBELL_CI_", "GITHUB_"))}
    return subprocess.run([sys.executable, "-m", "doorbell_ci", *args, "--output-dir", str(output)], cwd=project,
                          env=environment, capture_output=True, text=True, timeout=600, check=False)


def run(project: Path, output: Path, *args: str) -> dict:
    done = doorbell(project, output, "run", "--project", str(project), "--suites", "unit", "--quiet",
                    "--no-history", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((output / "report.json").read_text(encoding="utf-8"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    require_tool("git", shutil.which("git") is not None, "apt-get install git")
    root = tmp_path / "proj"
    for path, text in {"pyproject.toml": PYPROJECT, **MODULES, **TESTS}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True, timeout=30)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, timeout=30)
    subprocess.run([*GIT, "commit", "-qm", "A"], cwd=root, check=True, timeout=30)
    return root


def test_shards_record_one_map_and_select_one_selection(project: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"  # outside the checkout, as separate CI jobs' artifacts would be
    for shard in (1, 2):
        report = run(project, results / f"record-{shard}", "--record-impact", "--shard", f"{shard}/2")
        assert report["impact"]["recorded"]["tests"] == 2  # each shard recorded its own half
    merged = doorbell(project, results / "recorded", "merge", str(results / "record-1"), str(results / "record-2"))
    assert merged.returncode == 0, merged.stdout + merged.stderr
    joined = read_map(results / "recorded" / "impact.json.gz")
    assert sorted(joined.tests) == ["unit::", *(f"unit::tests/unit/test_mod{i}.py::test_value_{i}" for i in range(4))]
    assert joined.tests["unit::"]["src/mod3.py"] == ((1, 1),)  # import-time lines of both shards, joined
    document = json.loads((results / "recorded" / "report.json").read_text(encoding="utf-8"))
    assert document["impact"]["recorded"]["tests"] == 4

    (project / "src" / "mod2.py").write_text("def value():\n    return 1 + 1\n", encoding="utf-8")
    subprocess.run([*GIT, "commit", "-qam", "B"], cwd=project, check=True, timeout=30)
    for shard in (1, 2):
        report = run(project, results / f"select-{shard}", "--select", "affected", "--impact-map",
                     str(results / "recorded" / "impact.json.gz"), "--shard", f"{shard}/2")
        assert (report["impact"]["selected"], report["impact"]["total"]) == (1, 4)  # the whole selection, once
    merged = doorbell(project, results / "selected", "merge", str(results / "select-1"), str(results / "select-2"))
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "selection: 1 of 4 tests selected; changed src/mod2.py:2" in merged.stdout
    document = json.loads((results / "selected" / "report.json").read_text(encoding="utf-8"))
    impact = document["impact"]
    assert (impact["selected"], impact["total"], impact["reasons"]["changed_code"]) == (1, 4, 1)
    assert sorted(impact["deselected"]) == [f"unit::tests/unit/test_mod{i}.py::test_value_{i}" for i in (0, 1, 3)]
    assert document["totals"]["tests"] == 1 and document["totals"]["passed"] == 1
    assert not any("merge:" in notice and "select" in notice for notice in document["notices"])
