"""Config loading: defaults, DOORBELL_CONFIG, both file formats, and loud errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doorbell.config import ENV_VAR, Config, ConfigError, load_config


def test_defaults_apply_without_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    config = load_config()
    assert config == Config()
    assert (config.face_tolerance, config.face_model, config.mock_mode) == (0.6, "hog", True)


def test_toml_file_from_env_var_overrides_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "doorbell.toml"
    path.write_text('[faces]\ntolerance = 0.45\nmodel = "cnn"\n\n[hardware]\nmock_mode = true\n')
    monkeypatch.setenv(ENV_VAR, str(path))
    config = load_config()
    assert (config.face_tolerance, config.face_model) == (0.45, "cnn")
    assert config.database_path == Config().database_path


def test_json_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "doorbell.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps({"database": {"path": "db/events.db"}, "logging": {"file": "/var/log/door.log"}})
    )
    config = load_config(path)
    assert config.database_path == tmp_path / "conf" / "db" / "events.db"
    assert config.log_file == Path("/var/log/door.log")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"faces": {"tolerence": 0.5}}, "unknown key faces.tolerence"),
        ({"faces": {"tolerance": 1.5}}, "tolerance must be between 0 and 1"),
    ],
)
def test_bad_settings_are_rejected(
    tmp_path: Path, document: dict[str, dict[str, object]], message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_config_named_by_env_var_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(environ={ENV_VAR: str(tmp_path / "nope.toml")})
