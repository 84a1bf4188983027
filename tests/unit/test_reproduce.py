"""The command that reruns one failing test alone (doorbell_ci/analysis/reproduce.py)."""

from __future__ import annotations

from pathlib import Path

from doorbell_ci.analysis.reproduce import _environment, relevant_environment, reproduce, seed_from_log
from doorbell_ci.results import Outcome, SuiteResult, SuiteStatus, TestResult

COMMAND = ["/opt/py/bin/python", "-m", "pytest", "/work/p/tests/unit", "-m", "not slow",
           "--junitxml=/work/p/test-results/junit/unit.xml", "-o", "junit_family=xunit1",
           "-o", "junit_logging=all", "-p", "doorbell_ci.progress_plugin", "-p", "no:cacheprovider",
           "-n", "2", "--cov", "--cov-report=", "-o", "log_cli=true", "--strict-markers"]


def make(tmp_path: Path, log: str = "") -> tuple[TestResult, SuiteResult]:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "unit.log").write_text(log)
    test = TestResult(suite="unit", name="test_x[a b]", classname="tests.unit.test_a", file="tests/unit/test_a.py",
                      outcome=Outcome.FAILED)
    suite = SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=[test], command=COMMAND,
                        log_file="logs/unit.log")
    return test, suite


def test_command_keeps_the_suites_own_arguments_and_drops_doorbell_cis(tmp_path: Path) -> None:
    test, suite = make(tmp_path)
    how = reproduce(test, suite, "/work/p", {}, {"kind": "local"}, tmp_path)
    assert how["argv"] == ["/opt/py/bin/python", "-m", "pytest", "tests/unit/test_a.py::test_x[a b]",
                           "-p", "no:cacheprovider", "-o", "log_cli=true", "--strict-markers"]
    assert "'tests/unit/test_a.py::test_x[a b]'" in how["command"]  # quoted for a POSIX shell
    assert how["cwd"] == "/work/p" and how["seed"] is None


def test_pytest_randomly_seed_is_passed_back(tmp_path: Path) -> None:
    test, suite = make(tmp_path, "platform linux\nUsing --randomly-seed=1234567\nrootdir: /work/p\n")
    assert seed_from_log(tmp_path / "logs" / "unit.log") == "1234567"
    how = reproduce(test, suite, "/work/p", {}, {"kind": "local"}, tmp_path)
    assert how["seed"] == "1234567"
    assert how["argv"][-3:] == ["-p", "randomly", "--randomly-seed=1234567"]


def test_inside_a_container_the_hosts_python_is_not_used(tmp_path: Path) -> None:
    test, suite = make(tmp_path)
    how = reproduce(test, suite, "/work/p", {}, {"kind": "docker", "image": "doorbell-ci-test:abc"}, tmp_path)
    assert how["argv"][0] == "python" and how["environment"]["image"] == "doorbell-ci-test:abc"


def test_relevant_environment_takes_the_projects_variables_not_doorbell_cis() -> None:
    environ = {"DOORBELL_SAMPLE_FAIL": "1", "DOORBELL_CI_REQUIRE_TOOLS": "1", "HOME": "/root", "PYTHONHASHSEED": "0"}
    assert relevant_environment({"SUITE_VAR": "x"}, environ) == {
        "DOORBELL_SAMPLE_FAIL": "1", "PYTHONHASHSEED": "0", "SUITE_VAR": "x"}


def test_missing_log_means_no_seed(tmp_path: Path) -> None:
    assert seed_from_log(tmp_path / "absent.log") is None and seed_from_log(None) is None


def test_variables_that_may_hold_secrets_are_left_out_by_name_not_masked() -> None:
    """The command lands in report.json and the PR comment: no secret in it, not even masked (item 6)."""
    environ = {"DOORBELL_SAMPLE_FAIL": "1", "DOORBELL_HUB_PASSWORD": "x", "DOORBELL_SIGNING_KEY": "k" * 40,
               "DOORBELL_CLOUD_URL": "https://hub:" + "Zq8" * 6 + "@hub.example", "GH_TOKEN": "Zq8" * 6,
               "doorbell_api_token": "t" * 30}
    env, left_out = _environment({"SUITE_VAR": "x"}, environ)
    assert env == {"DOORBELL_SAMPLE_FAIL": "1", "SUITE_VAR": "x"}
    assert left_out == ["DOORBELL_CLOUD_URL", "DOORBELL_HUB_PASSWORD", "DOORBELL_SIGNING_KEY"]


def test_a_command_suite_is_reproduced_by_its_own_command(tmp_path: Path) -> None:
    test, suite = make(tmp_path)
    suite.command = ["npx", "jest", "--ci", "--reporters=jest-junit"]
    how = reproduce(test, suite, "/work/p", {"CI": "true"}, {"kind": "local"}, tmp_path)
    assert how["argv"] == ["npx", "jest", "--ci", "--reporters=jest-junit"] and how["scope"] == "suite"
    assert how["command"].endswith(" CI=true npx jest --ci --reporters=jest-junit") or \
        how["command"] == "CI=true npx jest --ci --reporters=jest-junit"  # after the run's DOORBELL_* if any
    assert how["seed"] is None
    suite.command = ["python3", "-m", "pytest", "js_bridge_tests"]  # a command suite that is pytest after all
    assert reproduce(test, suite, "/work/p", {}, {"kind": "local"}, tmp_path)["scope"] == "test"


def test_the_remembered_environment_follows_every_change_of_it() -> None:
    """The project variables are worked out once per environment (every failure asks): never a stale answer."""
    first = {"DOORBELL_SAMPLE_FAIL": "1", "HOME": "/root"}
    assert _environment({}, first) == ({"DOORBELL_SAMPLE_FAIL": "1"}, [])
    assert _environment({}, first) == ({"DOORBELL_SAMPLE_FAIL": "1"}, [])  # the second ask, remembered
    changed = {**first, "DOORBELL_SAMPLE_FAIL": "2"}
    assert _environment({}, changed) == ({"DOORBELL_SAMPLE_FAIL": "2"}, [])
    with_secret = {**first, "GITHUB_TOKEN": "ghp_" + "a1" * 18, "DOORBELL_ECHO": "ghp_" + "a1" * 18}
    env, left_out = _environment({"SUITE_VAR": "x"}, with_secret)
    assert env == {"DOORBELL_SAMPLE_FAIL": "1", "SUITE_VAR": "x"} and left_out == ["DOORBELL_ECHO"]
    env["DOORBELL_SAMPLE_FAIL"] = "mutated by a caller"  # the remembered mapping is never handed out
    left_out.append("X")
    assert _environment({}, with_secret) == ({"DOORBELL_SAMPLE_FAIL": "1"}, ["DOORBELL_ECHO"])
