"""The analysis section of report.json and its renderings (doorbell_ci/analysis/__init__.py, render.py)."""

from __future__ import annotations

from doorbell_ci.analysis import analyse, render
from doorbell_ci.analysis.flaky import Reruns, apply
from doorbell_ci.reports import markdown
from doorbell_ci.reports.text import closing_line
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult

TRACE = ("def test():\n>       check()\n\ntests/unit/test_a.py:7: in test\n    check()\n"
         "E   ValueError: tolerance 1.7 out of range\n\nsrc/doorbell/faces.py:61: ValueError")


def make_run(**outcomes: Outcome) -> RunResult:
    tests = [TestResult(suite="unit", name=name, classname="tests.unit.test_a", file="tests/unit/test_a.py", line=3,
                        outcome=outcome, message="ValueError: tolerance 1.7 out of range" if outcome is not
                        Outcome.PASSED else "", details=TRACE if outcome is not Outcome.PASSED else "")
             for name, outcome in outcomes.items()]
    suite = SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=tests,
                        command=["/usr/bin/python3", "-m", "pytest", "/p/tests/unit", "-n", "2", "-x"])
    return RunResult(run_id="head", project="/p", started_at="", finished_at="", duration=1.0, suites=[suite],
                     environment={"kind": "local", "python": "/usr/bin/python3"})


def test_analysis_groups_classifies_and_reproduces() -> None:
    base = make_run(test_x=Outcome.FAILED, test_y=Outcome.PASSED)
    head = make_run(test_x=Outcome.FAILED, test_y=Outcome.FAILED)
    result = analyse(head, history={}, base=base, base_source="base/report.json",
                     suite_envs={"unit": {"DOORBELL_MODE": "test"}})
    assert result["new"] == ["unit::tests/unit/test_a.py::test_y"]
    assert result["still_failing"] == ["unit::tests/unit/test_a.py::test_x"]
    assert len(result["groups"]) == 1 and result["groups"][0]["count"] == 2
    first = result["failures"][0]
    assert first["status"] == "new" and first["nodeid"] == "tests/unit/test_a.py::test_y"  # new failures first
    assert (first["file"], first["line"], first["exception"]) == ("src/doorbell/faces.py", 61, "ValueError")
    how = first["reproduce"]
    assert how["argv"] == ["/usr/bin/python3", "-m", "pytest", "tests/unit/test_a.py::test_y", "-x"]
    assert how["env"]["DOORBELL_MODE"] == "test"
    assert how["command"].endswith("/usr/bin/python3 -m pytest tests/unit/test_a.py::test_y -x")
    assert result["against"] == {"source": "base/report.json", "run_id": "head"}


def test_without_a_base_nothing_is_classified() -> None:
    result = analyse(make_run(test_x=Outcome.FAILED), history={})
    assert result["against"] is None and result["new"] == [] and result["failures"][0]["status"] is None


def test_flaky_test_counts_as_passed_and_is_listed() -> None:
    run = make_run(test_x=Outcome.FAILED, test_y=Outcome.PASSED)
    reruns = Reruns(max_reruns=2, attempts={"unit::tests/unit/test_a.py::test_x": ["passed"]})
    assert apply(run.suites, reruns, flaky_fails=False) == ["unit::tests/unit/test_a.py::test_x"]
    assert run.suites[0].status is SuiteStatus.PASSED and not run.failed
    assert run.counts.failed == 0 and run.counts.passed == 2
    result = analyse(run, history={}, reruns=reruns)
    assert result["flaky"][0]["counted_as"] == "passed" and result["flaky"][0]["attempts"] == ["passed"]
    assert result["failures"] == []
    assert closing_line(run) == "2 passed, 0 failed, 0 skipped (1 flaky)"
    assert "1 flaky" in markdown.render(run)


def test_flaky_fails_keeps_the_failure() -> None:
    run = make_run(test_x=Outcome.FAILED)
    apply(run.suites, Reruns(1, {"unit::tests/unit/test_a.py::test_x": ["passed"]}), flaky_fails=True)
    assert run.failed and run.suites[0].tests[0].flaky and run.counts.failed == 1


def test_a_test_failing_every_rerun_stays_failed() -> None:
    run = make_run(test_x=Outcome.FAILED)
    assert apply(run.suites, Reruns(2, {"unit::tests/unit/test_a.py::test_x": ["failed", "failed"]}), False) == []
    assert run.failed


def test_summary_leads_with_new_failures() -> None:
    head = make_run(test_x=Outcome.FAILED, test_y=Outcome.FAILED)
    head.analysis = analyse(head, history={}, base=make_run(test_x=Outcome.FAILED, test_y=Outcome.PASSED),
                            base_source="base")
    text = markdown.render(head)
    assert text.index("New failures (1)") < text.index("| Suite |")
    assert "test\\_y" in text.split("New failures (1)")[1].split("\n\n")[1]
    terminal = render.terminal(head.analysis)
    assert "1 new, 1 still failing, 0 fixed" in terminal
    assert "2 x ValueError" in terminal


def test_junit_counts_a_flaky_test_as_passed_and_marks_it() -> None:
    from doorbell_ci.reports import junit

    run = make_run(test_x=Outcome.FAILED, test_y=Outcome.PASSED)
    apply(run.suites, Reruns(1, {"unit::tests/unit/test_a.py::test_x": ["passed"]}), flaky_fails=False)
    document = junit.build(run)
    assert (document.tests, document.failures, document.errors) == (2, 0, 0)
    marks = document._elem.findall(".//testcase/flakyFailure")  # noqa: SLF001
    assert len(marks) == 1 and "tolerance" in marks[0].get("message")
