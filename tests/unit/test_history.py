"""New versus known failures, and per-test history (doorbell_ci/analysis/history.py)."""

from __future__ import annotations

from doorbell_ci.analysis.history import classify, extend_history, flipping, previous_history
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult


def run_of(*outcomes: tuple[str, Outcome], flaky: set[str] | None = None) -> RunResult:
    tests = [TestResult(suite="unit", name=name, classname="tests.unit.test_a", file="tests/unit/test_a.py",
                        outcome=outcome, flaky=name in (flaky or set())) for name, outcome in outcomes]
    suite = SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=tests)
    return RunResult(run_id="r", project="/p", started_at="", finished_at="", duration=0.0, suites=[suite])


X = "unit::tests/unit/test_a.py::test_x"
Y = "unit::tests/unit/test_a.py::test_y"
Z = "unit::tests/unit/test_a.py::test_z"


def test_x_already_failing_is_still_failing_and_y_is_new() -> None:
    base = run_of(("test_x", Outcome.FAILED), ("test_y", Outcome.PASSED))
    head = run_of(("test_x", Outcome.FAILED), ("test_y", Outcome.FAILED))
    result = classify(head, base)
    assert result.still_failing == [X]
    assert result.new == [Y]
    assert result.fixed == []
    assert result.status_of(X) == "still failing" and result.status_of(Y) == "new"


def test_fixed_new_test_and_errors() -> None:
    base = run_of(("test_x", Outcome.ERROR), ("test_y", Outcome.PASSED))
    head = run_of(("test_x", Outcome.PASSED), ("test_y", Outcome.PASSED), ("test_z", Outcome.ERROR))
    result = classify(head, base)
    assert result.fixed == [X]
    assert result.new == [Z]  # a test the base run did not have is new when it fails
    assert result.still_failing == []


def test_history_grows_and_flags_a_flipping_test() -> None:
    history: dict[str, str] = {}
    for outcome in (Outcome.PASSED, Outcome.FAILED, Outcome.PASSED):
        history = extend_history(run_of(("test_x", outcome), ("test_y", Outcome.PASSED)).iter_tests(), history)
    assert history == {X: "PFP", Y: "PPP"}
    assert flipping(history) == {X: "PFP"}


def test_flaky_pass_is_its_own_letter_and_flags_the_test() -> None:
    history = extend_history(run_of(("test_x", Outcome.PASSED), flaky={"test_x"}).iter_tests(), {X: "PP"})
    assert history == {X: "PPK"}
    assert X in flipping(history)


def test_history_is_bounded_and_old_flips_age_out() -> None:
    history = {X: "F" + "P" * 30}
    extended = extend_history(run_of(("test_x", Outcome.PASSED)).iter_tests(), history)
    assert len(extended[X]) == 20
    assert flipping(extended) == {}


def test_previous_history_from_a_report_without_analysis() -> None:
    document = {"suites": [{"name": "unit", "tests": [
        {"name": "test_x", "classname": "tests.unit.test_a", "file": "tests/unit/test_a.py", "outcome": "failed"},
        {"name": "broken"},  # damaged entries are skipped, not fatal
    ]}]}
    assert previous_history(document) == {X: "F"}


def test_previous_history_ignores_garbage() -> None:
    assert previous_history({"analysis": {"history": {X: "PF", Y: "<script>", Z: 3}}}) == {X: "PF"}
    assert previous_history(None) == {}
