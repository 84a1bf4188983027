"""The generated test configuration: reference defaults, the project's template merged over them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doorbell_ci.environments import testconfig
from doorbell_ci.errors import ConfigError

PLACES = {"root": "/r", "data": "/r/data", "logs": "/r/logs", "config": "/r/config", "fixtures": "/r/fixtures",
          "home": "/r/home", "tmp": "/r/tmp", "project": "/p", "run_id": "RUN"}


def test_default_follows_the_reference_test_environment() -> None:
    document = testconfig.build({}, PLACES)
    assert document["database"]["path"] == "/r/data/doorbell.db"
    assert document["logging"] == {"level": "DEBUG", "file": "/r/logs/doorbell.log"}
    assert document["faces"] == {"tolerance": 0.6, "model": "hog", "known_dir": "/r/data/known_faces",
                                 "blacklist_dir": "/r/data/blacklist_faces"}
    assert document["hardware"] == {"mock_mode": True, "camera_enabled": False, "gpio_enabled": False}
    assert document["web"]["host"] == "127.0.0.1"


def test_template_overrides_and_extends_key_by_key() -> None:
    template = {"faces": {"tolerance": 0.45}, "web": {"port": 8081}, "telegram": {"token": "t-{run_id}"}}
    document = testconfig.build(template, PLACES)
    assert document["faces"]["tolerance"] == 0.45
    assert document["faces"]["model"] == "hog"  # untouched keys of a merged table survive
    assert document["web"] == {"host": "127.0.0.1", "port": 8081}
    assert document["telegram"] == {"token": "t-RUN"}


def test_a_non_table_value_replaces_a_table() -> None:
    assert testconfig.merge({"a": {"b": 1}}, {"a": 3}) == {"a": 3}


def test_merge_never_changes_the_default() -> None:
    testconfig.merge(testconfig.DEFAULT_TEST_CONFIG, {"faces": {"model": "cnn"}})
    assert testconfig.DEFAULT_TEST_CONFIG["faces"]["model"] == "hog"


def test_placeholders_in_lists_and_literal_braces() -> None:
    rendered = testconfig.render({"paths": ["{fixtures}/a.jpg", "{{not a placeholder}}"]}, PLACES)
    assert rendered == {"paths": ["/r/fixtures/a.jpg", "{not a placeholder}"]}


def test_unknown_placeholder_is_a_config_error_naming_where() -> None:
    with pytest.raises(ConfigError, match=r"test_config\.faces\.known_dir: unknown placeholder \{datta\}"):
        testconfig.build({"faces": {"known_dir": "{datta}/known"}}, PLACES)


def test_written_file_is_json_the_tests_can_read(tmp_path: Path) -> None:
    path = testconfig.write(testconfig.build({}, PLACES), tmp_path / "config" / "test.json")
    assert json.loads(path.read_text(encoding="utf-8"))["faces"]["tolerance"] == 0.6
