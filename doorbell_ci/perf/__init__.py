"""Performance regression testing: measure (plugin, measure), store (baselines), decide (stats), compare.

This package root stays light (no numpy or scipy import) because the pipeline and ``doorbell-ci report``
import it on every run; the statistics load only when there are benchmark results to compare.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def compare_stage(config: Any, plan: Any, result: Any) -> dict[str, Any] | None:
    """The pipeline's compare stage: fills nothing when no benchmark ran; problems become run notices.

    Any failure here (a missing git, a broken base commit, Ctrl-C during paired measurement) is a
    notice: the test results already obtained are never lost to the performance check.
    """
    from doorbell_ci.errors import DoorbellError

    if config.perf_mode == "off" or not _may_hold_samples(plan.output_dir / "perf"):
        return None  # no benchmark wrote samples: do not pay for importing numpy and scipy
    suite_args = {suite.name: [*suite.config.paths, *(["-m", suite.config.markers] if suite.config.markers else [])]
                  for suite in plan.suites if suite.config.is_pytest}
    perf_folder = plan.output_dir / "perf"  # compare.PERF_FOLDER, named here to keep numpy/scipy unloaded
    if not _may_hold_samples(perf_folder):
        return None  # no benchmark ran: skip the ~1 s import of the statistics on every plain run
    try:
        from doorbell_ci.perf.compare import compare

        performance, notices = compare(config, plan.output_dir, result.platform, suite_args)
    except (DoorbellError, OSError) as error:
        result.notices.append(f"performance: comparison skipped: {error}")
        return None
    except KeyboardInterrupt:
        result.notices.append("performance: comparison interrupted; timings were kept in perf/ but not compared")
        return None
    result.notices.extend(notices)
    return performance


def prepare_plan(config: Any, plan: Any) -> Any:
    """``--perf-metric instructions``: check Valgrind before any suite runs, and tell the suites' perf fixture.

    Asking for instruction counts on a machine that cannot produce them is an environment error
    (exit 3, one line) before anything runs, not an hour of suites followed by "no baseline".
    The metric reaches the fixture through ``DOORBELL_CI_PERF_METRIC`` in each pytest suite's env.
    """
    if config.perf_metric != "instructions" or config.perf_mode == "off":
        return plan
    from dataclasses import replace

    from doorbell_ci.errors import EnvironmentError_
    from doorbell_ci.perf import valgrind
    from doorbell_ci.perf.measure import METRIC_ENV

    ok, detail = valgrind.usable()
    if not ok:
        raise EnvironmentError_(f"--perf-metric instructions needs Valgrind: {detail}")
    suites = tuple(replace(suite, config=replace(suite.config, env={**suite.config.env, METRIC_ENV: "instructions"}))
                   if suite.config.is_pytest else suite for suite in plan.suites)
    return replace(plan, suites=suites)


def regression_exit(performance: dict[str, Any] | None) -> bool:
    """True when the run must exit with ExitCode.REGRESSION: asked for, and a confirmed regression found."""
    return bool(performance and performance.get("fail_on_regression") and performance.get("regressions"))


def _may_hold_samples(folder: Path) -> bool:
    """Whether a samples file is there; a folder the suites made unreadable says yes, so the comparison reports why.

    ``Path.glob`` would hide that (it yields nothing for an unreadable folder), and a regression gate
    would then switch itself off without a word.
    """
    try:
        with os.scandir(folder) as entries:
            return any(entry.name.endswith(".json") for entry in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True

