"""A test cannot issue workflow commands through doorbell-ci's output (issue 12 item 11).

Every form the Actions runner parses (see tests/runner_model.py, taken from actions/runner's
source): ``::name::`` at a line start after any whitespace, ``##[name]`` anywhere, lines split by
a bare ``\\r``, names in any case, invisible characters that ICU's culture-sensitive matching
skips. They are attacked in the suite's live output, in test names and messages, in what
doorbell-ci prints at the end, and in the suite logs ``publish`` shows in the job log.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doorbell_ci.execution import Console
from doorbell_ci.github.publish import _print_logs
from doorbell_ci.redaction import RedactingStream, Redactor, neutralise_commands
from doorbell_ci.reports import json_report
from tests.runner_model import commands

FORMS = [
    "::add-mask::everything", "::error file=a.py,line=1::forged", "  ::warning::indented", "\t::notice::tab",
    "\u00a0::error::no-break space", "\u3000::error::ideographic space", "\u2028::error::line separator",
    "\u200b::error::zero-width before", ":\u200b:error::zero-width between", "\ufeff::error::bom",
    "\u00ad::error::soft hyphen", "\x00::error::nul", "::ADD-MASK::upper case", "::Stop-Commands::tok",
    "::set-output name=x::1", "::endgroup::", "##[error]legacy", "text before ##[add-mask]secret",
    "##[set-output name=a;]1", "##[stop-commands]pause", "##[ERROR]upper", "#\u200b#[error]zero-width",
    "##\u00ad[warning]soft hyphen", "# #[error]not a command", "progress 10%\r::error::after a carriage return",
    "progress\r##[error]after a carriage return", "a\r\n::error::crlf", "x\n  ::debug::second line",
    "##[group]fold", "::group::fold", "\u2066::error::isolate", "\ufe0f::error::selector",
]
ATOMS = [":", "::", "#", "##", "[", "]", "##[", " ", "\t", "\r", "\n", "\r\n", "\u00a0", "\u200b", "\u00ad",
         "\ufeff", "\x00", "error", "add-mask", "stop-commands", "x", "%0A", "::add-mask::", "\u3000", "\u2028",
         "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\u180e", "\ufe0f"]


@pytest.mark.parametrize("form", FORMS)
def test_the_runner_model_sees_each_form_and_none_after_neutralising(form: str) -> None:
    if form != "# #[error]not a command":
        assert commands(form), "the model must see the raw form, or the test proves nothing"
    assert commands(neutralise_commands(form)) == []
    assert commands("[unit] " + neutralise_commands(form)) == []  # Console's prefix does not save a \r
    stream = io.StringIO()
    console = RedactingStream(stream, Redactor())
    for char in form:  # the worst split: one character per write
        console.write(char)
    assert commands(stream.getvalue()) == []


def test_text_without_commands_is_unchanged() -> None:
    for text in ("tests/test_a.py::test_b PASSED", "a ## b [c] # [d]", "url http://x:80/a::b", "C:\\x"):
        assert neutralise_commands(text) == text, text


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(st.sampled_from(ATOMS), max_size=30), cuts=st.lists(st.integers(0, 200), max_size=6))
def test_no_mix_of_separators_invisibles_and_prefixes_survives(pieces: list[str], cuts: list[int]) -> None:
    text = "".join(pieces)
    assert commands(neutralise_commands(text)) == []
    assert neutralise_commands(neutralise_commands(text)) == neutralise_commands(text)  # idempotent
    stream = io.StringIO()
    console = RedactingStream(stream, Redactor())
    start = 0
    for cut in sorted(set(cuts)) + [len(text)]:
        console.write(text[start:cut])
        start = max(start, cut)
    assert commands(stream.getvalue()) == []
    lines = io.StringIO()
    Console(stream=lines).write(f"[unit] {text}")
    assert commands(lines.getvalue()) == []


HOSTILE_TESTS = '''
import sys
import pytest

FORMS = {forms!r}


@pytest.mark.parametrize("form", FORMS, ids=[f"id{{i}}-{{f}}" for i, f in enumerate(FORMS)])
def test_prints(form):
    print(form)
    print(form, file=sys.stderr)
    sys.stdout.write("no newline then " + form)
    assert False, form


def test_passes_with_output():
    print("##[stop-commands]resume-me")
    print("::stop-commands::resume-me")
'''


def test_a_real_run_issues_no_command_but_its_own_masks(tmp_path: Path) -> None:
    project = tmp_path / "hostile"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.doorbell-ci]\nsuites = ["unit"]\n'
                                            '[tool.doorbell-ci.suite.unit]\npaths = ["tests"]\n', encoding="utf-8")
    (project / "tests" / "test_hostile.py").write_text(HOSTILE_TESTS.format(forms=FORMS), encoding="utf-8")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DOORBELL_", "PYTEST_", "GITHUB_", "ACTIONS_", "RUNNER_", "COV_CORE_"))}
    env.update({"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": "ghp_" + "k" * 36})
    completed = subprocess.run([sys.executable, "-m", "doorbell_ci", "run", "--output-dir", str(tmp_path / "out"),
                                "--no-coverage"], cwd=project, env=env, capture_output=True, timeout=300,
                               check=False, text=True, encoding="utf-8", errors="replace")
    assert completed.returncode == 1, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "id0-" in completed.stdout  # the tests' names and output were printed
    found = commands(completed.stdout) + commands(completed.stderr)
    assert {name for name, _ in found} == {"add-mask"}, found[:5]
    assert all(line.startswith("::add-mask::") for _, line in found)
    # the same output shown again by `doorbell-ci publish` (suite logs folded in groups)
    run = json_report.read(tmp_path / "out" / "report.json")[0]
    shown = io.StringIO()
    _print_logs(run, tmp_path / "out", shown)
    assert "no newline then" in shown.getvalue()
    found = commands(shown.getvalue())
    assert [name for name, _ in found] == ["group", "endgroup"], found[:5]
