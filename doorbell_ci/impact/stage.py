"""The impact stage in the pipeline: select before the suites run, record and audit after.

* :func:`prepare_plan` loads ``plugin.py`` (per-test lines) into the suites that
  collect coverage when the map is to be recorded.
* :func:`select` (after ``environment.prepare``, before sharding) lists each pytest suite's tests
  with a ``--collect-only`` probe (sharding's own probe), reads the map, diffs against its commit
  and hands each suite the node ids to run through the selection plugin's file. Sharding then
  splits only those (its probe collects through the same file).
* :func:`after_run` writes impact.json.gz (``record_impact``) and, in audit mode, names every test
  that failed in the full run but that the selection would have left out.

Whatever goes wrong here (no map, a hostile map, git missing, a shallow clone) costs the
selection, said in one line as ``full_run_reason``, never the run.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from doorbell_ci.impact import summary_line
from doorbell_ci.plan import Plan, PlannedSuite, SkippedSuite

if TYPE_CHECKING:  # the modules themselves are imported when a run selects or records (start-up cost)
    from doorbell_ci.impact import changes as changes_
    from doorbell_ci.impact.impactmap import ImpactMap
    from doorbell_ci.impact.select import Selection

FILENAME = "impact.json.gz"  # impactmap.FILENAME, without importing gzip and zlib into every run

RECORDING_PLUGIN = "doorbell_ci.impact.plugin"
RECENT_RUNS = 10  # a test that failed or was flaky in this many of the latest runs is always selected
FAILED_LETTERS = frozenset("FER")
MAX_CHANGED_LISTED = 1_000


@dataclass
class ImpactStage:
    plan: Plan
    impact: dict[str, Any] | None = None
    selection: Selection | None = None
    probed: set[str] = field(default_factory=set)  # suites whose tests were listed (audit compares only those)
    notices: list[str] = field(default_factory=list)


def platform_key(config: Any) -> str:
    """What a recorded map must match: OS, architecture, Python minor, and Docker's base image.

    Coverage depends on the code paths the interpreter takes, not on the CPU model (which the
    performance baselines key on): a map from another runner of the same kind is as good.
    """
    import platform as platform_
    import sys

    key = f"{platform_.system().lower()}-{platform_.machine().lower()}-py{sys.version_info[0]}.{sys.version_info[1]}"
    if getattr(config, "environment", "local") == "docker":
        key += f"-docker-{getattr(config, 'docker_base', '')}"
    return key


def prepare_plan(plan: Plan, config: Any) -> Plan:
    """With ``record_impact``, every pytest suite that collects coverage names its contexts after its tests."""
    if not getattr(config, "record_impact", False):
        return plan
    from doorbell_ci.impact import FIXTURES_ENV

    suites = []
    for suite in plan.suites:
        if suite.coverage and suite.config.is_pytest and RECORDING_PLUGIN not in suite.config.pytest_args:
            args = (*suite.config.pytest_args, "-p", RECORDING_PLUGIN)
            env = {**suite.config.env, FIXTURES_ENV: str(plan.output_dir / fixtures_file(suite.name))}
            suite = replace(suite, config=replace(suite.config, pytest_args=args, env=env))
        suites.append(suite)
    return replace(plan, suites=tuple(suites))


def fixtures_file(suite: str) -> str:
    """Where ``plugin`` lists each test's shared fixtures (``.<worker>`` is appended)."""
    return f"logs/{suite}.impact-fixtures"


def map_path(config: Any) -> tuple[Path, bool]:
    """The map to select against, and whether the user named it (a named map that is missing is said louder)."""
    project = Path(config.project)
    if config.impact_map is not None:
        path = Path(config.impact_map)
        return (path if path.is_absolute() else project / path), True
    if config.history_from is not None:  # the fetched results artifact holds the map next to history.json
        folder = Path(config.history_from)
        folder = folder if folder.is_absolute() else project / folder
        folder = folder if folder.is_dir() else folder.parent
        if (folder / FILENAME).exists():
            return folder / FILENAME, False
    return Path(config.output_dir) / FILENAME, False


