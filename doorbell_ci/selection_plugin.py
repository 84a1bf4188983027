"""A pytest plugin, loaded with ``-p doorbell_ci.selection_plugin``, that selects tests by node id.

Sharding and flaky reruns hand pytest a list of node ids that can be thousands long; on the
command line that would hit argv length limits (32 KiB on Windows), so the ids go in a file:

* ``DOORBELL_CI_SELECTION_FILE=FILE``: keep only the collected tests whose node id is a line of FILE.
* ``DOORBELL_CI_COLLECTED=FILE``: write the node ids pytest ended up with, one a line (with
  ``--collect-only`` this is how sharding learns the suite's tests through any environment).

It runs after pytest's own ``-m``/``-k`` deselection, so a selection never widens a suite.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SELECT_ENV = "DOORBELL_CI_SELECTION_FILE"  # not DOORBELL_CI_SELECT, the `select` option's
COLLECTED_ENV = "DOORBELL_CI_COLLECTED"


def read_ids(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    select = os.environ.get(SELECT_ENV)
    if select:
        wanted = set(read_ids(Path(select)))
        kept = [item for item in items if item.nodeid in wanted]
        dropped = [item for item in items if item.nodeid not in wanted]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    collected = os.environ.get(COLLECTED_ENV)
    if collected and not hasattr(config, "workerinput"):  # the xdist controller (or a plain run) writes
        Path(collected).write_text("".join(item.nodeid + "\n" for item in items), encoding="utf-8")
