"""Stage 6, analyse: why the run is red, and what to do about it.

* ``signatures``: failures grouped by cause (exception, masked message, innermost project frame).
* ``reproduce``: the command that reruns one failing test alone, with its env and seed.
* ``flaky``: reruns of failed tests in isolation; a test that passes on one is flaky.
* ``history``: new / still failing / fixed against a base run, and per-test outcome history.
* ``history_store``, ``flakiness``, ``quarantine``: history.json across runs, flaky tests from its
  evidence, and quarantined tests that run but do not fail the gate (:func:`track`).

:func:`analyse` is pure: it turns a RunResult (plus what earlier runs said) into the ``analysis``
section of report.json, documented in docs/ANALYSIS.md. :func:`for_run` is the pipeline's entry:
it reads the earlier reports, and any problem with them becomes a notice, never a lost run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from doorbell_ci import jsonsafe
from doorbell_ci.analysis import flakiness, history_store, quarantine, signatures
from doorbell_ci.analysis import history as history_
from doorbell_ci.analysis.flaky import Reruns
from doorbell_ci.analysis.history_store import History
from doorbell_ci.analysis.reproduce import reproduce
from doorbell_ci.errors import ConfigError, ReportError
from doorbell_ci.results import RunResult, SuiteResult

SCHEMA_VERSION = 1


def analyse(
    run: RunResult,
    *,
    history: Mapping[str, str],
    base: RunResult | history_.BaseRun | None = None,
    base_source: str | None = None,
    reruns: Reruns | None = None,
    suite_envs: Mapping[str, Mapping[str, str]] | None = None,
    output_dir: Path | None = None,
    known_reproductions: Mapping[str, Any] | None = None,
    shard: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``analysis`` section of report.json for ``run``."""
    suite_envs = suite_envs or {}
    known_reproductions = known_reproductions or {}
    classification = history_.classify(run, base) if base is not None else history_.Classification()
    groups = signatures.group(run.iter_tests(), run.project)
    suites_by_name: dict[str, SuiteResult] = {suite.name: suite for suite in run.suites}
    failures = []
    for entry in groups:
        for failure in entry.failures:
            test = failure.test
            how = known_reproductions.get(failure.key) or reproduce(
                test, suites_by_name[test.suite], run.project, suite_envs.get(test.suite, {}), run.environment,
                output_dir)
            failures.append({
                "key": failure.key,
                "suite": test.suite,
                "nodeid": test.nodeid,
                "outcome": test.outcome.value,
                "flaky": test.flaky,
                "status": classification.status_of(failure.key) if base is not None else None,
                "signature": entry.signature,
                "exception": failure.exception,
                "message": failure.message,
                "file": failure.frame.file if failure.frame else None,
                "line": failure.frame.line if failure.frame else None,
                "reproduce": how,
            })
    new_first = {"new": 0, "still failing": 1, None: 2}
    failures.sort(key=lambda f: new_first[f["status"]])
    attempts = reruns.attempts if reruns else {}
    flaky = [
        {"key": signatures.test_key(test), "suite": test.suite, "nodeid": test.nodeid,
         "attempts": attempts.get(signatures.test_key(test), []),
         "counted_as": "failed" if history_.is_failing(test) else "passed",
         "message": test.message[:signatures.MESSAGE_LIMIT]}
        for test in run.iter_tests() if test.flaky
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "groups": [
            {"signature": g.signature, "exception": g.exception, "message": g.message,
             "file": g.frame.file if g.frame else None, "line": g.frame.line if g.frame else None,
             "count": g.count, "tests": [f.key for f in g.failures]}
            for g in groups
        ],
        "failures": failures,
        "against": {"source": base_source, "run_id": base.run_id} if base is not None else None,
        "new": classification.new,
        "still_failing": classification.still_failing,
        "fixed": classification.fixed,
        "flaky": flaky,
        "reruns": {"max": reruns.max_reruns if reruns else 0, "attempts": attempts},
        "flipping": history_.flipping(history),
        "history": dict(history),
        "shard": dict(shard) if shard else None,
    }


def read_report(path: Path) -> tuple[RunResult, dict[str, Any]]:
    """A report.json (or the folder holding one); ReportError if it is missing or not ours."""
    from doorbell_ci.reports import json_report

    return json_report.read(path)


def read_base(path: Path) -> tuple[history_.BaseRun, dict[str, Any]]:
    """What the analysis needs of an earlier report.json: its run id and failing tests, and the document.

    Not a RunResult: at 50,000 tests making one TestResult per entry took longer than decoding the
    JSON (docs/PERFORMANCE.md, "Floor"). ReportError if it is missing, not ours, or damaged there.
    """
    from doorbell_ci.reports import json_report  # here: the report.json format's reader, as read_report

    document = json_report.read_document(path)
    try:
        return history_.BaseRun.from_document(document), document
    except (KeyError, TypeError, ValueError) as error:
        raise ReportError(f"{path if not path.is_dir() else path / json_report.FILENAME} is damaged: "
                          f"missing or bad field {error}") from None


