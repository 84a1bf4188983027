"""The flakiness classifier: evidence on one commit is flaky; flip rates make candidates; per platform."""

from __future__ import annotations

from doorbell_ci.analysis import flakiness
from doorbell_ci.analysis.history_store import History


def history(letters: dict[str, str], commits: list[str] | None = None, platforms: list[str] | None = None) -> History:
    width = len(next(iter(letters.values())))
    commits = commits or [f"c{i}" for i in range(width)]
    platforms = platforms or ["linux"] * width
    runs = [{"id": f"r{i}", "commit": commits[i], "platform": platforms[i], "started_at": f"2026-12-01T00:{i:02d}:00"}
            for i in range(width)]
    rows = {k: {"o": v, "d": [0.1 if m != "." else None for m in v]} for k, v in letters.items()}
    return History(runs=runs, tests=rows)


def test_a_pass_on_rerun_is_flaky_and_a_steady_or_fixed_test_is_not() -> None:
    found = flakiness.classify(history({"rerun": "PPPRPP", "steady": "PPPPPP", "broken": "FFFFFF",
                                        "fixed": "FFFPPP"}))
    assert set(found) == {"rerun"}
    assert found["rerun"].status == "flaky" and "run r3" in found["rerun"].reason


def test_a_pass_and_a_failure_on_one_commit_and_platform_is_flaky() -> None:
    same = history({"t": "PPFP"}, commits=["a", "b", "b", "c"])
    assert flakiness.classify(same)["t"].status == "flaky"
    two_platforms = history({"t": "PPFP"}, commits=["a", "b", "b", "c"], platforms=["x", "x", "arm", "x"])
    assert "t" not in flakiness.classify(two_platforms)  # broken on arm is not flaky
    unknown_commit = history({"t": "PPFP"}, commits=["", "", "", ""])
    assert "t" not in flakiness.classify(unknown_commit)


def test_frequent_flips_make_a_candidate_but_a_fix_and_a_regression_do_not() -> None:
    found = flakiness.classify(history({"flips": "PPFPPFPPPFPP", "episodes": "PPFFFPPPFFPP"}))
    assert found["flips"].status == "candidate" and found["flips"].flip_rate == round(6 / 11, 3)
    assert "episodes" not in found or found["episodes"].flip_rate < found["flips"].flip_rate
    assert "episodes" in found  # 4 flips in 12 runs: a candidate worth a look
    assert "flips" not in flakiness.classify(history({"flips": "PPFPP"}))  # too few runs to say


def test_the_window_limits_the_evidence_to_recent_runs() -> None:
    old = history({"t": "RPPPPPPP"})
    assert "t" in flakiness.classify(old)
    assert "t" not in flakiness.classify(old, window=7)


def test_flips_are_counted_per_platform() -> None:
    # alternating legs: x86 always fails, arm always passes; interleaved that would be a flip every run
    letters = "FP" * 8
    platforms = ["x86", "arm"] * 8
    assert flakiness.classify(history({"t": letters}, platforms=platforms)) == {}
