"""Commands: no shell anywhere, and hostile values either refused or carried as data.

Why: doorbell-ci turns settings (pyproject, DOORBELL_CI_* variables, CLI flags, action inputs)
into processes. A value holding ``;rm -rf /``, ``$(...)``, backticks, a newline or an
option-like string (``--rootdir=/``, ``-p evil_plugin``) must never reach a shell and must
never become an option of a program it was not meant for. Two outcomes are acceptable:

* refused: a one-line ConfigError (exit 2) naming the key, for values with a fixed grammar
  (suite names, workers, timeouts, marker expressions starting with ``-``, paths that start
  with ``-`` or leave the project, git refs, the check-run name);
* data: the value arrives byte-for-byte as one argv item or one file name, proven below by
  real runs whose shell interpretation would have created a marker file.

Which settings may carry pytest options: only a suite's ``pytest_args`` (and a custom suite's
``command``), which are meant to. They come from the project's own pyproject.toml, whose tests
run with the same rights anyway, and they are passed as argv items, never through a shell.
Markers, paths, suite names and every DOORBELL_CI_* value can never become an option.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from doorbell_ci.config import load_config
from doorbell_ci.errors import ConfigError, ExitCode
from doorbell_ci.options import OPTIONS
from doorbell_ci.plan import make_plan, pytest_arguments
from tests.tooling import require_tool

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ["doorbell_ci", "scripts", "benchmarks", "runner-setup"]
SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput"),
               ("asyncio", "create_subprocess_shell"), ("os", "execl"), ("os", "execlp"), ("os", "spawnl")}
HOSTILE = ["x;rm -rf /", "$(touch PWNED)", "`id`", "--rootdir=/", "-p evil_plugin", "a\nb", "x && touch PWNED",
           "x | tee PWNED", "x > PWNED"]


# --- (a) no shell in any of our Python ---------------------------------------------------------


def _dotted(node: ast.expr) -> tuple[str, ...]:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return tuple(reversed(parts))


def shell_uses(source: str, filename: str) -> list[str]:
    """Every call that runs a shell: ``shell=`` anything but False, os.system/popen, getoutput, shell imports."""
    found = []
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant)
                                                   and keyword.value.value is False):
                    found.append(f"{filename}:{node.lineno}: shell={ast.unparse(keyword.value)}")
            name = _dotted(node.func)
            if name[-2:] in SHELL_CALLS:
                found.append(f"{filename}:{node.lineno}: {'.'.join(name)}()")
        elif isinstance(node, ast.ImportFrom) and node.module in {"os", "subprocess", "asyncio"}:
            for alias in node.names:
                if (node.module, alias.name) in SHELL_CALLS:
                    found.append(f"{filename}:{node.lineno}: from {node.module} import {alias.name}")
    return found


def python_files() -> list[Path]:
    files = [path for folder in SCANNED for path in (ROOT / folder).rglob("*.py")
             if "__pycache__" not in path.parts and "node_modules" not in path.parts]
    assert len(files) > 30, files  # the scan must actually see the package
    return files


def test_no_shell_anywhere_in_our_python() -> None:
    uses = [use for path in python_files()
            for use in shell_uses(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert uses == []


@pytest.mark.parametrize("snippet", [
    "import subprocess\nsubprocess.run('ls', shell=True)\n",
    "import subprocess as sp\nsp.Popen(['ls'], shell=1)\n",
    "import subprocess\nflag = True\nsubprocess.check_call('ls', shell=flag)\n",
    "import os\nos.system('ls')\n",
    "import os\nos.popen('ls').read()\n",
    "from subprocess import getoutput\n",
    "import subprocess\nsubprocess.getstatusoutput('ls')\n",
    "import asyncio\nasyncio.create_subprocess_shell('ls')\n",
])
def test_the_scan_catches_every_form_of_shell(snippet: str) -> None:
    """The scan above is only worth something if it flags each way of reaching a shell."""
    assert shell_uses(snippet, "snippet.py")


def test_the_scan_accepts_explicit_shell_false() -> None:
    assert shell_uses("import subprocess\nsubprocess.run(['ls'], shell=False)\n", "ok.py") == []


# --- (b) settings: refused with the key named, or kept verbatim as data ------------------------


def _project(root: Path, table: str = "") -> Path:
    (root / "tests" / "unit").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(f"[project]\nname = 'x'\n{table}\n", encoding="utf-8")
    return root


#: values that are free text by nature, and where each goes: a file name (opened by Python, or one argv item
#: after a folder), a git argv item already refused when it starts with "-", or a JSON string sent to the API
DATA_OPTIONS = {"output_dir": "path", "baseline_dir": "path", "against": "path", "durations": "path",
                "history_from": "path", "quarantine_file": "path",  # files Python reads (no link, no FIFO)
                "perf_base": "git ref", "check_name": "check-run name",
                "impact_map": "path",  # the map file Python reads (gzip JSON, strict reader)
                # fnmatch patterns matched against changed files' names, never passed to a process
                "impact_full_run": "patterns", "impact_ignore": "patterns"}


def assert_no_marker_files(*folders: Path) -> None:
    """A shell that ran ``touch DIR/PWNEDn`` (or ``touch PWNED`` in its cwd) would have left one of these."""
    for folder in folders:
        assert not [p for p in folder.iterdir() if re.fullmatch(r"PWNED\d*", p.name)], sorted(folder.iterdir())


@pytest.mark.parametrize("payload", HOSTILE)
@pytest.mark.parametrize("option", [o for o in OPTIONS if o.env_var and o.name != "project"], ids=lambda o: o.name)
def test_every_environment_variable_refuses_or_keeps_hostile_text(tmp_path: Path, option, payload: str) -> None:
    """Every DOORBELL_CI_* variable (each action input ends up as one) with each payload."""
    project = _project(tmp_path)
    try:
        config = load_config(project, environ={option.env_var: payload})
    except ConfigError as error:
        message = str(error)
        assert "\n" not in message, message  # one line: the payload is quoted with repr()
        assert option.env_var in message, message  # the variable the action input became
        return
    value = getattr(config, option.name)
    if DATA_OPTIONS.get(option.name) == "path":
        assert str(value).endswith(str(Path(payload)))  # a file name, kept whole (a trailing / is normalised)
    elif DATA_OPTIONS.get(option.name) == "patterns":  # split on blanks and commas, each kept verbatim
        assert value == tuple(payload.replace(",", " ").split())
    elif option.name in DATA_OPTIONS:
        assert value == payload.strip()
    else:
        pytest.fail(f"{option.env_var}={payload!r} was accepted as {value!r}; only file names may hold this")


@pytest.mark.parametrize(("key", "value"), [
    ("paths", "['--rootdir=/']"), ("paths", "['-p', 'evil']"), ("paths", "['../..']"), ("paths", "['/etc']"),
    ("paths", "['tests/../../outside']"), ("junit", "'../junit.xml'"), ("junit", "'/tmp/junit.xml'"),
    ("markers", "'-p evil_plugin'"), ("markers", "'--rootdir=/'"), ("markers", "'  -x'"),
])
def test_suite_keys_refuse_options_and_paths_outside_the_project(tmp_path: Path, key: str, value: str) -> None:
    extra = "command = ['python', '-V']\n" if key == "junit" else ""
    project = _project(tmp_path, f"[tool.doorbell-ci.suite.unit]\n{extra}{key} = {value}\n")
    with pytest.raises(ConfigError, match=f"key '{key}'") as error:
        load_config(project, environ={})
    assert "outside the project" in str(error.value) or "looks like an option" in str(error.value)


def test_cli_refuses_a_project_that_is_not_there(tmp_path: Path) -> None:
    missing = f"{tmp_path}/nowhere $(touch {tmp_path}/PWNED1)"
    run = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "doorbell_ci", "run", "--project", missing, "--suites", "unit"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False, env=_clean_environ(),
    )
    assert run.returncode == ExitCode.USAGE, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "does not exist" in run.stderr, run.stderr
    assert_no_marker_files(tmp_path, *[p for p in tmp_path.iterdir() if p.is_dir()])


RECORDER = '''\
import json
import os
import re


def pytest_addoption(parser):
    parser.addoption("--record", action="append", default=[], help="any text, recorded as received")


def pytest_configure(config):
    if config.getoption("--record"):
        with open(os.path.join(str(config.rootpath), "argv.json"), "w", encoding="utf-8") as handle:
            json.dump({"args": list(config.invocation_params.args), "record": config.getoption("--record"),
                       "markexpr": config.option.markexpr}, handle)
'''

#: each would create a PWNED* file if any shell ever saw it
SHELL_BAIT = ["$(touch {d}/PWNED1)", "`touch {d}/PWNED2`", "x; touch {d}/PWNED3", "x && touch {d}/PWNED4 #",
              "x\ntouch {d}/PWNED5", "--rootdir=/", "-p evil_plugin", "' \"; touch {d}/PWNED6"]


def _run(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--no-coverage", "--workers", "1",
         "--reruns", "0", "--quiet", *args],
        capture_output=True, text=True, timeout=300, check=False,
        env={**_clean_environ(), **(env or {})},
    )


def _clean_environ() -> dict[str, str]:
    """Our environment minus DOORBELL_CI_* and GITHUB_* (set when doorbell-ci runs this very suite)."""
    return {key: value for key, value in os.environ.items() if not key.startswith(("DOORBELL_CI_", "GITHUB_"))}


def test_pytest_args_and_markers_reach_pytest_as_exact_argv_items(tmp_path: Path) -> None:
    """pytest_args may hold options by design; each item arrives unchanged, and a shell never sees one."""
    bait = [b.format(d=tmp_path) for b in SHELL_BAIT]
    marker = "not slow or (fast and not `id`)"  # not pytest's -m grammar: passed as is, pytest refuses it
    # --record=VALUE as one item: pytest's pre-parse reads any item starting with -p as a plugin request, even
    # the value of another option; that is why markers starting with "-" are refused (the test above)
    pytest_args = [f"--record={b}" for b in bait]
    project = _project(tmp_path / "proj", "[tool.doorbell-ci.suite.unit]\npaths = ['tests/unit']\n"
                       f"markers = {json.dumps('not slow')}\npytest_args = {json.dumps(pytest_args)}\n")
    (project / "conftest.py").write_text(RECORDER, encoding="utf-8")
    (project / "tests" / "unit" / "test_ok.py").write_text("def test_ok():\n    pass\n", encoding="utf-8")
    run = _run(project, "--suites", "unit")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    received = json.loads((project / "argv.json").read_text(encoding="utf-8"))
    assert received["record"] == bait  # byte for byte, newline and quotes included
    args = received["args"]
    assert args[args.index("-m") + 1] == "not slow"
    assert "--rootdir=/" not in args and "-p evil_plugin" not in args  # only ever inside --record=
    assert_no_marker_files(tmp_path, *[p for p in tmp_path.iterdir() if p.is_dir()])

    # a marker expression pytest cannot parse: still one argv item, so pytest refuses it (suite error)
    hostile = _project(tmp_path / "proj2", "[tool.doorbell-ci.suite.unit]\npaths = ['tests/unit']\n"
                       f"markers = {json.dumps(bait[0] + ' or ' + marker)}\n")
    (hostile / "tests" / "unit" / "test_ok.py").write_text("def test_ok():\n    pass\n", encoding="utf-8")
    run = _run(hostile, "--suites", "unit")
    assert run.returncode == ExitCode.TESTS_FAILED, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((hostile / "test-results" / "report.json").read_text(encoding="utf-8"))
    assert report["suites"][0]["status"] == "error"
    assert_no_marker_files(tmp_path, *[p for p in tmp_path.iterdir() if p.is_dir()])


def test_a_custom_command_suite_gets_its_argv_unchanged(tmp_path: Path) -> None:
    """A ``command`` suite runs its argv directly; items with shell syntax are arguments, not shell."""
    bait = [b.format(d=tmp_path) for b in SHELL_BAIT]
    junit = '<testsuite tests="1"><testcase classname="c" name="t"/></testsuite>'
    writer = ("import json, sys; json.dump(sys.argv[1:], open('argv.json', 'w')); "
              f"open('junit.xml', 'w').write({junit!r})")
    command = [sys.executable, "-c", writer, *bait]
    project = _project(tmp_path / "proj", f"[tool.doorbell-ci.suite.custom]\ncommand = {json.dumps(command)}\n"
                       "junit = 'junit.xml'\n")
    run = _run(project, "--suites", "custom")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert json.loads((project / "argv.json").read_text(encoding="utf-8")) == bait
    assert_no_marker_files(tmp_path, *[p for p in tmp_path.iterdir() if p.is_dir()])


def test_a_hostile_output_dir_is_a_folder_name_not_a_command(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj")
    (project / "tests" / "unit" / "test_ok.py").write_text("def test_ok():\n    pass\n", encoding="utf-8")
    name = f"out $(touch {tmp_path}/PWNED1) `touch {tmp_path}/PWNED2`; touch {tmp_path}/PWNED3"
    run = _run(project, "--suites", "unit", "--output-dir", name)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert_no_marker_files(tmp_path, *[p for p in tmp_path.iterdir() if p.is_dir()])
    report = json.loads((project / name / "report.json").read_text(encoding="utf-8"))
    assert report["totals"]["passed"] == 1


OUR_OPTIONS = re.compile(r"-m|-o|-p|-n|--junitxml=.*|--cov(=.*)?|--cov-report=|--cov-fail-under=0")
OUR_PLUGINS = {"doorbell_ci.progress_plugin", "doorbell_ci.selection_plugin", "no:cacheprovider"}


def test_the_plan_never_lets_a_marker_or_path_become_an_option(tmp_path: Path) -> None:
    """Every option in a suite's argv is one doorbell-ci put there; hostile values only ever follow -m.

    pytest pre-parses its whole argv and loads a plugin for any item starting with ``-p``, even the
    value of another option, so no value from settings may start with ``-`` (pytest_args aside).
    """
    project = _project(tmp_path, "[tool.doorbell-ci]\ncoverage_source = ['-p evil', '../outside', '--rootdir=/']\n"
                       "[tool.doorbell-ci.suite.unit]\npaths = ['tests/unit', 'tests/unit/../unit']\n"
                       "markers = 'a or b; rm -rf / --rootdir=/'\ncoverage = true\n")
    config = load_config(project, environ={})
    plan = make_plan(config)
    (suite,) = [s for s in plan.suites if s.name == "unit"]
    argv = pytest_arguments(suite, project, project / "out", config.coverage_source)
    assert argv[0] == str(project / "tests" / "unit")  # paths are always absolute under the project
    assert argv[argv.index("-m") + 1] == "a or b; rm -rf / --rootdir=/"
    values_of = {index + 1 for index, item in enumerate(argv) if item in {"-m", "-o", "-p", "-n"}}
    for index, item in enumerate(argv):
        if item.startswith("-") and index not in values_of:
            assert OUR_OPTIONS.fullmatch(item), item
        if index in values_of and argv[index - 1] == "-p":
            assert item in OUR_PLUGINS, item
    assert any(item.startswith("--cov=") for item in argv)  # coverage_source became --cov=PATH, one item each


# --- (c) the composite action: inputs reach scripts through env, and stay data there ----------


def _action_steps() -> list[dict]:
    return yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))["runs"]["steps"]


def _workflow_steps() -> list[tuple[str, dict]]:
    steps = [("action.yml", step) for step in _action_steps()]
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        steps += [(path.name, step) for job in workflow["jobs"].values() for step in job.get("steps", [])]
    return steps


@pytest.mark.parametrize(("where", "step"), _workflow_steps(), ids=lambda v: v if isinstance(v, str) else "")
def test_no_expression_is_pasted_into_a_script(where: str, step: dict) -> None:
    """``${{ inputs.x }}`` inside ``run:`` is pasted into the script before bash parses it: injection."""
    assert "${{" not in step.get("run", ""), f"{where}: {step.get('name')!r}"
    for key in ("working-directory", "shell"):
        assert "github.event" not in str(step.get(key, "")), f"{where}: {step.get('name')!r} {key}"


def _step_script(name: str) -> str:
    (step,) = [s for s in _action_steps() if s.get("name") == name]
    assert step["shell"] == "bash"
    return step["run"]


def _run_step(name: str, project: Path, env: dict[str, str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str],
                                                                                       str]:
    """The step's script as the runner runs it: ``bash -e {0}`` in the working directory, values in env."""
    script = tmp_path / f"{name.replace(' ', '_')}.sh"
    script.write_text(_step_script(name), encoding="utf-8")
    outputs = tmp_path / "github_output"
    outputs.write_text("", encoding="utf-8")
    bin_dir = str(Path(sys.executable).parent)
    base = _clean_environ()
    run = subprocess.run(  # noqa: S603 - argv list
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", str(script)],
        cwd=project, capture_output=True, text=True, timeout=300, check=False,
        env={**base, "PATH": bin_dir + os.pathsep + base.get("PATH", ""), "GITHUB_OUTPUT": str(outputs),
             "RUNNER_TEMP": str(tmp_path), **env},
    )
    return run, outputs.read_text(encoding="utf-8")


