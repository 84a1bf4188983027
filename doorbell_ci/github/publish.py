"""``doorbell-ci publish RESULTS_DIR`` and ``doorbell-ci fetch-baseline``: the publish stage.

Publishing reads report.json (so it can run in a later job, e.g. the ``workflow_run``
publisher of fork pull requests) and sends it everywhere it was asked to go. Each
destination fails on its own: a refused comment still leaves the check run, the job
summary and the outputs, and no failure here changes the run's verdict. What went wrong is
said as a notice in the log and in the job summary.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doorbell_ci import redaction
from doorbell_ci.github import actions, api
from doorbell_ci.github.artifacts import ArtifactClient, fetch_baseline, fetch_history, workflow_path
from doorbell_ci.github.limits import STEP_SUMMARY_BYTES
from doorbell_ci.reports import json_report, markdown
from doorbell_ci.reports.text import failures
from doorbell_ci.results import RunResult

LOG_GROUP_BYTES = 512 * 1024  # of each suite's log, shown folded in the job log
PUBLISH_OPTIONS = ("comment", "check_run", "check_name")


@dataclass
class PublishReport:
    """What publishing did, for the log, the tests and the step outputs."""

    comment: str = "not attempted"
    check_run: str = "not requested"
    annotations: int = 0
    summary_bytes: int | None = None
    notices: list[str] = field(default_factory=list)


def regressions_count(performance: dict[str, Any] | None) -> int:
    """Confirmed regressions in the compare stage's record, whatever shape of list or count it uses."""
    if not performance:
        return 0
    value = performance.get("regressions")
    if isinstance(value, list):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return 0


def step_outputs(run: RunResult, results_dir: Path, exit_code: int | None) -> dict[str, str | int | float | None]:
    counts = run.counts
    return {
        # the run's own verdict: a run that tested nothing (exit 8) or failed its coverage (7) did not pass
        "status": "failed" if run.failed or exit_code not in (None, 0) else "passed",
        "passed": counts.passed,
        "failed": counts.failed,
        "skipped": counts.skipped,
        "errors": counts.errors,
        "coverage": f"{run.coverage.percent:.1f}" if run.coverage is not None else "",
        "regressions": regressions_count(run.performance),
        "report-dir": str(results_dir.resolve()),
        "exit-code": "" if exit_code is None else exit_code,
    }


def _path_prefix(run: RunResult, context: api.GitHubContext) -> str:
    """Annotations name files relative to the repository; the project may be a sub-folder of it."""
    if context.workspace is None:
        return ""
    try:
        relative = Path(run.project).resolve().relative_to(context.workspace.resolve())
    except ValueError:
        return ""
    return "" if str(relative) == "." else relative.as_posix()


