"""The pure parts of publishing: options, context from the runner's environment, outputs, limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doorbell_ci.config import load_config
from doorbell_ci.errors import ConfigError
from doorbell_ci.github import api
from doorbell_ci.github.limits import cut_bytes, escape_astral, fit
from doorbell_ci.github.publish import _path_prefix, regressions_count, step_outputs
from doorbell_ci.results import CoverageSummary, Outcome, RunResult, SuiteResult, SuiteStatus, TestResult


def run_of(*tests: TestResult, project: str = "/ws/app") -> RunResult:
    status = SuiteStatus.FAILED if any(t.outcome is Outcome.FAILED for t in tests) else SuiteStatus.PASSED
    return RunResult(run_id="r", project=project, started_at="s", finished_at="f", duration=1.0,
                     suites=[SuiteResult(name="unit", status=status, tests=list(tests))])


def test_publishing_options_come_from_pyproject_env_and_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.doorbell-ci]\ncomment = "changes"\ncheck_run = true\n')
    config = load_config(tmp_path, environ={})
    assert (config.comment, config.check_run, config.check_name) == ("changes", True, None)  # None: per leg
    config = load_config(tmp_path, {"comment": "on-failure"}, environ={"DOORBELL_CI_CHECK_NAME": "tests (pi)"})
    assert (config.comment, config.check_name) == ("failures", "tests (pi)")


@pytest.mark.parametrize(("key", "value"), [("comment", '"loud"'), ("check_name", '""'), ("check_run", '"maybe"')])
def test_bad_publishing_settings_name_the_key(tmp_path: Path, key: str, value: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.doorbell-ci]\n{key} = {value}\n")
    with pytest.raises(ConfigError, match=key):
        load_config(tmp_path, environ={})


def test_context_reads_the_runner_environment(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 5, "head": {"sha": "f" * 40}}}))
    context = api.GitHubContext.from_environ({
        "GITHUB_API_URL": "https://ghe.example/api/v3", "GITHUB_REPOSITORY": "o/r", "GITHUB_SHA": "m" * 40,
        "GITHUB_RUN_ID": "77", "GITHUB_WORKFLOW": "CI", "GITHUB_JOB": "tests", "RUNNER_OS": "Linux",
        "RUNNER_ARCH": "ARM64", "GITHUB_EVENT_PATH": str(event), "GITHUB_SERVER_URL": "https://ghe.example",
        "GITHUB_TOKEN": "t", "DOORBELL_CI_REPORT_KEY": "py3.12"})
    assert context.api_url == "https://ghe.example/api/v3"
    assert context.identity == "CI/tests/Linux-ARM64/py3.12"
    assert context.run_url == "https://ghe.example/o/r/actions/runs/77"
    assert context.pull_request_number() == 5
    assert context.head_sha() == "f" * 40  # not the merge commit in GITHUB_SHA


def test_an_identity_cannot_close_the_html_comment_it_lives_in() -> None:
    context = api.GitHubContext(workflow="CI --><img src=x>", job="j")
    assert "-->" not in context.identity and "<" not in context.identity


def test_outputs_match_the_run() -> None:
    failing = TestResult(suite="unit", name="b", outcome=Outcome.FAILED)
    run = run_of(TestResult(suite="unit", name="a"), failing, TestResult(suite="unit", name="c",
                                                                        outcome=Outcome.SKIPPED))
    run.coverage = CoverageSummary(percent=81.25, statements=100, covered=81)
    run.performance = {"regressions": [{"name": "x"}, {"name": "y"}]}
    outputs = step_outputs(run, Path("/tmp/results"), 1)
    assert outputs == {"status": "failed", "passed": 1, "failed": 1, "skipped": 1, "errors": 0, "coverage": "81.2",
                       "regressions": 2, "report-dir": str(Path("/tmp/results").resolve()), "exit-code": 1}


@pytest.mark.parametrize(("performance", "count"), [(None, 0), ({}, 0), ({"regressions": 3}, 3),
                                                    ({"regressions": True}, 0), ({"regressions": "many"}, 0)])
def test_regressions_count_accepts_a_list_or_a_number(performance, count) -> None:
    assert regressions_count(performance) == count


def test_annotations_are_relative_to_the_repository(tmp_path: Path) -> None:
    project = tmp_path / "ws" / "tests" / "sample_project"
    project.mkdir(parents=True)
    context = api.GitHubContext(workspace=tmp_path / "ws")
    assert _path_prefix(run_of(project=str(project)), context) == "tests/sample_project"
    assert _path_prefix(run_of(project=str(tmp_path / "ws")), context) == ""
    test = TestResult(suite="unit", name="t", outcome=Outcome.FAILED, file="tests\\unit\\test_a.py", line=None)
    note = api.annotation(test, "tests/sample_project")
    assert note is not None
    assert (note["path"], note["start_line"]) == ("tests/sample_project/tests/unit/test_a.py", 1)
    assert api.annotation(TestResult(suite="unit", name="t", outcome=Outcome.FAILED), "") is None


def test_text_is_cut_on_character_boundaries() -> None:
    assert cut_bytes("ééé", 3) == "é"
    assert escape_astral("ok 🚪") == "ok U+1F6AA"
    cut = fit("é" * 1000, 200, "https://run")
    assert len(cut.encode()) <= 200 and cut.endswith("report.html in https://run)\n")


@pytest.mark.parametrize(("exit_code", "status"), [(8, "failed"), (7, "failed"), (0, "passed"), (None, "passed")])
def test_the_status_output_follows_the_runs_exit_code(exit_code: int | None, status: str) -> None:
    """A run in which every suite was absent has no failed suite, yet exit 8: no step may read it as passed."""
    run = run_of()
    assert step_outputs(run, Path("/tmp/results"), exit_code)["status"] == status
LEGS_ON_ONE_PLATFORM = [
    '{"python": "3.11"}', '{"python": "3.12"}',  # same OS, different Python
    '{"os": "ubuntu-latest", "python": "3.12"}', '{"os": "ubuntu-latest", "python": "3.13"}',
    '{"suite": "unit", "extra": {"db": "postgres"}}', '{"suite": "unit", "extra": {"db": "mysql"}}',  # objects
    '{"flag": true}', '{"flag": false}', '{"n": 1}', '{"n": "1 "}',
]


def leg(matrix: str, **extra: str) -> api.GitHubContext:
    return api.GitHubContext.from_environ({"GITHUB_WORKFLOW": "CI", "GITHUB_JOB": "tests", "RUNNER_OS": "Linux",
                                           "RUNNER_ARCH": "X64", "DOORBELL_CI_MATRIX": matrix, **extra})


def test_every_leg_of_a_matrix_gets_its_own_check_name_and_comment() -> None:
    """GitHub shows only the newest check run of a name: legs on one platform must still differ."""
    contexts = [leg(matrix) for matrix in LEGS_ON_ONE_PLATFORM]
    names = [context.default_check_name() for context in contexts]
    assert len(set(names)) == len(names), names
    assert len({context.identity for context in contexts}) == len(contexts)
    assert names[1] == "doorbell-ci / tests (Linux-X64, 3.12)"


def test_platforms_jobs_and_report_keys_differ_too_and_a_name_is_stable() -> None:
    names = {leg("null").default_check_name(),  # outside a matrix, GitHub's toJSON(matrix) is null
             leg("{}", RUNNER_OS="macOS", RUNNER_ARCH="ARM64").default_check_name(),  # act gives {}
             leg("null", GITHUB_JOB="lint").default_check_name(),
             leg("null", DOORBELL_CI_REPORT_KEY="docs").default_check_name()}
    assert len(names) == 4
    assert leg("null").default_check_name() == "doorbell-ci / tests (Linux-X64)"
    assert leg('{"python": "3.12"}').default_check_name() == leg('{"python": "3.12"}').default_check_name()


def test_long_or_multiline_matrix_values_still_give_distinct_one_line_names() -> None:
    long = [leg(json.dumps({"include": "x" * 200, "n": n})) for n in range(3)]
    names = [context.default_check_name() for context in long]
    assert len(set(names)) == 3 and all(len(name) <= api.CHECK_NAME_CHARS for name in names)
    assert all(api.GitHubContext(job="t", matrix=json.dumps({"v": f"a\nb{n}"})).default_check_name().count("\n")
               == 0 for n in range(2))
    assert leg("not json").default_check_name() == "doorbell-ci / tests (Linux-X64, not json)"


def test_the_check_name_option_overrides_the_default(tmp_path: Path) -> None:
    config = load_config(tmp_path, environ={"DOORBELL_CI_CHECK_NAME": "all legs"})
    assert config.check_name == "all legs"


def test_every_leg_of_a_matrix_gets_its_own_results_artifact_name() -> None:
    """upload-artifact refuses a second artifact of one name in a run: legs on one platform must differ."""
    names = [leg(matrix).artifact_name() for matrix in LEGS_ON_ONE_PLATFORM]
    names += [leg('{"v": "a b"}').artifact_name(), leg('{"v": "a_b"}').artifact_name()]  # meet once sanitised
    assert len(set(names)) == len(names), names
    assert leg("null").artifact_name() == "doorbell-ci-tests-Linux-X64"  # unchanged outside a matrix
    assert leg('{"python": "3.12"}').artifact_name() == "doorbell-ci-tests-Linux-X64-3.12"
    for name in names + [leg(json.dumps({"x": "y" * 300})).artifact_name()]:
        assert len(name) <= 100 and not set(name) & set('":<>|*?\r\n\\/ ')
