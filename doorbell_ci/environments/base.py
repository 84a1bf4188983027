"""The environment protocol: prepare, the command for a suite, collect, clean up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from doorbell_ci.plan import Plan, PlannedSuite


def leftovers_report_name(suite: str) -> str:
    """Where a suite's watchdog inside a container reports the processes it ended (relative to the output folder)."""
    return f"logs/{suite}.leftovers.json"


@dataclass(frozen=True)
class SuiteCommand:
    """A process to start on the host: argv (never a shell string), extra env, working folder."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    inherit_env: bool = True  # start from the host's os.environ before applying env


class Environment(Protocol):
    """Where suites run. ``prepare`` must leave nothing behind if it fails half-way."""

    name: str

    def prepare(self, plan: Plan) -> None: ...

    def command(self, suite: PlannedSuite) -> SuiteCommand: ...

    def collect(self, suite: PlannedSuite) -> None:
        """Bring the suite's result files into the plan's output folder (a no-op for local)."""

    def cleanup(self) -> None:
        """Remove everything ``prepare`` made. Safe to call twice, or after a failed prepare."""

    def describe(self) -> dict[str, Any]:
        """What report.json records about this environment."""
        ...