def select(plan: Plan, environment: Any, config: Any, console: Any) -> ImpactStage:
    """The plan restricted to the affected tests (or whole, with the reason); never raises but interrupts.

    A failure nobody foresaw here (a bug, a file system surprise) must cost the selection, not
    the run: everything runs and the reason says what broke.
    """
    try:
        return _select(plan, environment, config, console)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as error:  # noqa: BLE001 - see above
        reason = f"the selection failed ({type(error).__name__}: {str(error)[:200]}); every test runs"
        console.write(f"==> impact: {reason}")
        impact = _document(getattr(config, "select", "all"), None, None)
        impact["full_run_reason"] = reason
        impact["notices"] = [f"impact: {reason}"]
        return ImpactStage(plan, impact, notices=[f"impact: {reason}"])


def _select(plan: Plan, environment: Any, config: Any, console: Any) -> ImpactStage:
    mode = getattr(config, "select", "all")
    stage = ImpactStage(plan)
    if mode == "all":
        if getattr(config, "record_impact", False):
            stage.impact = _document("all", None, None)
        return stage
    from doorbell_ci.impact import changes as changes_
    from doorbell_ci.impact.select import SelectSettings, full_run, select_tests
    from doorbell_ci.sharding import _collect_ids  # the shard probe: collects through any environment

    pytest_suites = [suite for suite in plan.suites if suite.config.is_pytest]
    with ThreadPoolExecutor(max_workers=max(1, plan.cores)) as pool:
        listed = dict(zip([s.name for s in pytest_suites],
                          pool.map(lambda s: _collect_ids(plan, environment, s, console), pytest_suites), strict=True))
    collected: dict[str, list[str]] = {}
    for suite in pytest_suites:
        ids = listed.get(suite.name)
        if ids is None:
            stage.notices.append(f"impact: could not list the tests of {suite.name} "
                                 f"(see logs/{suite.name}-collect.log); it runs whole")
        else:
            collected[suite.name] = ids
    stage.probed = set(collected)
    impact_map, map_facts, reason = _usable_map(config, stage.notices)
    if pytest_suites and not collected:  # nothing to choose from: the counts would say 0 of 0
        names = ", ".join(f"logs/{suite.name}-collect.log" for suite in pytest_suites)
        reason = f"the tests could not be listed (a collection error? see {names}); every suite runs whole"
    selection: Selection
    found: changes_.Changes | None = None
    if reason is None:
        assert impact_map is not None
        try:
            found = _changes(Path(config.project), impact_map, Path(config.output_dir))
        except changes_.GitError as error:
            reason = f"the change since the map's commit is unknown: {error}"
    if reason is not None or found is None or impact_map is None:
        selection = full_run(collected, reason or "no impact map")
    else:
        settings = SelectSettings(full_run=tuple(config.impact_full_run),
                                  ignore=(*config.impact_ignore, *_own_folders(config)))
        unlisted = [suite.name for suite in pytest_suites if suite.name not in collected]
        selection = select_tests(impact_map, found, collected, _recent_failures(config, collected, stage.notices),
                                 settings, _importers(Path(config.project), found, collected), unlisted,
                                 _mentions(Path(config.project), found, collected))
    stage.selection = selection
    stage.impact = _document(mode, map_facts, selection, found)
    stage.notices.extend(stage.impact["notices"])  # the pipeline reports stage.notices
    stage.impact["notices"] = list(stage.notices)
    line = summary_line(stage.impact)
    console.write(f"==> impact: {line}")
    if mode == "affected" and selection.full_run_reason is None:
        stage.plan = _restrict(plan, selection)
    return stage


def _own_folders(config: Any) -> tuple[str, ...]:
    """doorbell-ci's own files inside the project (the output folder, the fetched map and history).

    Results and fetched artifacts are not a change of the project, even where .gitignore does not
    name them; without this, a checkout that does not ignore test-results/ would always run everything.
    """
    project = Path(config.project).resolve()
    patterns = []
    for given, folder in ((config.output_dir, True), (getattr(config, "impact_map", None), False),
                          (getattr(config, "history_from", None), None)):
        if given is None:
            continue
        path = Path(given) if Path(given).is_absolute() else project / given
        try:
            inside = path.resolve().relative_to(project).as_posix()
        except (ValueError, OSError):
            continue
        if inside in ("", "."):
            continue
        is_folder = folder if folder is not None else path.is_dir()
        patterns.append(f"{inside}/**" if is_folder else inside)
    return tuple(patterns)