@pytest.mark.parametrize(("variable", "value", "key"), [
    ("DOORBELL_CI_SUITES", "unit;touch {d}/PWNED1", "suites"),
    ("DOORBELL_CI_SUITES", "$(touch {d}/PWNED1)", "suites"),
    ("DOORBELL_CI_WORKERS", "1 --rootdir=/", "workers"),
    ("DOORBELL_CI_TIMEOUT", "`touch {d}/PWNED2`", "timeout"),
    ("DOORBELL_CI_COVERAGE", "true; touch {d}/PWNED3", "coverage"),
    ("DOORBELL_CI_REGRESSION_THRESHOLD", "5\ntouch {d}/PWNED4", "regression_threshold"),
    ("DOORBELL_CI_ENVIRONMENT", "-p evil_plugin", "environment"),
])
def test_action_run_step_refuses_hostile_inputs_by_name(tmp_path: Path, variable: str, value: str, key: str) -> None:
    require_tool("bash", shutil.which("bash") is not None, "the action's steps are bash scripts")
    project = _project(tmp_path / "proj")
    run, outputs = _run_step("Run the test suites", project,
                             {"OUTPUT_DIR": "test-results", "BASELINE_MODE": "off", "BASELINE_DIR": "",
                              variable: value.format(d=tmp_path)}, tmp_path)
    assert run.returncode == 0, run.stderr  # the step records the exit code; the Verdict step fails the job
    assert f"exit-code={int(ExitCode.USAGE)}" in outputs, run.stdout + run.stderr
    error_lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(error_lines) == 1 and variable in error_lines[0] and repr(key) in error_lines[0], run.stderr
    assert_no_marker_files(tmp_path, *[p for p in tmp_path.iterdir() if p.is_dir()])


