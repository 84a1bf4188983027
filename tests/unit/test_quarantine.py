"""Quarantine: the checked-in list is validated; quarantined failures are reported but do not fail the gate."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from doorbell_ci.analysis import flakiness, history_store, quarantine
from doorbell_ci.analysis.history_store import History
from doorbell_ci.errors import ConfigError
from doorbell_ci.pipeline import decide_exit_code
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult

GOOD = """
[[test]]
id = "unit::tests/unit/test_x.py::test_clock*"
owner = "@alice"
reason = "races the wall clock, #12"
expires = 2030-01-31
"""
ENV = {"GITHUB_SHA": "b" * 40}


def run_with(outcomes: dict[str, Outcome], run_id: str = "r") -> RunResult:
    tests = [TestResult(suite="unit", name=name, classname="tests.unit.test_x", file="tests/unit/test_x.py",
                        outcome=outcome) for name, outcome in outcomes.items()]
    failing = any(o in (Outcome.FAILED, Outcome.ERROR) for o in outcomes.values())
    suite = SuiteResult(name="unit", status=SuiteStatus.FAILED if failing else SuiteStatus.PASSED, tests=tests,
                        exit_code=1 if failing else 0)
    return RunResult(run_id=run_id, project="/nonexistent", started_at="2026-12-02T10:00:00+00:00",
                     finished_at="2026-12-02T10:00:01+00:00", duration=1.0, suites=[suite])


def entries(tmp_path: Path, text: str = GOOD) -> list[quarantine.Entry]:
    path = tmp_path / "quarantine.toml"
    path.write_text(text, encoding="utf-8")
    return quarantine.load(path)


def test_a_quarantined_failure_keeps_its_outcome_but_not_the_failing_verdict(tmp_path: Path) -> None:
    run = run_with({"test_clock_tick": Outcome.FAILED, "test_other": Outcome.PASSED})
    history = history_store.append(History(), run, "linux", environ=ENV)
    section = quarantine.apply(run, entries(tmp_path), history, "linux", clean_needed=3, today=date(2026, 12, 2))
    assert run.suites[0].status is SuiteStatus.PASSED and "quarantined" in run.suites[0].reason
    assert run.suites[0].tests[0].outcome is Outcome.FAILED  # still reported as what it was
    assert int(decide_exit_code(run)) == 0
    assert [item["key"] for item in section["tests"]] == ["unit::tests/unit/test_x.py::test_clock_tick"]
    assert any("test_clock_tick failed and is quarantined" in n and "@alice" in n for n in run.notices)


def test_a_failure_outside_the_quarantine_still_fails_the_run(tmp_path: Path) -> None:
    run = run_with({"test_clock_tick": Outcome.FAILED, "test_other": Outcome.FAILED})
    history = history_store.append(History(), run, "linux", environ=ENV)
    quarantine.apply(run, entries(tmp_path), history, "linux", clean_needed=3, today=date(2026, 12, 2))
    assert run.suites[0].status is SuiteStatus.FAILED and int(decide_exit_code(run)) != 0


def test_an_expired_entry_lets_its_test_fail_the_run_again_and_says_so(tmp_path: Path) -> None:
    run = run_with({"test_clock_tick": Outcome.FAILED})
    history = history_store.append(History(), run, "linux", environ=ENV)
    section = quarantine.apply(run, entries(tmp_path), history, "linux", clean_needed=3, today=date(2030, 2, 1))
    assert run.suites[0].status is SuiteStatus.FAILED and int(decide_exit_code(run)) != 0
    assert section["expired"][0]["expires"] == "2030-01-31"
    assert any("expired on 2030-01-31" in notice for notice in run.notices)
    on_the_day = run_with({"test_clock_tick": Outcome.FAILED})
    quarantine.apply(on_the_day, entries(tmp_path), history, "linux", clean_needed=3, today=date(2030, 1, 31))
    assert on_the_day.suites[0].status is SuiteStatus.PASSED  # the expiry day itself still counts


def test_clean_runs_say_the_entry_can_go_and_a_fix_is_announced(tmp_path: Path) -> None:
    history = History()
    for index, outcome in enumerate([Outcome.FAILED, Outcome.PASSED, Outcome.PASSED, Outcome.PASSED]):
        run = run_with({"test_clock_tick": outcome}, f"r{index}")
        history_store.append(history, run, "linux", environ=ENV)
        section = quarantine.apply(run, entries(tmp_path), history, "linux", clean_needed=3, today=date(2026, 12, 2))
        if index == 1:
            assert any("failed last time and passes now" in n for n in run.notices), run.notices
    assert section["can_leave"] == ["unit::tests/unit/test_x.py::test_clock_tick"]
    assert any("its entry can be removed" in n for n in run.notices)


def test_automatic_quarantine_on_evidence_expires_and_ends_after_clean_runs() -> None:
    history = History()
    flaky = run_with({"test_net": Outcome.PASSED}, "r0")
    flaky.suites[0].tests[0].flaky = True
    history_store.append(history, flaky, "linux", environ=ENV)
    failing = run_with({"test_net": Outcome.FAILED}, "r1")
    history_store.append(history, failing, "linux", environ=ENV)
    automatic = quarantine.auto_entries(history, flakiness.classify(history), days=7)
    entry = automatic["unit::tests.unit.test_x::test_net"]
    assert entry.source == "auto" and entry.expires == date(2026, 12, 9)
    quarantine.apply(failing, [], history, "linux", clean_needed=3, automatic=automatic, today=date(2026, 12, 3))
    assert failing.suites[0].status is SuiteStatus.PASSED
    late = run_with({"test_net": Outcome.FAILED}, "r2")
    quarantine.apply(late, [], history, "linux", clean_needed=3, automatic=automatic, today=date(2026, 12, 10))
    assert late.suites[0].status is SuiteStatus.FAILED


@pytest.mark.parametrize(("text", "message"), [
    ('[[test]]\nid = "x"\nowner = "o"\nreason = "r"\n', "missing 'expires'"),
    ('[[test]]\nid = "x"\nowner = "o"\nreason = "r"\nexpires = 2030-01-01\nteam = "t"\n', "unknown key 'team'"),
    ('[[test]]\nid = "x"\nowner = "o"\nreason = "r"\nexpires = "soon"\n', "is not a date"),
    ('[[test]]\nid = "x"\nowner = "o"\nreason = "r"\nexpires = 2030-01-01T10:00:00\n', "must be a date"),
    ('[[test]]\nid = ""\nowner = "o"\nreason = "r"\nexpires = 2030-01-01\n', "'id' must be one line"),
    ('[[test]]\nid = "x"\nowner = "o"\nreason = "a\\nb"\nexpires = 2030-01-01\n', "'reason' must be one line"),
    ('[quarantine]\n', "unknown table 'quarantine'"),
    ("test = 3\n", "array of tables"),
    ("[[test]\n", "not TOML"),
])
def test_a_bad_quarantine_file_is_one_line_naming_the_entry(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        entries(tmp_path, text)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert str(tmp_path / "quarantine.toml") in str(caught.value)


def test_a_missing_file_quarantines_nothing(tmp_path: Path) -> None:
    assert quarantine.load(tmp_path / "absent.toml") == []


def test_an_entry_names_the_test_as_the_project_sees_it_when_pytest_ran_from_a_folder_above(tmp_path: Path) -> None:
    run = run_with({"test_clock_tick": Outcome.FAILED})
    run.project = "/work/repo/services/api"
    run.suites[0].tests[0].file = "services/api/tests/unit/test_x.py"  # relative to the repository's rootdir
    history = history_store.append(History(), run, "linux", environ=ENV)
    quarantine.apply(run, entries(tmp_path), history, "linux", clean_needed=3, today=date(2026, 12, 2))
    assert run.suites[0].status is SuiteStatus.PASSED
