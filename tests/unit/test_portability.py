"""The Windows and macOS code paths of the core, simulated where this machine cannot run them.

Each test flips the one thing the code looks at (os.name, sys.platform, a signal that only exists
on Windows, a console's encoding) and checks the branch that a Windows or macOS user would hit.
"""

from __future__ import annotations

import io
import signal
from pathlib import Path

import pytest

from doorbell_ci import cli, execution
from doorbell_ci.config import load_config
from doorbell_ci.environments import tree
from doorbell_ci.errors import ConfigError


def test_windows_suites_start_in_a_new_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execution.os, "name", "nt")
    monkeypatch.delattr(execution.subprocess, "CREATE_NEW_PROCESS_GROUP", raising=False)
    assert execution._popen_options() == {"creationflags": 0x00000200}
    monkeypatch.setattr(execution.subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200, raising=False)
    assert execution._popen_options() == {"creationflags": 0x200}


def test_posix_suites_start_in_a_new_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execution.os, "name", "posix")
    assert execution._popen_options() == {"start_new_session": True}


def test_ctrl_break_on_windows_interrupts_like_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: dict[int, object] = {}
    monkeypatch.setattr(cli.signal, "SIGBREAK", 21, raising=False)
    monkeypatch.setattr(cli.signal, "signal", lambda signum, handler: installed.setdefault(signum, handler))
    cli._install_signal_handlers()
    assert installed == {signal.SIGTERM: cli._raise_interrupt, 21: cli._raise_interrupt}
    with pytest.raises(KeyboardInterrupt):
        cli._raise_interrupt(21, None)


def test_without_sigterm_no_handler_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[int] = []
    monkeypatch.delattr(cli.signal, "SIGTERM")
    monkeypatch.delattr(cli.signal, "SIGBREAK", raising=False)
    monkeypatch.setattr(cli.signal, "signal", lambda signum, handler: installed.append(signum))
    cli._install_signal_handlers()
    assert installed == []


def cp1252_console() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="cp1252", errors="strict")


def test_a_windows_console_is_switched_to_utf8(monkeypatch: pytest.MonkeyPatch) -> None:
    stdout, stderr = cp1252_console(), cp1252_console()
    monkeypatch.setattr(cli.sys, "stdout", stdout)
    monkeypatch.setattr(cli.sys, "stderr", stderr)
    cli._utf8_console()
    assert stdout.encoding == "utf-8" and stderr.encoding == "utf-8"
    print("test_überwachung[門鈴] ✓", file=stdout)
    stdout.flush()
    assert stdout.buffer.getvalue().decode("utf-8") == "test_überwachung[門鈴] ✓\n"  # type: ignore[attr-defined]


def test_a_console_that_cannot_switch_still_never_crashes() -> None:
    stream = cp1252_console()
    console = execution.Console(stream=stream)
    console.write("[unit] PASSED test_门铃 ✓ café")
    stream.flush()
    assert stream.buffer.getvalue().decode("cp1252") == "[unit] PASSED test_?? ? café\n"  # type: ignore[attr-defined]


def test_macos_run_trees_go_to_short_tmp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tree.sys, "platform", "darwin")
    monkeypatch.setattr(tree.os.path, "isdir", lambda path: path == "/tmp")
    assert tree.base_temp_folder() == Path("/tmp")


@pytest.mark.parametrize("platform_name", ["linux", "win32"])
def test_other_systems_use_their_temp_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             platform_name: str) -> None:
    monkeypatch.setattr(tree.sys, "platform", platform_name)
    monkeypatch.setattr(tree.tempfile, "tempdir", str(tmp_path))
    assert tree.base_temp_folder() == tmp_path


@pytest.mark.parametrize("path", ["tests\\unit", "C:/tests", "C:tests", "//server/share/tests", "\\\\server\\share"])
def test_windows_style_paths_in_pyproject_are_refused_on_every_os(tmp_path: Path, path: str) -> None:
    (tmp_path / "pyproject.toml").write_text(
        f"[tool.doorbell-ci.suite.unit]\npaths = ['{path}']\n", encoding="utf-8")  # a TOML literal string
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path, environ={})
    message = str(error.value)
    assert "[tool.doorbell-ci.suite.unit] key 'paths'" in message
    assert "forward slashes" in message or "outside the project" in message


def test_forward_slash_paths_are_kept_as_posix(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.doorbell-ci.suite.unit]\npaths = ["tests/unit"]\n',
                                             encoding="utf-8")
    assert load_config(tmp_path, environ={}).suite_configs["unit"].paths == ("tests/unit",)


def test_no_shell_and_no_posix_only_call_without_a_guard() -> None:
    """A cheap audit that keeps it so: every killpg / SIGKILL / fork in the core sits under an os.name check."""
    package = Path(execution.__file__).parent
    for module in [package / "execution.py", package / "cli.py", package / "environments" / "local.py",
                   package / "environments" / "tree.py", package / "config.py"]:
        lines = module.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            assert "shell=True" not in line, f"{module.name}:{number + 1}"
            for posix_only in ("os.killpg", "os.fork", "signal.SIGKILL", "os.setsid", "fcntl"):
                if posix_only in line:
                    guard = "\n".join(lines[max(0, number - 4):number])
                    assert 'os.name == "posix"' in guard, f"{module.name}:{number + 1} uses {posix_only} unguarded"