def publish(run: RunResult, results_dir: Path, exit_code: int | None, context: api.GitHubContext, *,
            comment_mode: str, check_run: bool, check_name: str | None, client: Any = None,
            stream: Any = None) -> PublishReport:
    """Every destination in turn; each failure becomes a notice and the rest still happen."""
    out = stream or sys.stdout
    report = PublishReport()
    check_name = check_name or context.default_check_name()
    redactor = redaction.Redactor(set(redaction.current().values) | ({context.token} if context.token else set()))
    redactor.redact_object(run)  # a report.json written before redaction existed, or by hand, is cleaned here
    # The results folder is uploaded after this step, whose token the run step may never have held:
    # every file in it is scrubbed again with this step's secrets (links and unscannable archives removed).
    report.notices += redaction.scrub_output(results_dir, redactor).notices(results_dir)
    if actions.in_actions():
        redaction.mask_in_actions(redactor, out)
        _print_logs(run, results_dir, out, redactor)
    can_call_api = bool(context.token and context.repository)
    pr_number = context.pull_request_number()
    if ((comment_mode != "off" and pr_number is not None) or check_run) and not can_call_api:
        report.notices.append("GitHub API not used: no token or repository (outside Actions?); "
                              "results are in the job summary and the report artifact")
    if can_call_api and client is None:
        client = api.make_client(context)

    prefix = _path_prefix(run, context)
    summary_for_api = markdown.render(run, limit=60_000, details_url=context.run_url, path_prefix=prefix)
    if comment_mode == "off":
        report.comment = "off"
    elif pr_number is None:
        report.comment = "no pull request for this event"
    elif can_call_api:
        try:
            outcome = api.upsert_comment(client, context, pr_number, summary_for_api, run, comment_mode)
            report.comment = f"{outcome.action} on #{pr_number}"
            if outcome.notice:
                report.notices.append(f"PR comment: {outcome.notice}")
        except Exception as error:  # any API trouble is a notice: publishing never changes the verdict
            report.comment = "failed"
            report.notices.append(f"PR comment not written: {api.describe_failure(error)}")

    failing = failures(run)
    made_check = False
    if check_run and can_call_api:
        notes = [n for n in (api.annotation(t, prefix, run.project) for t in failing) if n is not None]
        try:
            outcome_check = api.create_check_run(client, context, check_name, run, summary_for_api, notes)
            made_check = True
            report.annotations = outcome_check.annotations
            report.check_run = (f"created #{outcome_check.check_run_id} with {outcome_check.annotations} annotations "
                                f"in {outcome_check.requests} requests")
            if outcome_check.annotations_dropped:
                report.notices.append(f"{outcome_check.annotations_dropped} failures not annotated (cap of "
                                      f"{outcome_check.annotations} reached); all are in report.html")
        except Exception as error:  # any API trouble is a notice: publishing never changes the verdict
            report.check_run = "failed"
            report.notices.append(f"check run not created: {api.describe_failure(error)}")
    if not made_check and failing and actions.in_actions():
        report.annotations = actions.error_annotations(failing, out, path_prefix=prefix, project=run.project)

    report.notices = [redactor.redact(notice) for notice in report.notices]  # an API error may quote a header
    for notice in report.notices:
        print(f"doorbell-ci publish: notice: {notice}", file=out)
        if actions.in_actions():
            actions.command("warning", notice, out, title="doorbell-ci publish")
    summary = markdown.render(run, limit=STEP_SUMMARY_BYTES // 2, details_url=context.run_url, path_prefix=prefix)
    if report.notices:
        summary += "\n### Publishing notices\n\n" + "\n".join(f"- {n}" for n in report.notices) + "\n"
    report.summary_bytes = actions.write_step_summary(summary, report_pointer=context.run_url)
    actions.write_outputs({**step_outputs(run, results_dir, exit_code), "artifact-name": context.artifact_name()})
    return report


def _print_logs(run: RunResult, results_dir: Path, out: Any, redactor: redaction.Redactor | None = None) -> None:
    """Each suite's log folded in its own ``::group::`` (the run step was quiet), secrets masked."""
    redactor = redaction.current() if redactor is None else redactor
    for suite in run.suites:
        if not suite.log_file:
            continue
        path = results_dir / suite.log_file
        try:
            size = path.stat().st_size
            with open(path, "rb") as handle:
                if size > LOG_GROUP_BYTES:
                    handle.seek(size - LOG_GROUP_BYTES)
                text = redactor.redact(handle.read().decode("utf-8", errors="replace"))
        except OSError:
            continue
        with actions.group(f"{suite.name}: {suite.status.value} (log {suite.log_file})", out):
            if size > LOG_GROUP_BYTES:
                print(f"[first {size - LOG_GROUP_BYTES} bytes left out; the whole log is in the artifact]", file=out)
            # a test's output must not be able to issue workflow commands of its own
            print(redaction.neutralise_commands(text), file=out, flush=True)


# --- command line ----------------------------------------------------------------------------


def register_commands(subparsers: Any) -> None:
    publish_parser = subparsers.add_parser(
        "publish", help="publish a results folder to GitHub (job summary, outputs, PR comment, check run)",
        description="Publish RESULTS_DIR/report.json: job summary and step outputs, ::error annotations or a "
                    "check run, and one PR comment updated in place. Never changes the test verdict.")
    publish_parser.add_argument("results", type=Path, help="folder holding report.json (e.g. test-results)")
    publish_parser.add_argument("--project", default=".", help="project folder whose pyproject.toml holds "
                                "[tool.doorbell-ci] settings (default: .)")
    publish_parser.add_argument("--comment", dest="comment", default=argparse.SUPPRESS,
                                help="PR comment: always, changes, failures (or on-failure), off")
    publish_parser.add_argument("--check-run", dest="check_run", action="store_const", const="true",
                                default=argparse.SUPPRESS, help="also create a separately named check run")
    publish_parser.add_argument("--check-name", dest="check_name", default=argparse.SUPPRESS,
                                help="name of that check run")
    publish_parser.add_argument("--event-file", type=Path, default=None,
                                help="event JSON to take the PR number and head commit from (workflow_run "
                                     "publishers pass the test run's uploaded event file)")
    publish_parser.set_defaults(handler=_publish_command)

    fetch = subparsers.add_parser(
        "fetch-baseline", help="download the newest baseline artifact of the default branch (or use baselines/)",
        description="Find the newest unexpired artifact NAME built on the default branch by this repository "
                    "(not a fork), download and safely extract it into DEST; fall back to the repository's "
                    "baselines/ folder. Prints and outputs which was used.")
    fetch.add_argument("--name", required=True, help="artifact name, e.g. doorbell-ci-baseline-Linux-ARM64")
    fetch.add_argument("--dest", type=Path, required=True, help="folder to extract into")
    fetch.add_argument("--repo-baselines", type=Path, default=Path("baselines"),
                       help="fallback folder in the repository (default: baselines)")
    fetch.set_defaults(handler=_fetch_command)

    history = subparsers.add_parser(
        "fetch-history", help="download history.json (and impact.json.gz) from the default branch's last results "
                              "artifact",
        description="Find the newest unexpired results artifact NAME built on the default branch by this "
                    "repository (not a fork) by a finished run of this workflow, extract it safely and keep its "
                    "history.json and impact map (impact.json.gz) in DEST. Prints and outputs what was found; "
                    "finding nothing is not an error.")
    history.add_argument("--name", default=None, help="results artifact name (default: this job's, as the "
                         "action names it: doorbell-ci-JOB-OS-ARCH[-matrix values][-report key])")
    history.add_argument("--dest", type=Path, required=True, help="folder to put history.json and impact.json.gz in")
    history.set_defaults(handler=_fetch_history_command)


def _publish_command(args: argparse.Namespace) -> int:
    from doorbell_ci.config import load_config

    cli_values = {name: getattr(args, name) for name in PUBLISH_OPTIONS if hasattr(args, name)}
    config = load_config(Path(args.project).expanduser(), cli_values)
    run, document = json_report.read(args.results)
    results_dir = args.results if args.results.is_dir() else args.results.parent
    context = api.GitHubContext.from_environ(event_path=args.event_file)
    report = publish(run, results_dir, document.get("run", {}).get("exit_code"), context,
                     comment_mode=config.comment, check_run=config.check_run, check_name=config.check_name)
    print(f"doorbell-ci publish: comment: {report.comment}; check run: {report.check_run}; "
          f"annotations: {report.annotations}; job summary: "
          f"{'not in Actions' if report.summary_bytes is None else f'{report.summary_bytes} bytes'}")
    return 0


def _fetch_history_command(args: argparse.Namespace) -> int:
    context = api.GitHubContext.from_environ()
    client = None
    if context.token and context.repository:
        client = ArtifactClient(context.api_url, context.repository, context.token)
    name = args.name or context.artifact_name()
    result = fetch_history(client, name, args.dest, workflow=workflow_path(os.environ.get("GITHUB_WORKFLOW_REF")))
    print(f"doorbell-ci fetch-history: {result.detail}")
    if actions.in_actions(os.environ):
        actions.write_outputs({"history-file": str(result.directory.resolve()) if result.directory else "",
                               "impact-map": str(result.impact_map.resolve()) if result.impact_map else ""})
    return 0


def _fetch_command(args: argparse.Namespace) -> int:
    context = api.GitHubContext.from_environ()
    client = None
    if context.token and context.repository:
        client = ArtifactClient(context.api_url, context.repository, context.token)
    result = fetch_baseline(client, args.name, args.dest, args.repo_baselines,
                            workflow=workflow_path(os.environ.get("GITHUB_WORKFLOW_REF")))
    print(f"doorbell-ci fetch-baseline: {result.detail}")
    if actions.in_actions(os.environ):
        actions.write_outputs({"baseline-source": result.source,
                               "baseline-dir": str(result.directory.resolve()) if result.directory else ""})
    return 0
