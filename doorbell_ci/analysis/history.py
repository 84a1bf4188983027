"""What earlier runs say about this one: new versus known failures, and per-test history.

``classify`` compares this run's failures with a base run (the base branch's last report.json):
a failure is *new* if the test did not fail there, *still failing* if it did; a test that failed
there and passes now is *fixed*. ``extend_history`` carries a short per-test outcome history from
the previous report.json forward, so a test that flips between runs is flagged even when no run
on its own shows anything odd.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from doorbell_ci.analysis.signatures import test_key
from doorbell_ci.results import Outcome, RunResult, TestResult, node_id

HISTORY_LENGTH = 20  # outcomes kept per test, oldest first
FLIP_WINDOW = 10  # a test is flipping if its last this-many outcomes hold both a pass and a failure
# One letter per outcome keeps the history small in report.json even for thousands of tests.
LETTERS = {Outcome.PASSED: "P", Outcome.FAILED: "F", Outcome.ERROR: "E", Outcome.SKIPPED: "S"}
FLAKY_LETTER = "K"
_FAILING = frozenset("FE")
_PASSING = frozenset("PK")
_KNOWN_LETTERS = frozenset("PFESK")


@dataclass
class Classification:
    new: list[str] = field(default_factory=list)  # keys failing now, not failing in the base run
    still_failing: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)  # failing in the base run, passing now

    def status_of(self, key: str) -> str | None:
        if key in self.new:
            return "new"
        if key in self.still_failing:
            return "still failing"
        return None


@dataclass(frozen=True)
class BaseRun:
    """What the classification needs of the run it compares with: its id and its failing tests' keys."""

    run_id: str
    failing: frozenset[str]

    @classmethod
    def of(cls, run: RunResult) -> BaseRun:
        return cls(run.run_id, frozenset(failing_keys(run)))

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> BaseRun:
        """From a report.json document (``json_report.read_document``), without a TestResult per test.

        KeyError, TypeError or ValueError when it is damaged where this reads it (the run's id, a
        suite's name, a test's name or outcome), as ``json_report.read`` would raise there.
        """
        from doorbell_ci.reports import json_report  # here: the reports package imports the analysis

        version = document.get("schema_version")
        passed_left_out = isinstance(version, int) and version >= 2  # as json_report.entry_outcome reads it
        failing = set()
        for suite in document["suites"]:
            name = suite["name"]
            for entry in suite["tests"]:
                if not isinstance(entry, dict):
                    raise TypeError(f"a test entry of suite {str(name)[:100]!r} is not an object")
                if passed_left_out and "outcome" not in entry:  # a passed test, most of them: nothing to read
                    continue
                if json_report.entry_outcome(document, entry) in (Outcome.FAILED, Outcome.ERROR):
                    file, classname = entry.get("file"), entry.get("classname", "")
                    nodeid = node_id(file if isinstance(file, str) else None, str(classname), str(entry["name"]))
                    failing.add(f"{name}::{nodeid}")  # signatures.test_key
        return cls(str(document["run"]["id"]), frozenset(failing))


def is_failing(test: TestResult) -> bool:
    return test.outcome in (Outcome.FAILED, Outcome.ERROR)


def failing_keys(run: RunResult) -> set[str]:
    return {test_key(test) for test in run.iter_tests() if is_failing(test)}


def classify(current: RunResult, base: RunResult | BaseRun) -> Classification:
    base_failing = base.failing if isinstance(base, BaseRun) else failing_keys(base)
    result = Classification()
    for test in current.iter_tests():
        key = test_key(test)
        if is_failing(test):
            (result.still_failing if key in base_failing else result.new).append(key)
        elif key in base_failing and test.outcome is Outcome.PASSED:
            result.fixed.append(key)
    return result


def letter(test: TestResult) -> str:
    if test.flaky and test.outcome is Outcome.PASSED:
        return FLAKY_LETTER
    return LETTERS[test.outcome]


def previous_history(previous: Mapping[str, Any] | None) -> dict[str, str]:
    """The history stored in a previous report.json's analysis, or one outcome per test of that run."""
    if not previous:
        return {}
    analysis = previous.get("analysis") or {}
    stored = analysis.get("history") if isinstance(analysis, dict) else None
    if isinstance(stored, dict):
        return {str(k): str(v)[-HISTORY_LENGTH:] for k, v in stored.items()
                if isinstance(v, str) and _KNOWN_LETTERS.issuperset(v)}
    from doorbell_ci.reports import json_report  # here: the reports package imports the analysis

    history: dict[str, str] = {}
    for suite in previous.get("suites") or []:
        for test in suite.get("tests") or [] if isinstance(suite, dict) else []:
            try:
                outcome = json_report.entry_outcome(previous, test)  # left out for a passed test (version 2)
                result = TestResult(suite=suite["name"], name=test["name"], classname=test.get("classname", ""),
                                    outcome=outcome, file=test.get("file"), flaky=test.get("flaky") is True)
            except (KeyError, TypeError, ValueError):
                continue
            history[test_key(result)] = letter(result)
    return history


def extend_history(tests: Iterable[TestResult], earlier: Mapping[str, str]) -> dict[str, str]:
    """This run's outcome appended to each test's earlier history (tests no longer present are dropped)."""
    extended = {}
    for test in tests:
        key = test_key(test)
        extended[key] = (earlier.get(key, "") + letter(test))[-HISTORY_LENGTH:]
    return extended


def flipping(history: Mapping[str, str]) -> dict[str, str]:
    """Tests whose recent history holds both a pass and a failure, or a flaky pass."""
    found = {}
    for key, outcomes in history.items():
        recent = set(outcomes[-FLIP_WINDOW:])
        if FLAKY_LETTER in recent or (recent & _FAILING and recent & _PASSING):
            found[key] = outcomes
    return found