def test_action_steps_carry_a_hostile_output_dir_and_report_key_as_data(tmp_path: Path) -> None:
    """The run and publish steps with an output-dir and report-key made of shell syntax."""
    project = _project(tmp_path / "proj")
    (project / "tests" / "unit" / "test_ok.py").write_text("def test_ok():\n    pass\n", encoding="utf-8")
    output_dir = f"res $(touch {tmp_path}/PWNED1) `touch {tmp_path}/PWNED2`;touch {tmp_path}/PWNED3"
    env = {"OUTPUT_DIR": output_dir, "BASELINE_MODE": "off", "BASELINE_DIR": "", "DOORBELL_CI_SUITES": "unit",
           "DOORBELL_CI_COVERAGE": "false", "DOORBELL_CI_RERUNS": "0", "DOORBELL_CI_WORKERS": ""}
    run, outputs = _run_step("Run the test suites", project, env, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "exit-code=0" in outputs and "has-report=true" in outputs, run.stdout + run.stderr
    assert (project / output_dir / "report.json").is_file()

    summary = tmp_path / "step_summary.md"
    publish_env = {"OUTPUT_DIR": output_dir, "GITHUB_TOKEN": "", "DOORBELL_CI_COMMENT": "off",
                   "DOORBELL_CI_CHECK_RUN": "", "DOORBELL_CI_REPORT_KEY": f"k;touch {tmp_path}/PWNED4",
                   "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    run, outputs = _run_step("Publish the results", project, publish_env, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "doorbell-ci: ✅ passed" in summary.read_text(encoding="utf-8")
    assert "report-dir<<" in outputs and str((project / output_dir).resolve()) in outputs
    assert_no_marker_files(tmp_path, *[p for p in tmp_path.iterdir() if p.is_dir()])



@pytest.mark.parametrize("output_dir", ["--project=/", "-p", "--help"])
def test_action_run_step_refuses_an_option_like_output_dir(tmp_path: Path, output_dir: str) -> None:
    """``--output-dir "$OUTPUT_DIR"``: argparse will not take an option-like word as the value."""
    project = _project(tmp_path / "proj")
    run, outputs = _run_step("Run the test suites", project,
                             {"OUTPUT_DIR": output_dir, "BASELINE_MODE": "off", "BASELINE_DIR": "",
                              "DOORBELL_CI_SUITES": "unit"}, tmp_path)
    assert run.returncode == 0, run.stderr
    assert f"exit-code={int(ExitCode.USAGE)}" in outputs and "has-report" not in outputs, outputs
    assert "argument --output-dir: expected one argument" in run.stderr
