"""Which tests are flaky, from the evidence in history.json.

Two kinds of verdict, in the order of how sure they are:

* ``flaky``: the test failed and passed on the same code. Either in one run (it failed, then
  passed on a rerun: ``R``), or in two runs of one commit on one platform (a re-run of a
  workflow, or two jobs of the same commit). The code did not change; only chance did.
* ``candidate``: over the window, on one platform, its outcome flipped between pass and fail at
  least ``MIN_FLIPS`` times and in at least ``FLIP_RATE`` of its consecutive pairs of runs. A test
  fixed once flips once; a test that is broken, fixed, broken again flips a few times slowly.
  A candidate is worth a look, not an automatic quarantine.

Per platform, because a test that fails on arm64 and passes on x86-64 of one commit is broken on
arm64, not flaky. Precision and recall of both rules on simulated histories (tests with known flip
probabilities, always failing, fixed half-way) are in docs/HISTORY.md, made by
``python benchmarks/flaky_classifier/simulate.py``. Tuning constants below moved
the figures there; change them together.
"""

from __future__ import annotations

from dataclasses import dataclass

from doorbell_ci.analysis.history_store import RERUN_PASS, History

FLIP_RATE = 0.1  # flips per consecutive pair of runs that makes a candidate
MIN_FLIPS = 3  # a fix and a regression are two flips; a third needs chance (or a very unlucky project)
MIN_RUNS = 8  # runs with a pass or a failure before a flip rate means anything
_FAILING = frozenset("FE")
_PASSING = frozenset("P")


@dataclass(frozen=True)
class Verdict:
    key: str
    status: str  # "flaky" or "candidate"
    reason: str
    flip_rate: float
    last_evidence: int  # index into history.runs of the newest run that showed it


def classify(history: History, window: int | None = None) -> dict[str, Verdict]:
    """Every test of ``history`` that is flaky or a candidate over the last ``window`` runs."""
    runs = history.runs
    start = max(0, len(runs) - window) if window else 0
    platforms: dict[str, list[int]] = {}
    commits: dict[tuple[str, str], list[int]] = {}
    for index in range(start, len(runs)):
        run = runs[index]
        platforms.setdefault(run["platform"], []).append(index)
        if run["commit"]:
            commits.setdefault((run["commit"], run["platform"]), []).append(index)
    same_commit = [columns for columns in commits.values() if len(columns) > 1]
    found: dict[str, Verdict] = {}
    for key, row in history.tests.items():
        letters = row["o"]
        if not (set(letters[start:]) - {"P", ".", "S"}):
            continue  # the common case, a test that only ever passed: one set() per test
        verdict = _evidence(key, letters, start, same_commit, runs) or _flips(key, letters, platforms)
        if verdict is not None:
            found[key] = verdict
    return found


def _evidence(key: str, letters: str, start: int, same_commit: list[list[int]],
              runs: list[dict]) -> Verdict | None:
    rerun = letters.rfind(RERUN_PASS, start)
    if rerun >= 0:
        return Verdict(key, "flaky", f"failed, then passed on a rerun in run {runs[rerun]['id']}", 0.0, rerun)
    for columns in same_commit:
        marks = [letters[c] for c in columns]
        if any(m in _FAILING for m in marks) and any(m in _PASSING for m in marks):
            commit = runs[columns[0]]["commit"]
            return Verdict(key, "flaky", f"failed and passed on commit {commit[:12]} ({runs[columns[0]]['platform']})",
                           0.0, columns[-1])
    return None


def _flips(key: str, letters: str, platforms: dict[str, list[int]]) -> Verdict | None:
    best: Verdict | None = None
    for platform, columns in platforms.items():
        marks = [(c, letters[c] in _FAILING) for c in columns if letters[c] in "PFE"]
        if len(marks) < MIN_RUNS:
            continue
        flips = [c for (_, a), (c, b) in zip(marks, marks[1:], strict=False) if a != b]
        rate = len(flips) / (len(marks) - 1)
        if len(flips) >= MIN_FLIPS and rate >= FLIP_RATE and (best is None or rate > best.flip_rate):
            best = Verdict(key, "candidate", f"flipped {len(flips)} times in {len(marks)} runs on {platform}",
                           round(rate, 3), flips[-1])
    return best


def flaky_keys(verdicts: dict[str, Verdict]) -> set[str]:
    return {key for key, verdict in verdicts.items() if verdict.status == "flaky"}
