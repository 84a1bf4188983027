"""The command line: parse, build a Config, call the pipeline, print one line per problem.

Errors of the tool (not test failures) are DoorbellError subclasses, caught here once and
printed as a single ``doorbell-ci: error: ...`` line with their exit code; ``--debug``
shows the traceback too. Everything printed goes through redaction.py: no secret in a message.
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from doorbell_ci import __version__, redaction
from doorbell_ci.errors import DoorbellError, ExitCode, ReportError
from doorbell_ci.options import OPTIONS, Option
from doorbell_ci.results import RunResult

Handler = Callable[[argparse.Namespace], int]


def _add_option(parser: argparse.ArgumentParser, option: Option) -> None:
    """Add ``option`` to ``parser``; only flags actually given end up in the namespace."""
    text = option.help.replace("%", "%%")  # argparse formats help with %: a literal "1%" must not be a directive
    if option.negative_flag:
        parser.add_argument(option.negative_flag, dest=option.name, action="store_const", const="false",
                            default=argparse.SUPPRESS, help=option.flag_help.replace("%", "%%"))
    elif option.is_flag:
        parser.add_argument(option.flag, dest=option.name, action="store_const", const="true",
                            default=argparse.SUPPRESS, help=text)
    elif option.name in {"suites", "paths"}:
        parser.add_argument(option.flag, dest=option.name, nargs="+", metavar=option.metavar,
                            default=argparse.SUPPRESS, help=text)
    else:
        shown = _shown(option.default).replace("%", "%%")
        parser.add_argument(option.flag, dest=option.name, metavar=option.metavar,
                            default=argparse.SUPPRESS, help=f"{text} (default: {shown})")


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return " ".join(value)
    return "none" if value is None else str(value)


_CORE_COMMANDS = ("run", "report")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; for ``command`` run or report, without the other stages' subcommands.

    Their modules pull in PyGithub, the docker SDK and more: several tenths of a second that every
    ``doorbell-ci run`` would pay at start-up (see "Orchestrator overhead" in docs/PERFORMANCE.md).
    """
    parser = argparse.ArgumentParser(
        prog="doorbell-ci",
        description="Run, measure and report the test suites of a pytest project.",
    )
    parser.add_argument("--version", action="version", version=f"doorbell-ci {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the suites and write the reports",
                              description="Run the selected suites and write reports to the output folder.")
    for option in OPTIONS:
        if option.flag or option.negative_flag:
            _add_option(run, option)
    run.set_defaults(handler=_run)

    report = commands.add_parser("report", help="re-render every report from a results folder's report.json")
    report.add_argument("results", type=Path, help="folder holding report.json (e.g. test-results)")
    report.set_defaults(handler=_report)

    if command not in _CORE_COMMANDS:
        for register in _subcommand_modules():
            register(commands)
    return parser


def _subcommand_modules() -> list[Callable[[Any], None]]:
    """Stages that bring their own subcommands; each exposes ``register_commands(subparsers)``."""
    from doorbell_ci import doctor, merge
    from doorbell_ci.analysis import commands as analysis_commands
    from doorbell_ci.environments import cleanup as environment_cleanup
    from doorbell_ci.github import publish as github_publish
    from doorbell_ci.perf import commands as perf_commands
    from doorbell_ci.reports import dashboard

    return [
        doctor.register_commands,
        analysis_commands.register_commands,
        merge.register_commands,
        github_publish.register_commands,
        environment_cleanup.register_commands,
        perf_commands.register_commands,
        dashboard.register_commands,
    ]


def _config_from(args: argparse.Namespace):  # noqa: ANN202 - returns Config
    from doorbell_ci.config import load_config

    cli_values = {o.name: getattr(args, o.name) for o in OPTIONS if hasattr(args, o.name) and o.name != "project"}
    project = Path(getattr(args, "project", ".")).expanduser()
    return load_config(project, cli_values)


def _run(args: argparse.Namespace) -> int:
    from doorbell_ci import pipeline
    from doorbell_ci.execution import Console, contain_this_process
    from doorbell_ci.reports.console import print_summary

    if getattr(args, "as_program", False):  # before any suite starts: none may read our secrets or escape us
        contain_this_process()
    redaction.mask_in_actions()  # before any suite prints: the runner then hides the secrets in its log too
    config = _config_from(args)
    console = Console(quiet=config.quiet)
    try:
        result, exit_code = pipeline.run(config, console, command=["doorbell-ci", *sys.argv[1:]])
    except ReportError as error:  # the suites ran; only writing their reports failed: show the results anyway
        if isinstance(error.run, RunResult):
            print_summary(error.run, error.reports_dir or config.output_dir, config.reports)
        raise
    print_summary(result, config.output_dir, config.reports)
    return int(exit_code)


def _report(args: argparse.Namespace) -> int:
    from doorbell_ci import pipeline, reports
    from doorbell_ci.reports import json_report
    from doorbell_ci.reports.console import print_closing

    result, document = json_report.read(args.results)
    exit_code = document.get("run", {}).get("exit_code")
    if exit_code is None:
        exit_code = int(pipeline.decide_exit_code(result))
    written = reports.write_all(result, args.results if args.results.is_dir() else args.results.parent, exit_code)
    for kind, path in written.items():
        print(f"{kind}: {path}")
    print_closing(result)
    return int(exit_code)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _install_signal_handlers() -> None:
    """SIGTERM (a cancelled CI job) and, on Windows, Ctrl-Break stop a run like Ctrl-C: results kept."""
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGBREAK"):  # SIGBREAK exists only on Windows
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _raise_interrupt)


def _utf8_console() -> None:
    """A Windows console (cp1252) cannot print test names in other scripts; never crash on it."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(encoding="utf-8", errors="replace")
            except (OSError, ValueError):
                pass


def main(argv: Sequence[str] | None = None) -> int:
    _utf8_console()
    with redaction.redacting_console():  # every line printed below, tracebacks included, is redacted
        arguments = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser(next((a for a in arguments if not a.startswith("-")), None))
        args = parser.parse_args(arguments)
        args.as_program = argv is None  # a test calling main() keeps its own process as it is
        _install_signal_handlers()
        try:
            return args.handler(args)
        except DoorbellError as error:
            if args.debug:
                traceback.print_exc()
            print(f"doorbell-ci: error: {error}", file=sys.stderr)
            return int(error.exit_code)
        except KeyboardInterrupt:
            print("doorbell-ci: interrupted", file=sys.stderr)
            return int(ExitCode.INTERRUPTED)
        except Exception:  # a bug: printed here, not by Python, so that the traceback is redacted too
            traceback.print_exc()
            return 1
        finally:
            if argv is None:  # the program itself; a test calling main() keeps its process's collector
                _leave_the_heap_to_the_os()


def _leave_the_heap_to_the_os() -> None:
    """Take everything built so far out of the cycle collector's sight just before the process ends.

    The results of thousands of tests, the parsed XML and every imported module are garbage once
    the run is over, yet CPython's shutdown still walks them with the collector: 0.03-0.08 s of every
    run's wall time on 2,000 tests, against 0.01 s frozen (see "Orchestrator overhead" in docs/PERFORMANCE.md). Every
    report and file was written and closed by now; the operating system frees the memory.
    """
    gc.freeze()


if __name__ == "__main__":
    raise SystemExit(main())
