"""Hostile [tool.doorbell-ci.environment] tables and hostile temp folders.

A project's pyproject is input we do not control (a fork's pull request can change it): a
template must not reach Python objects, paths must not climb out of their folders, package and
service names must not smuggle shell syntax into the Dockerfile, and ``env cleanup`` must never
remove anything that is not provably one of our dead trees.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from doorbell_ci.environments import testconfig
from doorbell_ci.environments.settings import parse_settings
from doorbell_ci.environments.tree import OWNER_FILE, create_tree, orphaned_trees, remove_tree
from doorbell_ci.errors import ConfigError

PLACES = {name: f"/r/{name}" for name in testconfig.PLACEHOLDERS}


@pytest.mark.parametrize("template", ["{root.__class__}", "{root[0]}", "{run_id!r}", "{__import__}", "{}"])
def test_templates_cannot_reach_python_objects(template: str) -> None:
    with pytest.raises(ConfigError, match="unknown placeholder"):
        testconfig.render({"value": template}, PLACES)


@pytest.mark.parametrize(
    "table",
    [
        {"config_file": "../../escape.json"},
        {"config_file": "/etc/doorbell.json"},
        {"config_file": "C:/Windows/doorbell.json"},
        {"fixtures": "../other-project/fixtures"},
        {"docker": {"dockerfile": "../../Dockerfile"}},
        {"docker": {"requirements": ["/etc/shadow"]}},
        {"docker": {"system_packages": ["curl; rm -rf /"]}},
        {"docker": {"system_packages": ["$(id)"]}},
        {"docker": {"services": {"db;rm": {"image": "x"}}}},
        {"docker": {"services": {"../db": {"image": "x"}}}},
        {"env": {"A=B": "x"}},
        {"env": {"PATH\nX": "x"}},
        {"config_env_var": "DOORBELL CONFIG"},
        {"test_config": {"x": "nul\x00byte"}},
    ],
)
def test_hostile_settings_are_refused(table: dict) -> None:
    if "test_config" in table:  # a NUL byte is legal JSON; it is simply written escaped
        document = testconfig.build(parse_settings(table).test_config, PLACES)
        assert json.loads(json.dumps(document))["x"] == "nul\x00byte"
        return
    with pytest.raises(ConfigError):
        parse_settings(table)


def test_fixture_symlinks_are_copied_as_links_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    project = tmp_path / "project"
    (project / "tests" / "fixtures").mkdir(parents=True)
    (project / "tests" / "fixtures" / "leak.txt").symlink_to(secret)
    tree = create_tree("RUN", project, parse_settings(None), parent=tmp_path)
    try:
        copied = tree.root / "fixtures" / "leak.txt"
        assert copied.is_symlink()
        assert not any(p.is_file() and not p.is_symlink() and p.read_text() == "top secret"
                       for p in tree.root.rglob("*"))
    finally:
        remove_tree(tree.root)
    assert secret.read_text() == "top secret"  # removing the tree never follows the link


def test_cleanup_ignores_folders_that_are_not_provably_ours(tmp_path: Path) -> None:
    dead_owner = json.dumps({"run_id": "X", "pid": os.getpid(), "create_time": 1.0})
    victim = tmp_path / "important"
    victim.mkdir()
    (victim / OWNER_FILE).write_text(dead_owner)
    (tmp_path / "doorbell-ci-symlink").symlink_to(victim)  # a link posing as a tree
    (tmp_path / "doorbell-ci-no-owner").mkdir()  # a folder without our owner file
    garbled = tmp_path / "doorbell-ci-garbled"
    garbled.mkdir()
    (garbled / OWNER_FILE).write_text("{not json")
    wrong_types = tmp_path / "doorbell-ci-types"
    wrong_types.mkdir()
    (wrong_types / OWNER_FILE).write_text(json.dumps({"pid": "1; rm -rf /", "create_time": []}))
    assert orphaned_trees(tmp_path) == []


def test_remove_tree_handles_read_only_folders_a_test_left(tmp_path: Path) -> None:
    tree = create_tree("RUN", tmp_path, parse_settings(None), parent=tmp_path)
    locked = tree.root / "data" / "locked"
    locked.mkdir()
    (locked / "file").write_text("x")
    locked.chmod(0o500)
    remove_tree(tree.root)
    assert not tree.root.exists()
