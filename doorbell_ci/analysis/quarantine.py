"""Quarantine: known-flaky tests still run and are reported, but do not fail the run.

The list is checked in (``.doorbell-ci/quarantine.toml`` by default, option ``quarantine_file``)::

    [[test]]
    id = "unit::tests/unit/test_clock.py::test_tick*"   # fnmatch pattern on suite::nodeid or the nodeid
    owner = "@alice"
    reason = "races the wall clock, #123"
    expires = 2026-12-31                                 # a TOML date

Every entry needs all four keys and nothing else; a bad file is a one-line ConfigError naming the
entry. An entry applies until its expiry date (on that day still): afterwards its tests fail the
run again and a notice says to renew or remove it. A quarantined test whose last
``quarantine_clean_runs`` runs on this platform all passed has earned its way out: a notice says
the entry can go. With ``quarantine_auto``, a test the history shows flaky (failed and passed on one
commit, see flakiness.py) is quarantined without an entry, for ``quarantine_days`` after the run that
last showed it, and leaves after the same number of clean runs.

A suite whose only failures are quarantined tests counts as passed (its status says why); the
failures keep their outcome, so every report lists them, and each one is a notice.
"""

from __future__ import annotations

import errno
import fnmatch
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from doorbell_ci import nofollow
from doorbell_ci.analysis.flakiness import Verdict
from doorbell_ci.analysis.history_store import History
from doorbell_ci.analysis.history_store import test_key as history_key
from doorbell_ci.analysis.signatures import test_key
from doorbell_ci.errors import ConfigError
from doorbell_ci.results import Outcome, RunResult, SuiteStatus, TestResult

DEFAULT_FILE = Path(".doorbell-ci/quarantine.toml")
MAX_ENTRIES = 10_000
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NOTICES = 20  # one line per quarantined failure up to this many; then a count
_KEYS = ("id", "owner", "reason", "expires")
_LIMITS = {"id": 500, "owner": 200, "reason": 1_000}


@dataclass(frozen=True)
class Entry:
    pattern: str
    owner: str
    reason: str
    expires: date
    source: str = "file"  # "file", or "auto" for a quarantine the history decided

    def matches(self, names: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(name, self.pattern) for name in names)


def names_of(test: TestResult, project_parts: tuple[str, ...] = ()) -> list[str]:
    """What an entry's pattern is matched against: ``suite::nodeid``, the nodeid, the history key.

    pytest writes paths relative to its rootdir, which is above the project when the project is a
    sub-folder of a repository with its own pytest configuration; the entry names the test as seen
    from the project, so the project's own path is also taken off the front.
    """
    nodeid = test.nodeid
    names = [test_key(test), nodeid, history_key(test)]
    for size in range(len(project_parts), 0, -1):
        prefix = "/".join(project_parts[-size:]) + "/"
        if nodeid.startswith(prefix):
            names += [f"{test.suite}::{nodeid[len(prefix):]}", nodeid[len(prefix):]]
            break
    return names


