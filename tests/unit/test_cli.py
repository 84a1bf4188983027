"""cli.py: flags come from options.OPTIONS, only given flags reach the config, errors are one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from doorbell_ci import cli
from doorbell_ci.options import OPTIONS


def _run_args(*argv: str) -> dict[str, object]:
    args = cli.build_parser("run").parse_args(["run", *argv])
    return {o.name: getattr(args, o.name) for o in OPTIONS if hasattr(args, o.name)}


def test_every_option_with_a_flag_is_on_run(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser("run").parse_args(["run", "--help"])
    help_text = capsys.readouterr().out
    for option in OPTIONS:
        flag = option.negative_flag or option.flag
        if flag:
            assert flag in help_text, flag


def test_only_given_flags_are_passed_on() -> None:
    assert _run_args() == {}
    assert _run_args("--workers", "3", "--no-coverage", "--fail-fast") == {
        "workers": "3", "coverage": "false", "fail_fast": "true"}


def test_suites_take_several_names() -> None:
    assert _run_args("--suites", "unit", "e2e")["suites"] == ["unit", "e2e"]


def test_bad_value_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.doorbell-ci]\ntimeout = 'soon'\n", encoding="utf-8")
    code = cli.main(["run", "--project", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("doorbell-ci: error: ") and "'timeout'" in err


def test_missing_project_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--project", str(tmp_path / "absent")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_unknown_flag_is_an_argparse_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--wrokers", "2"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --wrokers" in capsys.readouterr().err


def test_negative_flags_help_says_what_the_flag_does(capsys: pytest.CaptureFixture[str]) -> None:
    """``--no-coverage`` turns coverage off, so its help must not read "Collect coverage" (issue 17, item 7)."""
    with pytest.raises(SystemExit):
        cli.build_parser("run").parse_args(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    negatives = [option for option in OPTIONS if option.negative_flag]
    assert {option.negative_flag for option in negatives} >= {"--no-coverage", "--no-reports"}
    for option in negatives:
        shown = help_text.split(f"{option.negative_flag} ", 2)[-1]  # the options list, after the usage line
        assert shown.startswith("Do not "), (option.negative_flag, shown[:80])
        assert not shown.startswith(option.help[:20])
    assert "Do not collect coverage for the suites" in help_text
    assert "Do not write report.html" in help_text
