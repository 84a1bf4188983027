"""[tool.doorbell-ci.environment]: every key is understood or refused with a message naming it."""

from __future__ import annotations

import pytest

from doorbell_ci.environments.settings import DockerSettings, EnvironmentSettings, parse_settings
from doorbell_ci.errors import ConfigError


def test_empty_table_gives_the_defaults() -> None:
    settings = parse_settings(None)
    assert settings == EnvironmentSettings()
    assert settings.config_env_var == "DOORBELL_CONFIG"
    assert settings.docker == DockerSettings()
    assert settings.docker.base_image == "python:3.11-slim"


def test_full_table_is_parsed() -> None:
    settings = parse_settings({
        "config_file": "cfg/test.json",
        "config_env_var": "APP_CONFIG",
        "fixtures": "tests/data",
        "env": {"MODE": "test-{run_id}"},
        "test_config": {"web": {"port": 8081}, "extra": [1, "two", True]},
        "docker": {
            "memory": "512M", "cpus": 1.5, "pids": 256, "user": "root", "system_packages": ["libgl1", "ffmpeg"],
            "requirements": ["requirements.txt"], "project_read_only": False, "build_timeout": 60,
            "services": {"db": {"image": "postgres:16", "ready": ["pg_isready"], "ready_timeout": 30,
                                "env": {"POSTGRES_PASSWORD": "x"}, "command": ["postgres"]}},
        },
    })
    assert settings.config_file == "cfg/test.json"
    assert settings.env == {"MODE": "test-{run_id}"}
    assert settings.test_config["web"] == {"port": 8081}
    docker = settings.docker
    assert (docker.memory, docker.cpus, docker.pids, docker.user) == ("512m", 1.5, 256, "root")
    assert docker.system_packages == ("libgl1", "ffmpeg")
    assert docker.project_read_only is False
    (service,) = docker.services
    assert (service.name, service.image, service.ready, service.ready_timeout) == ("db", "postgres:16",
                                                                                   ("pg_isready",), 30.0)
    assert service.command == ("postgres",)


@pytest.mark.parametrize(
    ("table", "names"),
    [
        ({"colour": "red"}, "'colour'"),
        ({"docker": {"memroy": "1g"}}, "'memroy'"),
        ({"docker": {"services": {"db": {"imgae": "x"}}}}, "'imgae'"),
        ({"docker": {"memory": "lots"}}, "'memory'"),
        ({"docker": {"cpus": 0}}, "'cpus'"),
        ({"docker": {"pids": True}}, "'pids'"),
        ({"docker": {"services": {"Bad Name": {}}}}, "Bad Name"),
        ({"config_env_var": "1X"}, "'config_env_var'"),
        ({"config_file": "config.yaml"}, "'config_file'"),
        ({"env": {"A": 1}}, "'env'"),
        ({"test_config": "not a table"}, "'test_config'"),
    ],
)
def test_bad_values_name_the_key(table: dict, names: str) -> None:
    with pytest.raises(ConfigError, match=names.replace("(", r"\(")):
        parse_settings(table)


def test_toml_dates_cannot_go_into_a_json_config() -> None:
    import datetime

    with pytest.raises(ConfigError, match="test_config.when"):
        parse_settings({"test_config": {"when": datetime.date(2024, 1, 1)}})


def test_table_kind_selects_the_environment_and_typos_fail_at_load(tmp_path) -> None:  # noqa: ANN001
    from doorbell_ci.config import load_config

    (tmp_path / "pyproject.toml").write_text('[tool.doorbell-ci.environment]\nkind = "docker"\nfixtures = "fx"\n')
    config = load_config(tmp_path, environ={})
    assert (config.environment, config.origins["environment"]) == ("docker", "pyproject")
    assert parse_settings(config.tables["environment"]).fixtures == "fx"
    assert load_config(tmp_path, {"environment": "local"}, environ={}).environment == "local"  # CLI still wins
    (tmp_path / "pyproject.toml").write_text('[tool.doorbell-ci.environment]\nkind = "vagrant"\n')
    with pytest.raises(ConfigError, match="environment.kind"):
        load_config(tmp_path, environ={})
    (tmp_path / "pyproject.toml").write_text('[tool.doorbell-ci.environment.docker]\nmemroy = "1g"\n')
    with pytest.raises(ConfigError, match="unknown key 'memroy'"):
        load_config(tmp_path, environ={})