def for_run(result: RunResult, config: Any, reruns: Reruns | None = None,
            shard: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Analyse a finished run; unreadable earlier reports become notices on ``result``."""
    previous_path = Path(config.output_dir) / "report.json"
    previous: dict[str, Any] | None = None
    previous_run: history_.BaseRun | None = None
    if os.path.isfile(previous_path):  # os.path: a test may have made the output folder unreadable
        try:
            previous_run, previous = read_base(previous_path)
        except ReportError as error:
            result.notices.append(f"analysis: the previous report is not used for history: {error}")
    base, base_source = previous_run, (str(previous_path) if previous_run else None)
    if config.against is not None:
        try:
            base, base_document = read_base(Path(config.against))
            base_source = str(config.against)
            previous = previous or base_document  # in CI the base run's report is the only earlier one
        except ReportError as error:
            base, base_source = None, None
            result.notices.append(f"analysis: failures are not classified as new or known: {error}")
    suite_envs = {name: dict(suite.env) for name, suite in config.suite_configs.items()}
    history = history_.extend_history(result.iter_tests(), history_.previous_history(previous))
    return analyse(result, history=history, base=base, base_source=base_source, reruns=reruns,
                   suite_envs=suite_envs, output_dir=Path(config.output_dir), shard=shard)


def track(result: RunResult, config: Any) -> History | None:
    """history.json for this run, the flaky tests it shows, and the quarantine; None with history off.

    Runs after :func:`for_run` and before the exit code is decided (a quarantine can turn a suite
    green). An unreadable earlier history costs the history, said in a notice, never the run; a bad
    quarantine file is a ConfigError (the pipeline turns it into a notice and applies no quarantine).
    """
    project = Path(config.project)
    output_dir = Path(config.output_dir)
    section = result.analysis if result.analysis is not None else {}
    previous = load_previous(config, result.notices)
    platform = history_store.platform_of(result)
    before = flakiness.classify(previous) if previous.runs else {}
    history = history_store.append(previous, result, platform, config.history_runs, config.history_tests)
    verdicts = flakiness.classify(history)
    section["flakiness"] = flakiness_section(verdicts, before, result)
    quarantine_path = config.quarantine_file if Path(config.quarantine_file).is_absolute() \
        else project / config.quarantine_file
    try:
        entries = quarantine.load(quarantine_path)
    except ConfigError as error:
        entries = []
        result.notices.append(f"{error}; no test is quarantined by it")
    automatic = quarantine.auto_entries(history, verdicts, config.quarantine_days) if config.quarantine_auto else {}
    section["quarantine"] = quarantine.apply(
        result, entries, history, platform, clean_needed=config.quarantine_clean_runs, automatic=automatic,
        source=str(quarantine_path) if entries else "")
    result.analysis = section
    _write_history(history, output_dir, result)
    return history


def track_merged(result: RunResult, folders: list[Path], shard_run_ids: list[str], output_dir: Path,
                 quarantine_sections: list[Mapping[str, Any]]) -> History | None:
    """history.json of merged shards: their shared past once, then the merged run in place of theirs.

    The shards applied the quarantine already (a suite they turned green stays green in the merge);
    their quarantine sections are joined so that every report still lists the quarantined tests.
    """
    histories = []
    for folder in folders:
        path = folder / history_store.FILENAME
        if not os.path.isfile(path):
            continue
        try:
            histories.append(history_store.read(path))
        except ReportError as error:
            result.notices.append(f"history: {folder}'s history is left out: {error}")
    if not histories:
        return None
    longest = max(len(h.runs) for h in histories)
    runs = max(history_store.DEFAULT_RUNS, longest)
    tests = max(history_store.DEFAULT_TESTS, max(len(h.tests) for h in histories))
    previous = history_store.combine(histories, runs, tests, leave_out=shard_run_ids)
    before = flakiness.classify(previous) if previous.runs else {}
    history = history_store.append(previous, result, history_store.platform_of(result), runs, tests)
    section = result.analysis if result.analysis is not None else {}
    section["flakiness"] = flakiness_section(flakiness.classify(history), before, result)
    joined = [item for part in quarantine_sections for item in part.get("tests") or [] if isinstance(item, dict)]
    if joined:
        section["quarantine"] = {"file": next((str(p.get("file")) for p in quarantine_sections if p.get("file")), ""),
                                 "entries": max(int(p.get("entries") or 0) for p in quarantine_sections),
                                 "tests": joined, "expired": [], "can_leave": []}
    result.analysis = section
    _write_history(history, output_dir, result)
    return history


def _write_history(history: History, output_dir: Path, result: RunResult) -> None:
    """history.json beside report.json; a folder that refuses it costs the history, never the run."""
    from doorbell_ci import atomic

    try:
        atomic.write_text(output_dir / history_store.FILENAME, history_store.dumps(history))
    except OSError as error:
        result.notices.append(f"history: {history_store.FILENAME} could not be written: {error.strerror or error}")


def load_previous(config: Any, notices: list[str]) -> History:
    """The history to extend: ``history_from``, else the output folder's; empty (and a notice) if unusable."""
    given = config.history_from
    path = Path(given) if given is not None else Path(config.output_dir) / history_store.FILENAME
    if given is not None and not path.is_absolute():
        path = Path(config.project) / path
    if given is None and not os.path.lexists(path):  # a link or FIFO there is read, and refused, below
        return History()
    try:
        return history_store.read(path)
    except ReportError as error:
        notices.append(f"history: the previous history is not used: {error}")
        return History()


def flakiness_section(verdicts: Mapping[str, flakiness.Verdict], before: Mapping[str, flakiness.Verdict],
                      result: RunResult) -> dict[str, Any]:
    """What report.json and the PR comment say about flakiness; ``new`` = flaky or candidate since this run."""
    here = {history_store.test_key(test) for test in result.iter_tests()}
    new = sorted(key for key in verdicts if key in here and key not in before)
    for key in new[:10]:
        verdict = verdicts[key]
        kind = "flaky" if verdict.status == "flaky" else "a flaky candidate"
        result.notices.append(f"flaky: {key} is {kind} with this run ({verdict.reason})")
    if len(new) > 10:
        result.notices.append(f"flaky: and {len(new) - 10} more tests became flaky or candidates (report.json)")
    rows = sorted(verdicts.values(), key=lambda v: (v.status != "flaky", -v.flip_rate, v.key))
    return {"tests": [{"key": v.key, "status": v.status, "reason": v.reason, "flip_rate": v.flip_rate}
                      for v in rows[:1_000]],
            "flaky": sum(v.status == "flaky" for v in rows), "candidates": sum(v.status == "candidate" for v in rows),
            "new": new[:1_000]}


def reanalyse(path: Path, against: Path | None = None) -> tuple[RunResult, dict[str, Any]]:
    """The analysis of a stored results folder (``doorbell-ci analyze``), optionally against another."""
    run, document = read_report(path)
    stored = stored_section(document)
    base = base_source = None
    if against is not None:
        base, _ = read_base(against)
        base_source = str(against)
    elif isinstance(stored.get("against"), dict) and stored["against"].get("source"):
        source = Path(str(stored["against"]["source"]))
        try:
            base, _ = read_base(source)
            base_source = str(source)
        except ReportError:
            run.notices.append(f"analysis: the base report {source} is no longer readable; failures are not "
                               "classified (pass --against)")
    history = (stored_history(stored) if isinstance(stored.get("history"), dict)
               else history_.extend_history(run.iter_tests(), {}))
    reruns = stored_reruns(stored)
    known = stored_reproductions(stored)
    folder = path if path.is_dir() else path.parent
    analysis = analyse(run, history=history, base=base, base_source=base_source, reruns=reruns,
                       output_dir=folder, known_reproductions=known, shard=_mapping(stored.get("shard")) or None)
    for section in ("flakiness", "quarantine"):  # made from history.json at run time: kept as recorded
        if isinstance(stored.get(section), dict):
            analysis[section] = stored[section]
    return run, analysis


def stored_section(document: Mapping[str, Any]) -> dict[str, Any]:
    """The ``analysis`` section of a report.json document, or empty when absent or malformed."""
    return _mapping(document.get("analysis"))


def _mapping(value: Any) -> dict[str, Any]:
    """A stored section as a dict; anything else (a damaged or hostile report) as empty."""
    return value if isinstance(value, dict) else {}


def stored_reruns(stored: Mapping[str, Any]) -> Reruns:
    section = _mapping(stored.get("reruns"))
    attempts = {str(key): [str(outcome) for outcome in value]
                for key, value in _mapping(section.get("attempts")).items() if isinstance(value, list)}
    maximum = section.get("max")
    return Reruns(max_reruns=maximum if isinstance(maximum, int) and not isinstance(maximum, bool) else 0,
                  attempts=attempts)


def stored_reproductions(stored: Mapping[str, Any]) -> dict[str, Any]:
    failures = stored.get("failures") if isinstance(stored.get("failures"), list) else []
    return {str(f["key"]): f["reproduce"] for f in failures
            if isinstance(f, dict) and isinstance(f.get("reproduce"), dict) and "key" in f}


def stored_history(stored: Mapping[str, Any]) -> dict[str, str]:
    return history_.previous_history({"analysis": stored}) if isinstance(stored.get("history"), dict) else {}


def dumps(analysis: Mapping[str, Any]) -> str:
    return jsonsafe.dumps(jsonsafe.finite_copy(analysis)[0], indent=2, ensure_ascii=False)  # strict JSON