def _usable_map(config: Any, notices: list[str]) -> tuple[ImpactMap | None, dict[str, Any] | None, str | None]:
    from doorbell_ci.impact import changes as changes_
    from doorbell_ci.impact.impactmap import ImpactMapError, read_map

    path, named = map_path(config)
    if not named and not os.path.lexists(path):
        return None, None, "no impact map (record one with --record-impact on a full run, e.g. the default branch)"
    try:
        impact_map = read_map(path)
    except ImpactMapError as error:
        return None, None, f"the impact map is not used: {error}"
    facts = {"commit": impact_map.commit, "platform_key": impact_map.platform_key, "source": str(path),
             "created_at": impact_map.created_at}
    here = platform_key(config)
    if impact_map.platform_key != here:
        return impact_map, facts, f"the map was recorded on {impact_map.platform_key}, this run is {here}"
    problem = changes_.commit_problem(Path(config.project), impact_map.commit, int(config.impact_max_commits))
    if problem:
        return impact_map, facts, problem
    return impact_map, facts, None


def _changes(project: Path, impact_map: ImpactMap, output_dir: Path | None = None) -> changes_.Changes:
    from doorbell_ci.impact import changes as changes_

    found = changes_.find_changes(project, impact_map.commit)
    if output_dir is not None:  # our own output folder (test-results/ inside the checkout) is no change to test
        try:
            own = output_dir.resolve().relative_to(project.resolve()).as_posix() + "/"
        except ValueError:
            own = None
        if own is not None:
            found.files = [changed for changed in found.files if not changed.path.startswith(own)]
    changes_.drift(project, found, impact_map.files)
    changes_.to_blocks(project, found, impact_map.files)
    return found


def _importers(project: Path, found: changes_.Changes, collected: dict[str, list[str]]) -> Any:
    """``importers_of`` for select_tests: the test files whose import closure reaches a changed module."""
    def importers_of(modules: set[str]) -> set[str]:
        from doorbell_ci.impact.imports import importers

        return importers(project, *_python_and_test_files(project, found, collected), modules)

    return importers_of


def _mentions(project: Path, found: changes_.Changes, collected: dict[str, list[str]]) -> Any:
    """``mentions_of`` for select_tests: the test files that may read a changed module-level constant."""
    def mentions_of(constants: dict[str, set[str]]) -> set[str]:
        from doorbell_ci.impact.imports import mentioning

        return mentioning(project, *_python_and_test_files(project, found, collected), constants)

    return mentions_of


