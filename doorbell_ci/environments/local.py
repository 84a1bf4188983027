"""The local environment: the host's Python, with a private temp tree per run.

Each run gets its own tree (see ``tree.py``): data, logs, config and fixtures folders, HOME,
TMPDIR and XDG folders, and a generated test configuration whose path the tests find in
``DOORBELL_CONFIG`` (or the variable the project names). Two runs on one machine, or a
developer's real home, never share a file. The tree is removed afterwards unless ``keep``
(``--keep-env``) is set, in which case its path is printed for debugging.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from doorbell_ci.config import Config
from doorbell_ci.environments.base import SuiteCommand
from doorbell_ci.environments.settings import TABLE, EnvironmentSettings, parse_settings
from doorbell_ci.environments.tree import EnvironmentTree, create_tree, remove_tree
from doorbell_ci.errors import EnvironmentError_
from doorbell_ci.plan import Plan, PlannedSuite, pytest_arguments, suite_environment


class LocalEnvironment:
    name = "local"

    def __init__(self, config: Config, keep: bool = False) -> None:
        self.config = config
        self.keep = keep or bool(getattr(config, "keep_env", False))
        self.settings: EnvironmentSettings = parse_settings(config.tables.get(TABLE))
        self.tree: EnvironmentTree | None = None
        self._plan: Plan | None = None

    @property
    def root(self) -> Path | None:
        return self.tree.root if self.tree is not None else None

    def prepare(self, plan: Plan) -> None:
        self._plan = plan
        try:
            self.tree = create_tree(plan.run_id, plan.project, self.settings)
        except OSError as error:
            raise EnvironmentError_(
                f"could not create the local test environment: {error}; check the temp folder's free space"
            ) from None

    def command(self, suite: PlannedSuite) -> SuiteCommand:
        assert self._plan is not None and self.tree is not None, "prepare() first"
        plan = self._plan
        env = {**self.tree.variables, **suite_environment(suite, plan.output_dir)}
        if suite.config.command is not None:
            return SuiteCommand(argv=list(suite.config.command), env=env, cwd=plan.project)
        args = pytest_arguments(suite, plan.project, plan.output_dir, plan.coverage_source)
        return SuiteCommand(argv=[sys.executable, "-m", "pytest", *args], env=env, cwd=plan.project)

    def collect(self, suite: PlannedSuite) -> None:
        return None  # the suites wrote straight into the output folder

    def cleanup(self) -> None:
        if self.tree is None:
            return
        if self.keep:
            print(f"doorbell-ci: kept the test environment at {self.tree.root} (--keep-env)", flush=True)
            return
        remove_tree(self.tree.root)
        self.tree = None

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "python": sys.executable,
            "python_version": sys.version.split()[0],
            "config_env_var": self.settings.config_env_var,
            "root": str(self.tree.root) if self.keep and self.tree is not None else None,
            "kept": self.keep,
        }
