"""The local environment: the host's Python, with a private temp tree per run.

Each run gets its own HOME, TMPDIR and XDG folders inside a fresh temporary folder, so two runs
on one machine (or a developer's real home) never share files. The tree is removed afterwards
unless ``keep`` is set.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from doorbell_ci.config import Config
from doorbell_ci.environments.base import SuiteCommand
from doorbell_ci.errors import EnvironmentError_
from doorbell_ci.plan import Plan, PlannedSuite, pytest_arguments, suite_environment


class LocalEnvironment:
    name = "local"

    def __init__(self, config: Config, keep: bool = False) -> None:
        self.config = config
        self.keep = keep
        self.root: Path | None = None
        self._plan: Plan | None = None

    def prepare(self, plan: Plan) -> None:
        self._plan = plan
        try:
            self.root = Path(tempfile.mkdtemp(prefix=f"doorbell-ci-{plan.run_id}-"))
            for folder in ("home", "tmp", "xdg/config", "xdg/cache", "xdg/data", "xdg/state"):
                (self.root / folder).mkdir(parents=True)
        except OSError as error:
            self.cleanup()
            raise EnvironmentError_(f"could not create the local test environment: {error}") from None

    def _variables(self) -> dict[str, str]:
        assert self.root is not None, "prepare() first"
        tmp = str(self.root / "tmp")
        return {
            "HOME": str(self.root / "home"),
            "USERPROFILE": str(self.root / "home"),
            "TMPDIR": tmp,
            "TEMP": tmp,
            "TMP": tmp,
            "XDG_CONFIG_HOME": str(self.root / "xdg/config"),
            "XDG_CACHE_HOME": str(self.root / "xdg/cache"),
            "XDG_DATA_HOME": str(self.root / "xdg/data"),
            "XDG_STATE_HOME": str(self.root / "xdg/state"),
            "DOORBELL_CI_ENV_ROOT": str(self.root),
        }

    def command(self, suite: PlannedSuite) -> SuiteCommand:
        assert self._plan is not None, "prepare() first"
        plan = self._plan
        env = {**self._variables(), **suite_environment(suite, plan.output_dir)}
        if suite.config.command is not None:
            return SuiteCommand(argv=list(suite.config.command), env=env, cwd=plan.project)
        args = pytest_arguments(suite, plan.project, plan.output_dir, plan.coverage_source)
        return SuiteCommand(argv=[sys.executable, "-m", "pytest", *args], env=env, cwd=plan.project)

    def collect(self, suite: PlannedSuite) -> None:
        return None

    def cleanup(self) -> None:
        if self.root is not None and not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.name, "python": sys.executable, "root": str(self.root) if self.keep else None}