def _python_and_test_files(project: Path, found: changes_.Changes,
                           collected: dict[str, list[str]]) -> tuple[set[str], set[str]]:
    """The project's Python files (tracked, untracked, and deleted ones) and the collected test files."""
    from doorbell_ci.impact import changes as changes_
    from doorbell_ci.impact.select import test_file_of

    try:
        listed = str(changes_.git(project, "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                                  "--", "*.py"))
    except changes_.GitError:
        listed = ""
    python_files = {path for path in listed.split("\0") if path}
    python_files |= {changed.path for changed in found.files if changed.path.endswith(".py")}
    return python_files, {test_file_of(nodeid) for ids in collected.values() for nodeid in ids}


def _restrict(plan: Plan, selection: Selection) -> Plan:
    """Each probed suite runs its selected ids (through the selection plugin's file); one with none does not run."""
    suites: list[PlannedSuite] = []
    absent = list(plan.absent)
    for suite in plan.suites:
        ids = selection.selected.get(suite.name)
        if ids is None:
            suites.append(suite)  # not probed (a command suite, or a probe that failed): runs whole
            continue
        if not ids:
            absent.append(SkippedSuite(suite.name, "no test of it is affected by the change (--select affected)"))
            continue
        name = f"logs/{suite.name}.impact.select"
        (plan.output_dir / name).write_text("".join(nodeid + "\n" for nodeid in ids), encoding="utf-8")
        suites.append(replace(suite, selection=name))
    return replace(plan, suites=tuple(suites), absent=tuple(absent))


def junit_key(suite: str, nodeid: str) -> str:
    """history.json's ``suite::classname::name`` of a node id, as pytest's JUnit XML names the test."""
    parts = nodeid.split("::")
    module = parts[0][:-3] if parts[0].endswith(".py") else parts[0]
    classname = ".".join([module.replace("/", "."), *parts[1:-1]])
    return f"{suite}::{classname}::{parts[-1]}"


def _recent_failures(config: Any, collected: dict[str, list[str]], notices: list[str]) -> set[str]:
    if not getattr(config, "history", True):
        return set()
    from doorbell_ci.analysis import load_previous

    history = load_previous(config, notices)
    if not history.tests:
        return set()
    recent = set()
    for suite, ids in collected.items():
        for nodeid in ids:
            letters = history.outcomes(junit_key(suite, nodeid))[-RECENT_RUNS:]
            if FAILED_LETTERS.intersection(letters):
                recent.add(f"{suite}::{nodeid}")
    return recent


def _document(mode: str, map_facts: dict[str, Any] | None, selection: Selection | None,
              found: changes_.Changes | None = None) -> dict[str, Any]:
    """``RunResult.impact`` (report.json "impact"), the contract every report reads."""
    changed = []
    for changed_file in (found.files if found else [])[:MAX_CHANGED_LISTED]:
        ranges = changed_file.old_ranges if changed_file.kind == "deleted" else changed_file.new_ranges
        changed.append({"path": changed_file.path, "kind": changed_file.kind, "lines": [list(r) for r in ranges]})
    notices = []
    if found and len(found.files) > MAX_CHANGED_LISTED:
        notices.append(f"impact: {len(found.files):,} files changed; the first {MAX_CHANGED_LISTED:,} are listed")
    return {
        "mode": mode,
        "map": map_facts,
        "full_run_reason": selection.full_run_reason if selection else None,
        "base": found.base if found else (map_facts or {}).get("commit"),
        "head": found.head if found else None,
        "changed": changed,
        "selected": selection.count if selection else None,
        "total": selection.total if selection else None,
        "reasons": selection.reason_counts() if selection else {},
        "no_code_change": list(selection.no_code_change[:MAX_CHANGED_LISTED]) if selection else [],
        # "src/x.py: __version__": only module-level constants changed there; their readers ran, not every importer
        "constants": list(selection.constants[:MAX_CHANGED_LISTED]) if selection else [],
        "deselected": list(selection.deselected) if selection else [],
        "missed": [],
        "recorded": None,
        "notices": notices,
    }


def selected_none(impact: dict[str, Any] | None) -> bool:
    """--select affected found nothing a change can break: a run that tests nothing is then a success."""
    return bool(impact and impact.get("mode") == "affected" and impact.get("full_run_reason") is None
                and impact.get("selected") == 0)


# --- after the run -------------------------------------------------------------------------------


def after_run(stage: ImpactStage, plan: Plan, config: Any, result: Any) -> None:
    """Audit the selection against the full run's failures, and record the map; both into ``result``.

    Whatever fails here costs the map or the audit (a notice), never the run's report.
    """
    try:
        _after_run(stage, plan, config, result)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as error:  # noqa: BLE001 - see above
        result.notices.append(f"impact: recording or auditing failed ({type(error).__name__}: {str(error)[:200]})")


def _after_run(stage: ImpactStage, plan: Plan, config: Any, result: Any) -> None:
    impact = stage.impact
    if impact is None:
        return
    reported = len(impact["notices"])  # the selection's own notices are in the run's already
    if impact["mode"] == "audit" and stage.selection is not None and impact["full_run_reason"] is None:
        chosen = {f"{suite}::{nodeid}" for suite, ids in stage.selection.selected.items() for nodeid in ids}
        missed = sorted(f"{test.suite}::{test.nodeid}" for test in result.iter_tests()
                        if test.suite in stage.probed and test.outcome.value in ("failed", "error")
                        and f"{test.suite}::{test.nodeid}" not in chosen)
        impact["missed"] = missed
        if missed:
            shown = ", ".join(missed[:5]) + (f" and {len(missed) - 5} more" if len(missed) > 5 else "")
            impact["notices"].append(f"impact audit: the selection would have missed {len(missed)} failing "
                                     f"test(s): {shown}")
    if getattr(config, "record_impact", False):
        impact["recorded"] = _record(plan, config, result, impact)
    result.notices.extend(impact["notices"][reported:])


def _say_contexts(recording: Any, suite: str, files: list[Path]) -> None:
    """A suite recorded with coverage's dynamic contexts, the slower way (plugin.py), says why, once."""
    if not files:
        return
    try:
        why = files[0].read_text(encoding="utf-8", errors="replace").strip()[:300]
    except OSError as error:
        why = error.strerror or str(error)
    recording.notices.append(f"impact: {suite} was recorded with coverage's dynamic contexts, which is slower "
                             f"({why})")


def _record(plan: Plan, config: Any, result: Any, impact: dict[str, Any]) -> dict[str, Any] | None:
    from doorbell_ci.impact import CONTEXTS_SUFFIX, LINES_SUFFIX
    from doorbell_ci.impact import changes as changes_
    from doorbell_ci.impact.impactmap import ImpactMapError, write_map
    from doorbell_ci.impact.record import Recording, build_map, read_fixture_uses, read_spawned, read_suite

    if impact["mode"] == "affected" and impact.get("deselected"):
        impact["notices"].append("impact: the map is not recorded from a selected run (it would lack the "
                                 "tests left out); record it on a full run")
        return None
    project = Path(config.project)
    recording = Recording()
    for suite in plan.suites:
        if not suite.config.is_pytest:
            continue
        data_file = plan.output_dir / suite.coverage_name
        if not suite.coverage:
            recording.notices.append(f"impact: {suite.name} runs without coverage; its tests have no map entry "
                                     "(they always run under --select affected)")
        elif not data_file.is_file():
            recording.notices.append(f"impact: {suite.name} left no coverage data; its tests have no map entry")
        else:
            written = sorted(plan.output_dir.glob(f"{fixtures_file(suite.name)}.*"))
            lines = [path for path in written if path.suffix == LINES_SUFFIX]
            read_suite(recording, suite.name, data_file, project, lines)
            uses = [path for path in written if path.suffix not in (".spawned", LINES_SUFFIX, CONTEXTS_SUFFIX)]
            read_fixture_uses(recording, suite.name, uses)
            _say_contexts(recording, suite.name, [path for path in written if path.suffix == CONTEXTS_SUFFIX])
            read_spawned(recording, suite.name, [path for path in written if path.suffix == ".spawned"])
            if suite.name in recording.suites:  # read once (a big suite's are as big as its per-test
                for path in lines:               # coverage); a refused one stays, to be looked at
                    path.unlink(missing_ok=True)
    impact["notices"].extend(recording.notices)
    read = set(recording.suites)
    ran: list[str] = []
    unsure: list[str] = []
    for test in result.iter_tests():
        if test.suite not in read:
            continue
        key = f"{test.suite}::{test.nodeid}"
        (ran if test.outcome.value in ("passed", "failed") and not test.flaky else unsure).append(key)
    impact_map = build_map(recording, project, changes_.head_commit(project), changes_.is_dirty(project),
                           platform_key(config), ran, unsure)
    target = plan.output_dir / FILENAME
    try:
        size = write_map(impact_map, target)
    except ImpactMapError as error:
        impact["notices"].append(str(error))
        return None
    except OSError as error:
        impact["notices"].append(f"impact: {FILENAME} could not be written: {error.strerror or error}")
        return None
    tests = sum(1 for key in impact_map.tests if not key.endswith("::"))  # "suite::" holds import-time lines
    return {"path": FILENAME, "tests": tests, "files": len(impact_map.files), "bytes": size}
