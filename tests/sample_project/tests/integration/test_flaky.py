"""A test that is flaky on purpose, so doorbell-ci's retry and flake reporting can be shown.

With DOORBELL_SAMPLE_FLAKY_DIR set to a folder, the first run fails and leaves a marker file
there; every later run sees the marker and passes. Without the variable it always passes.
"""

from __future__ import annotations

import os
from pathlib import Path

from doorbell.app import DoorbellSystem
from doorbell.notify import MemorySender

MARKER = "doorbell-sample-flaky.marker"


def test_doorbell_notification_flaky_on_purpose(system: DoorbellSystem, sender: MemorySender) -> None:
    system.ring()
    delivered_first_time = True
    folder = os.environ.get("DOORBELL_SAMPLE_FLAKY_DIR")
    if folder:
        marker = Path(folder) / MARKER
        delivered_first_time = marker.exists()
        if not delivered_first_time:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("the first run failed on purpose; the next run will pass\n")
    assert delivered_first_time, "push notification lost (flaky on purpose: passes when re-run)"
    assert len(sender.sent) == 1
