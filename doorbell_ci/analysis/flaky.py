"""Flaky-test detection: rerun each failed test alone, and see whether it passes.

A test that failed in its suite and passes when rerun in isolation (its own pytest process,
nothing else selected) is *flaky*. It keeps its first failure's message and traceback, gets
``TestResult.flaky = True``, and counts as passed unless ``flaky_fails`` is set. Reruns happen
inside the run's environment (before cleanup), through the same ``Environment.command`` as the
suite, so a Docker run reruns in its container.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from doorbell_ci.analysis.history import is_failing
from doorbell_ci.analysis.signatures import test_key
from doorbell_ci.environments.base import Environment
from doorbell_ci.errors import CollectError
from doorbell_ci.execution import Console, container_leftovers, run_command
from doorbell_ci.plan import Plan, PlannedSuite
from doorbell_ci.results import Outcome, SuiteResult, SuiteStatus, read_junit

MAX_RERUN_TESTS = 20  # more failures than this look like a real breakage, not flakiness
# A rerun of one test gets ten times its first run, at least a minute, at most the suite's timeout:
# a test that hangs on its rerun must not hold the job for the whole suite timeout, once per attempt.
RERUN_TIMEOUT_FACTOR, MIN_RERUN_TIMEOUT = 10.0, 60.0


@dataclass
class Reruns:
    """Outcomes of the reruns, per test key ("suite::nodeid"), in attempt order."""

    max_reruns: int = 0
    attempts: dict[str, list[str]] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    def passed_on_rerun(self, key: str) -> bool:
        return Outcome.PASSED.value in self.attempts.get(key, [])


def rerun_failed(plan: Plan, environment: Environment, max_reruns: int, console: Console) -> Reruns:
    """Rerun every failed test of the plan's pytest suites alone, up to ``max_reruns`` times each."""
    reruns = Reruns(max_reruns=max_reruns)
    if max_reruns < 1:
        return reruns
    todo: list[tuple[PlannedSuite, str, str, float]] = []  # (suite, key, nodeid, seconds of the first run)
    for suite in plan.suites:
        if not suite.config.is_pytest:
            continue
        try:
            tests = read_junit(plan.output_dir / suite.junit_name, suite.name, plan.junit_max_bytes)
        except CollectError:
            continue  # a crashed or killed suite: its failures are not a flakiness question
        todo += [(suite, test_key(t), t.nodeid, t.duration) for t in tests if is_failing(t)]
    if len(todo) > MAX_RERUN_TESTS:
        reruns.notices.append(f"reruns: {len(todo)} tests failed, more than {MAX_RERUN_TESTS}; "
                              "none was rerun (that many failures is a breakage, not flakiness)")
        return reruns
    for index, (suite, key, nodeid, seconds) in enumerate(todo):
        outcomes = reruns.attempts.setdefault(key, [])
        timeout = min(suite.timeout, max(MIN_RERUN_TIMEOUT, RERUN_TIMEOUT_FACTOR * seconds))
        for attempt in range(1, max_reruns + 1):
            try:
                outcome = _rerun_once(plan, environment, replace(suite, timeout=timeout), nodeid,
                                      f"{suite.name}-rerun-{index}-{attempt}")
            except OSError as error:  # logs/ is writable by the suites: a test may have made it unusable
                outcome = "no result"
                reruns.notices.append(f"reruns: {nodeid} could not be rerun: {error.strerror or error}")
            outcomes.append(outcome)
            console.write(f"==> rerun {attempt}/{max_reruns} of {nodeid} ({suite.name}): {outcome}")
            if outcome in (Outcome.PASSED.value, "not found"):
                break
    return reruns


def _rerun_once(plan: Plan, environment: Environment, suite: PlannedSuite, nodeid: str, name: str) -> str:
    """One isolated run of one test: its outcome, or "timeout" / "no result" / "not found" when it could not tell."""
    rerun = replace(suite, name=name, workers=1, coverage=False, selection=f"logs/{name}.select")
    selection = plan.output_dir / rerun.selection
    selection.write_text(nodeid + "\n", encoding="utf-8")
    command = environment.command(rerun)
    execution = run_command(name, command, suite.timeout, plan.output_dir / rerun.log_name)
    environment.collect(rerun)
    container_leftovers(plan.output_dir, execution)  # what a rerun left in its container, named in the notices
    if execution.timed_out:
        return "timeout"
    try:
        tests = read_junit(plan.output_dir / rerun.junit_name, suite.name, plan.junit_max_bytes)
    except CollectError:
        return "no result"
    found = [t for t in tests if t.nodeid == nodeid]
    if not found:
        return "not found"
    return found[0].outcome.value


def apply(suites: list[SuiteResult], reruns: Reruns, flaky_fails: bool) -> list[str]:
    """Mark the tests that passed on a rerun flaky; unless ``flaky_fails``, they count as passed.

    A suite whose only failures were flaky becomes passed. Returns the keys marked flaky.
    """
    marked: list[str] = []
    for suite in suites:
        for test in suite.tests:
            key = test_key(test)
            if is_failing(test) and reruns.passed_on_rerun(key):
                test.flaky = True
                marked.append(key)
                if not flaky_fails:
                    test.outcome = Outcome.PASSED
        if suite.status is SuiteStatus.FAILED and not any(is_failing(t) for t in suite.tests):
            suite.status = SuiteStatus.PASSED
    return marked
