"""The run, stage by stage: plan -> environment -> run -> collect -> compare -> analyse -> report.

Each stage is a function of the previous stage's result and the Config; this module only
orders them and decides the exit code. Publishing to GitHub is a separate step
(``doorbell-ci publish``) so a run never depends on the network.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from doorbell_ci import environments, execution, output_folder, perf, platforms, redaction, sharding
from doorbell_ci.collect import PYTEST_NO_TESTS, collect_coverage, collect_suite, coverage_config_file
from doorbell_ci.config import Config
from doorbell_ci.errors import CollectError, ConfigError, ExitCode
from doorbell_ci.execution import Console, Execution, SuiteRunner
from doorbell_ci.impact import stage as impact_stage
from doorbell_ci.plan import Plan, PlannedSuite, make_plan
from doorbell_ci.results import RunResult, SuiteResult, SuiteStatus

RESULT_FOLDERS = ("junit", "logs", "coverage", "perf")


def run(config: Config, console: Console, command: list[str] | None = None) -> tuple[RunResult, ExitCode]:
    held: dict[int, object] = {}  # signal handlers replaced while the results are being saved
    try:
        return _run(config, console, command, held)
    finally:
        _release_interrupts(held)


def _run(config: Config, console: Console, command: list[str] | None,
         held: dict[int, object]) -> tuple[RunResult, ExitCode]:
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    begin = time.monotonic()
    throttle_start = platforms.sample_throttle()  # a Pi that throttles during the run is not comparable
    plan = perf.prepare_plan(config, make_plan(config))  # --perf-metric instructions: Valgrind checked first
    plan = impact_stage.prepare_plan(plan, config)  # --record-impact: per-test coverage contexts
    _fresh_output_dir(plan)
    execution.leftover_notices()  # of an earlier run in this process (a test calling run() twice): not ours
    for notice in plan.notices:  # e.g. a flat tests/ folder run as the unit suite: said before it runs
        console.write(f"==> {notice}")
    environment = environments.create(config)
    runner = SuiteRunner(plan, environment, console)
    interrupted = False
    late: list[int] = []  # interrupts after the suites ended: acted on once the results are written
    later_stages = threading.Thread(target=_import_later_stages, args=(runner.first_started, config.history),
                                    name="import-later-stages", daemon=True)
    reruns = None
    shard = sharding.ShardSelection(plan)
    impact = impact_stage.ImpactStage(plan)
    try:
        environment.prepare(plan)
        impact = impact_stage.select(plan, environment, config, console)  # --select affected: only what changed
        plan = runner.plan = impact.plan
        shard = sharding.select_shard(plan, environment, config, console)  # the plan itself unless --shard
        plan = runner.plan = shard.plan
        later_stages.start()
        runner.run(is_failure=_is_failure)
        runner.first_started.set()  # no suite at all, or each failed to start: nothing to wait for
        later_stages.join()
        from doorbell_ci.analysis import flaky

        reruns = flaky.rerun_failed(plan, environment, config.reruns, console)
    except KeyboardInterrupt:
        interrupted = True
        held.update(_hold_interrupts(late))
        console.write("doorbell-ci: interrupted; stopping every suite and keeping the results so far")
        runner.stop()
    finally:
        if not held:  # from here on there are results, and an interrupt must not lose them
            held.update(_hold_interrupts(late))
        adopted = execution.end_adopted_orphans()  # a suite that killed its own watchdog (see execution.py)
        environment.cleanup()
    environment_facts = environment.describe()
    if later_stages.is_alive():  # interrupted while it ran: no import may race the ones below
        runner.first_started.set()
        later_stages.join()
    from doorbell_ci import analysis, reports
    from doorbell_ci.analysis import flaky
    from doorbell_ci.reports.text import nothing_tested_notice

    if reruns is None:  # interrupted before the reruns
        reruns = flaky.Reruns()
    suites = _collect(plan, runner.executions, runner.stopped_by, interrupted)
    flaky.apply(suites, reruns, config.flaky_fails)
    notices: list[str] = list(plan.notices) + list(reruns.notices) + impact.notices + shard.notices
    notices += [notice for suite in suites for notice in suite.notices]  # e.g. a JUnit file's declared counts
    for suite_run in runner.executions.values():  # output cut at its caps, a log that could not be written
        notices += suite_run.output_notices()
    notices += execution.leftover_notices()  # processes a suite, a rerun or a shard probe left running
    if adopted:
        notices.append(execution.leftover_notice("the run", adopted, len(adopted), stopped=False))
    if environment_facts.get("cleanup_problem"):  # e.g. the Docker engine went away during the run
        notices.append(f"environment: {environment_facts['cleanup_problem']}")
    if (plan.absent or plan.not_in_project) and not plan.suites:
        looked_for = ", ".join([s.name for s in plan.absent] + list(plan.not_in_project))
        notices.append(f"no suite ran: every selected suite is absent from {plan.project} ({looked_for}); "
                       "check --project and the suites' paths, or name the tests with --paths")
    coverage = None
    try:
        coverage = collect_coverage(plan, config.coverage_fail_under, config.reports, notices)
    except CollectError as error:
        notices.append(f"coverage: {error}")
    if coverage is not None and coverage.fail_under is not None and config.coverage_fail_under is None:
        config_file = coverage_config_file(plan.project)
        notices.append(f"coverage: the project's fail_under of {coverage.fail_under:g}% "
                       f"({config_file.name if config_file else 'coverage configuration'}) is checked against the "
                       f"combined total of every suite, {coverage.percent:.2f}%, not per suite; "
                       "coverage_fail_under replaces it")
    result = RunResult(
        run_id=plan.run_id,
        project=str(plan.project),
        started_at=started_at,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration=round(time.monotonic() - begin, 3),
        suites=suites,
        environment=environment_facts,
        platform=platforms.describe(throttle_start=throttle_start),
        coverage=coverage,
        command=command or [],
        notices=notices,
    )
    if not (interrupted or late):
        result.performance = _compare_interruptibly(config, plan, result, late)
        result.notices += execution.leftover_notices()  # of the paired benchmark runs
    if late and not interrupted:
        interrupted = True
        result.notices.append("interrupted after the suites had finished: every result is in, "
                              "the performance comparison may be missing")
    result.impact = impact.impact
    if not interrupted:
        impact_stage.after_run(impact, plan, config, result)  # impact.json.gz, and the audit of the selection
    result.analysis = analysis.for_run(result, config, reruns, shard.info)
    if config.history and not interrupted:  # history.json, flaky tests across runs, quarantine (before the verdict)
        analysis.track(result, config)
    exit_code = decide_exit_code(result, interrupted, config.allow_no_tests)
    nothing = None if impact_stage.selected_none(result.impact) else nothing_tested_notice(result, exit_code)
    if nothing:
        result.notices.append(nothing)
    # An interrupt from here on is only noted: every result is in, and report.json states this exit code.
    # Everything under the output folder is published (the action uploads it): any file a suite
    # wrote may quote a secret, and a link a test planted would upload its target.
    # The previous run's reports, which write_all replaces with redacted ones, are not read (1.2-1.6 s of
    # CPU at 50,000 tests); one it does not replace after all is scanned then.
    scrubbed = redaction.scrub_output(plan.output_dir, leave=reports.replaced_names(plan.output_dir, config.reports))
    result.notices += scrubbed.notices(plan.output_dir)
    try:
        reports.write_all(result, plan.output_dir, int(exit_code), full=config.reports)
    finally:
        redaction.scrub_left(plan.output_dir, scrubbed)
    return result, exit_code


def _compare_interruptibly(config: Config, plan: Plan, result: RunResult, late: list[int]) -> dict | None:
    """The comparison, which in paired mode measures for minutes, is the one late stage Ctrl-C may stop.

    While it runs an interrupt is noted and raised (the stage turns it into a notice and no
    verdict); afterwards interrupts are held again, and the run ends with the interrupted exit
    code once its reports are written.
    """
    def stop(signum: int, frame: object) -> None:
        late.append(signum)
        raise KeyboardInterrupt(f"signal {signum}")

    _set_stop_handlers(stop)  # run() restores the handlers from before the hold at the very end
    try:
        return perf.compare_stage(config, plan, result)
    finally:
        _hold_interrupts(late)


def _import_later_stages(suite_started: threading.Event, history: bool = False) -> None:
    """Import the stages that only run after the suites, and compile the HTML templates, while they run.

    Kept for a measured reason: in a
    fresh interpreter that has imported this module, the imports take 0.05 s of CPU and compiling
    the template 0.027 s, 0.07-0.09 s together, while the suites' pytest spends its first few
    tenths of a second starting up on one core. Done then, on a free core, it costs no wall time;
    after the suites it would add 0.08 s to every run, 2 % of bare pytest's 3.8 s on the 2,000
    quick tests, which is 40 % of the 5 % the whole orchestrator may add there (docs/PERFORMANCE.md,
    "The import thread in the pipeline"). It waits for the first suite's process, so that it does
    not hold the GIL while the suite thread is starting it. Whatever fails here fails again, and is reported, where
    the stage itself is used. With ``history`` (history.json is written, so dashboard.html is drawn beside
    it) the dashboard's template is compiled too: 0.024 s of CPU, measured the same way.
    """
    suite_started.wait(timeout=2.0)
    try:
        from doorbell_ci import analysis, reports  # noqa: F401
        from doorbell_ci.reports import dashboard, html

        html.load_template()
        if history:
            dashboard.load_template()
    except Exception:  # noqa: BLE001, S110 - see above
        pass


_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGBREAK")  # SIGBREAK exists only on Windows


def _hold_interrupts(arrived: list[int]) -> dict[int, object]:
    """After the first interrupt, further ones only say so: the run is already stopping and saving.

    The same holds once the suites have ended without one: an interrupt then is noted in
    ``arrived`` and acted on after the reports are written (exit 130), instead of throwing away a
    finished run while it is being collected or written.

    A person presses Ctrl-C twice; a cancelled GitHub job gets SIGINT, then SIGTERM 7.5 s later
    (and SIGKILL 2.5 s after that, which nothing stops). A second KeyboardInterrupt raised while
    the suites are being killed or report.json is being written would lose exactly the results
    the first one promised to keep. Returns the previous handlers for ``_release_interrupts``.
    """
    def note(signum: int, frame: object) -> None:  # os.write: a handler must not take the console's lock
        arrived.append(signum)
        os.write(2, b"doorbell-ci: already stopping; writing the results so far\n")

    return _set_stop_handlers(note)


def _set_stop_handlers(handler: Callable[[int, object], None]) -> dict[int, object]:
    """Install ``handler`` for every stop signal (main thread only); returns the handlers it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for name in _STOP_SIGNALS:
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, handler)
    return previous