def load(path: Path) -> list[Entry]:
    """The entries of a quarantine file; none when it does not exist; ConfigError (one line) when bad."""
    try:
        # read after the suites ran, and the project folder is theirs to write: a FIFO planted here must not
        # block the run, nor a link make us read (and quote entries of) a file outside
        handle, _ = nofollow.open_regular(path.name, None, str(path.parent))
        with handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return []
    except OSError as error:
        why = "it is a symbolic link" if error.errno == errno.ELOOP else error.strerror or str(error)
        raise ConfigError(f"quarantine file {path}: could not be read: {why}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"quarantine file {path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"quarantine file {path}: not TOML: {str(error).splitlines()[0][:200]}") from None
    unknown = set(document) - {"test"}
    if unknown:
        raise ConfigError(f"quarantine file {path}: unknown table {sorted(unknown)[0][:100]!r}; "
                          "entries are [[test]] tables")
    entries = document.get("test", [])
    if not isinstance(entries, list):
        raise ConfigError(f"quarantine file {path}: 'test' must be an array of tables ([[test]])")
    if len(entries) > MAX_ENTRIES:
        raise ConfigError(f"quarantine file {path}: {len(entries)} entries, more than {MAX_ENTRIES}")
    return [_entry(raw, f"quarantine file {path}: entry {number}") for number, raw in enumerate(entries, 1)]


def _entry(raw: Any, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: not a table")
    label = f"{where} ({str(raw.get('id'))[:80]!r})" if "id" in raw else where
    extra = sorted(set(raw) - set(_KEYS))
    if extra:
        raise ConfigError(f"{label}: unknown key {extra[0][:60]!r}; the keys are {', '.join(_KEYS)}")
    missing = [key for key in _KEYS if key not in raw]
    if missing:
        raise ConfigError(f"{label}: missing {missing[0]!r} (every entry needs {', '.join(_KEYS)})")
    for key, limit in _LIMITS.items():
        value = raw[key]
        if not isinstance(value, str) or not value.strip() or len(value) > limit or any(
                ch in value for ch in "\r\n\x00"):
            raise ConfigError(f"{label}: {key!r} must be one line of 1-{limit} characters")
    expires = raw["expires"]
    if isinstance(expires, str):
        try:
            expires = date.fromisoformat(expires.strip())
        except ValueError:
            raise ConfigError(f"{label}: 'expires' {expires[:40]!r} is not a date such as 2026-12-31") from None
    if isinstance(expires, datetime) or not isinstance(expires, date):
        raise ConfigError(f"{label}: 'expires' must be a date such as 2026-12-31, not {type(expires).__name__}")
    return Entry(pattern=raw["id"].strip(), owner=raw["owner"].strip(), reason=raw["reason"].strip(), expires=expires)


def clean_runs(history: History, key: str, platform: str) -> int:
    """How many of this platform's newest runs in a row the test passed (skips and absences ignored)."""
    letters = history.outcomes(key)
    count = 0
    for index in range(len(letters) - 1, -1, -1):
        if history.runs[index]["platform"] != platform or letters[index] in ".S":
            continue
        if letters[index] != "P":
            break
        count += 1
    return count


def _failed_before(history: History, key: str, platform: str) -> bool:
    """The test's previous run on this platform (before the newest column, this run) failed or was flaky."""
    letters = history.outcomes(key)
    for index in range(len(letters) - 2, -1, -1):
        if history.runs[index]["platform"] == platform and letters[index] not in ".S":
            return letters[index] in "FER"
    return False


def auto_entries(history: History, verdicts: Mapping[str, Verdict], days: int) -> dict[str, Entry]:
    """history key -> an automatic entry, for each test flaky on evidence, expiring ``days`` after it."""
    found = {}
    for key, verdict in verdicts.items():
        if verdict.status != "flaky":
            continue
        shown = _date_of(history.runs[verdict.last_evidence]["started_at"])
        found[key] = Entry(pattern=key, owner="doorbell-ci", reason=verdict.reason,
                           expires=shown + timedelta(days=days), source="auto")
    return found


def _date_of(text: str) -> date:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return datetime.now(UTC).date()


def apply(run: RunResult, entries: list[Entry], history: History, platform: str, *,
          clean_needed: int, automatic: Mapping[str, Entry] | None = None,
          today: date | None = None, source: str = "") -> dict[str, Any]:
    """Quarantine ``run``'s matching tests: suites failed only by them pass; returns the report section.

    ``history`` already holds this run (so "clean runs" counts it). Notices go to ``run.notices``.
    """
    today = today or datetime.now(UTC).date()
    automatic = automatic or {}
    quarantined: list[dict[str, Any]] = []
    expired: dict[str, Entry] = {}
    can_leave: list[str] = []
    held: set[int] = set()  # id() of the quarantined failing tests
    project_parts = Path(run.project).parts[1:]
    # one regex for every pattern: a run of 100,000 tests asks it once per name, not once per name and entry
    anything = re.compile("|".join(f"(?:{fnmatch.translate(e.pattern)})" for e in entries)) if entries else None
    for test in run.iter_tests():
        key = history_key(test)
        entry = None
        if anything is not None:
            names = names_of(test, project_parts)
            if any(anything.match(name) for name in names):
                entry = next((e for e in entries if e.matches(names)), None)
        entry = entry or automatic.get(key)
        if entry is None:
            continue
        if entry.expires < today:
            expired[entry.pattern] = entry
            continue
        clean = clean_runs(history, key, platform)
        leaving = clean >= clean_needed
        failing = test.outcome in (Outcome.FAILED, Outcome.ERROR)
        if leaving and entry.source == "auto":
            continue  # served its time: an automatic quarantine simply ends
        if leaving:
            can_leave.append(test_key(test))
        if failing:
            held.add(id(test))
        quarantined.append({"key": test_key(test), "suite": test.suite, "nodeid": test.nodeid,
                            "now_passes": test.outcome is Outcome.PASSED and not test.flaky
                            and _failed_before(history, key, platform),
                            "outcome": test.outcome.value, "flaky": test.flaky, "owner": entry.owner,
                            "reason": entry.reason, "expires": entry.expires.isoformat(), "source": entry.source,
                            "clean_runs": clean})
    for suite in run.suites:
        failing = [t for t in suite.tests if t.outcome in (Outcome.FAILED, Outcome.ERROR)]
        if suite.status is SuiteStatus.FAILED and failing and all(id(t) in held for t in failing):
            suite.status = SuiteStatus.PASSED
            suite.reason = f"only quarantined tests failed ({len(failing)})"
    run.notices += _notices(quarantined, expired, can_leave, clean_needed)
    return {"file": source, "entries": len(entries), "tests": quarantined, "can_leave": can_leave,
            "expired": [{"id": e.pattern, "owner": e.owner, "expires": e.expires.isoformat()}
                        for e in expired.values()]}


def _notices(quarantined: list[dict[str, Any]], expired: Mapping[str, Entry], can_leave: list[str],
             clean_needed: int) -> list[str]:
    lines = []
    failing = [q for q in quarantined if q["outcome"] in ("failed", "error")]
    for item in failing[:MAX_NOTICES]:
        lines.append(f"quarantine: {item['key']} {item['outcome']} and is quarantined ({item['source']}: "
                     f"{item['owner']}, until {item['expires']}: {item['reason']}); it does not fail the run")
    if len(failing) > MAX_NOTICES:
        lines.append(f"quarantine: and {len(failing) - MAX_NOTICES} more quarantined failures (report.json)")
    passing = [q["key"] for q in quarantined if q["now_passes"]]
    if passing:
        shown = ", ".join(passing[:5]) + (f" and {len(passing) - 5} more" if len(passing) > 5 else "")
        lines.append(f"quarantine: quarantined test{'s' if len(passing) > 1 else ''} failed last time and "
                     f"pass{'' if len(passing) > 1 else 'es'} now: {shown}")
    for entry in list(expired.values())[:MAX_NOTICES]:
        lines.append(f"quarantine: the entry {entry.pattern!r} ({entry.owner}) expired on {entry.expires}; "
                     "its tests count again: renew or remove it")
    if can_leave:
        shown = ", ".join(can_leave[:5]) + (f" and {len(can_leave) - 5} more" if len(can_leave) > 5 else "")
        lines.append(f"quarantine: passed its last {clean_needed} runs, its entry can be removed: {shown}")
    return lines
