"""libFuzzer harness for ``config.load_config``: only ConfigError may escape.

An input is a pyproject.toml, optionally followed by a line ``#ENV`` and ``NAME=value`` lines
that become the environment (``DOORBELL_CI_TIMEOUT=1e400``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).parent))
from _harness import run, scratch  # noqa: E402

with atheris.instrument_imports():
    from doorbell_ci.config import load_config
    from doorbell_ci.errors import ConfigError

PROJECT = scratch("config")
(PROJECT / "tests" / "unit").mkdir(parents=True)
(PROJECT / "tests" / "loop").symlink_to("loop")
(PROJECT / "tests" / "out").symlink_to("/")


def test_one_input(data: bytes) -> None:
    pyproject, _, env_lines = data.partition(b"\n#ENV\n")
    (PROJECT / "pyproject.toml").write_bytes(pyproject)
    environ = {}
    for line in env_lines.decode("utf-8", "replace").splitlines():
        name, _, value = line.partition("=")
        environ[name] = value
    try:
        config = load_config(PROJECT, environ=environ)
    except ConfigError:
        return
    root = PROJECT.resolve()
    for suite in config.suite_configs.values():
        for path in suite.paths:
            assert (root / path).resolve().is_relative_to(root), path


if __name__ == "__main__":
    run(test_one_input)