def _release_interrupts(previous: dict[int, object]) -> None:
    for number, handler in previous.items():
        signal.signal(number, handler)  # type: ignore[arg-type]


def _fresh_output_dir(plan: Plan) -> None:
    """Results of an earlier run in the same folder must not mix with this one's.

    Only a folder doorbell-ci made (or an empty one, which it then marks) is emptied: see output_folder.py.
    """
    try:
        output_folder.claim(plan.output_dir)
        output_folder.clear(plan.output_dir, RESULT_FOLDERS)
    except OSError as error:
        raise ConfigError(
            f"cannot use {plan.output_dir} as the output folder: {error.strerror or error}; "
            "pass --output-dir with a writable folder"
        ) from None


def _is_failure(suite: PlannedSuite, execution: Execution) -> bool:
    if execution.timed_out or execution.start_error:
        return True
    ok_codes = (0, PYTEST_NO_TESTS) if suite.config.is_pytest else (0,)
    return execution.exit_code not in ok_codes


def _collect(plan: Plan, executions: dict[str, Execution], stopped_by: str | None,
             interrupted: bool) -> list[SuiteResult]:
    results: list[SuiteResult] = []
    for suite in plan.suites:
        execution = executions.get(suite.name)
        if execution is None:
            why = "interrupted before it started" if interrupted else f"--fail-fast: {stopped_by} failed first"
            results.append(SuiteResult(name=suite.name, status=SuiteStatus.NOT_RUN, reason=why))
        else:
            results.append(collect_suite(plan, suite, execution))
    for absent in plan.absent:
        results.append(SuiteResult(name=absent.name, status=SuiteStatus.ABSENT, reason=absent.reason))
    return results


def decide_exit_code(result: RunResult, interrupted: bool = False, allow_no_tests: bool = False) -> ExitCode:
    """The run's verdict, worst first: interrupted, failed, nothing tested, coverage, regression.

    "Nothing tested" (no test passed, failed or errored) is a failure of its own, whatever made it
    so: every suite absent, collecting nothing, deselected by markers, or skipping every test.
    Only ``allow_no_tests`` accepts it, and a shard that was given none of the tests while the
    other shards run them (more shards than tests); both still say so in every report.
    """
    from doorbell_ci.reports.text import nothing_tested, shard_without_tests

    if interrupted:
        return ExitCode.INTERRUPTED
    if result.failed:
        return ExitCode.TESTS_FAILED
    if nothing_tested(result) and not allow_no_tests and not shard_without_tests(result) \
            and not impact_stage.selected_none(result.impact):
        return ExitCode.NOTHING_TESTED
    if result.coverage is not None and result.coverage.below_threshold:
        return ExitCode.COVERAGE
    if any(suite.status is SuiteStatus.COVERAGE_FAILED for suite in result.suites):
        return ExitCode.COVERAGE
    if perf.regression_exit(result.performance):
        return ExitCode.REGRESSION
    return ExitCode.OK
