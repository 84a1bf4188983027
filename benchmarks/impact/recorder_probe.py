"""The recording plugin with parts of its work taken out, for recorder_cost.py (never shipped).

Loaded with ``-p recorder_probe`` instead of ``-p doorbell_ci.impact.plugin``, with
``DOORBELL_CI_IMPACT_RECORDER=contexts`` (the contexts recorder) and ``RECORDER_PROBE``:

- ``hooks``: every hook of the plugin, but no context switch at all: what the hooks cost;
- ``flush``: at every switch coverage's collector flushes its sets as it does on a context switch,
  but its SQLite writes are dropped: what coverage's in-memory bookkeeping costs, without the writes.

The data these runs leave is useless; only their time is of interest.
"""

from __future__ import annotations

import os
from typing import Any

from doorbell_ci.impact import plugin as _plugin
from doorbell_ci.impact.plugin import (  # noqa: F401 - the hooks pytest finds in this module
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_fixture_setup,
    pytest_runtest_protocol,
    pytest_runtestloop,
    pytest_unconfigure,
)

PROBE = os.environ.get("RECORDER_PROBE", "")


def _no_switch(cov: Any, context: str) -> Any:
    return None


def _flush_without_writes(cov: Any, context: str) -> Any:
    collector = cov._collector
    if not getattr(collector, "_recorder_probe", False):
        collector._recorder_probe = True
        data = collector.covdata
        data.add_lines = data.add_arcs = data.add_file_tracers = lambda *args: None
    collector.flush_data()
    return None


if PROBE == "hooks":
    _plugin._switch = _no_switch
elif PROBE == "flush":
    _plugin._switch = _flush_without_writes
