"""Baseline files: the key, the format, and the documented outcome for every kind of bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doorbell_ci.errors import PerfError
from doorbell_ci.perf import baselines

FACTS = {"os": "linux", "arch": "aarch64", "python": "3.11.9", "cpu_model": "Cortex-A76", "pi_model": "pi5",
         "runner_label": "self-hosted,pi5"}
KEY = baselines.platform_key(FACTS)
BENCH = {"tests/performance/test_x.py::test_a": {"wall": [0.010, 0.011, 0.0105], "cpu": [0.01, 0.01, 0.01],
                                                 "peak_memory": [], "metrics": {}}}


def test_platform_key_prefers_the_pi_model_and_keeps_the_python_minor() -> None:
    assert KEY.as_dict() == {"os": "linux", "arch": "aarch64", "python": "3.11", "cpu": "pi5",
                             "runner_label": "self-hosted,pi5"}
    assert KEY.slug == "linux-aarch64-py3.11-pi5-self-hosted-pi5"


def test_platform_key_treats_missing_fields_as_empty() -> None:
    key = baselines.platform_key({"os": "darwin", "arch": "arm64", "python": "3.12.1", "cpu_model": "Apple M2"})
    assert key.runner_label == "" and key.cpu == "Apple M2"
    assert key.slug == "darwin-arm64-py3.12-apple-m2"


def test_throttled_runs_are_not_comparable() -> None:
    assert baselines.not_comparable_reason({"throttled": True, "throttle_flags": ["soft temperature limit"]})
    assert baselines.not_comparable_reason({"throttled": False}) is None
    assert baselines.not_comparable_reason({}) is None


def test_update_then_find_round_trips_and_keeps_history(tmp_path: Path) -> None:
    for index in range(3):
        baselines.update(tmp_path, KEY, BENCH, commit=f"c{index}", run_id=f"r{index}")
    lookup = baselines.find(tmp_path, KEY)
    assert lookup.baseline is not None and lookup.reason == "" and lookup.problems == []
    assert [entry.commit for entry in lookup.baseline.history] == ["c0", "c1", "c2"]
    assert lookup.baseline.history[-1].medians["tests/performance/test_x.py::test_a"] == pytest.approx(0.0105)
    assert lookup.baseline.latest_samples("tests/performance/test_x.py::test_a") == [0.010, 0.011, 0.0105]
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file behind


def test_history_is_capped_at_64_runs(tmp_path: Path) -> None:
    path = baselines.update(tmp_path, KEY, BENCH, commit="first", run_id="r")
    document = json.loads(path.read_text())
    document["history"] = document["history"] * 70
    path.write_text(json.dumps(document))
    baselines.update(tmp_path, KEY, BENCH, commit="newest", run_id="r")
    history = baselines.read(path).history
    assert len(history) == 64 and history[-1].commit == "newest"


def test_a_throttled_run_updates_latest_but_not_the_history(tmp_path: Path) -> None:
    baselines.update(tmp_path, KEY, BENCH, commit="cool", run_id="r1")
    path = baselines.update(tmp_path, KEY, BENCH, commit="hot", run_id="r2", throttled=True)
    baseline = baselines.read(path)
    assert baseline.latest["commit"] == "hot"
    assert [entry.commit for entry in baseline.history] == ["cool"]


def test_missing_folder_and_missing_file_say_no_baseline_and_why(tmp_path: Path) -> None:
    assert "no baseline folder" in baselines.find(tmp_path / "absent", KEY).reason
    lookup = baselines.find(tmp_path, KEY)
    assert lookup.baseline is None and "no baseline for this platform" in lookup.reason


def _write(tmp_path: Path, text: str) -> Path:
    path = baselines.path_for(tmp_path, KEY)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"format": "doorbell-ci-baseline", "version": 99, "platform": {}, "latest": {}, "history": [],
                     "updated_at": ""}), "version 99 is newer"),
        (json.dumps({"format": "something-else"}), "not a doorbell-ci baseline"),
        (json.dumps({"format": "doorbell-ci-baseline", "version": 1}), "missing field"),
        (json.dumps({"format": "doorbell-ci-baseline", "version": 1, "platform": {}, "latest": {},
                     "history": [{"commit": "x"}], "updated_at": ""}), "missing field 'medians'"),
    ],
    ids=["bad-json", "future-version", "other-format", "missing-fields", "history-without-medians"],
)
def test_unreadable_files_are_reported_and_treated_as_absent(tmp_path: Path, text: str, message: str) -> None:
    _write(tmp_path, text)
    lookup = baselines.find(tmp_path, KEY)
    assert lookup.baseline is None
    assert message in lookup.reason
    assert any("treated as absent" in problem for problem in lookup.problems)


def test_unreadable_file_is_never_silently_overwritten(tmp_path: Path) -> None:
    path = _write(tmp_path, "{not json")
    with pytest.raises(PerfError, match="not overwriting"):
        baselines.update(tmp_path, KEY, BENCH, commit="c", run_id="r")
    assert path.read_text() == "{not json"


def test_replace_unreadable_moves_the_file_aside(tmp_path: Path) -> None:
    _write(tmp_path, "{not json")
    baselines.update(tmp_path, KEY, BENCH, commit="c", run_id="r", replace_unreadable=True,
                     now="2026-11-25T10:00:00+00:00")
    kept = list(tmp_path.glob("*.unreadable-*"))
    assert len(kept) == 1 and kept[0].read_text() == "{not json"
    assert baselines.find(tmp_path, KEY).baseline is not None


def test_another_platforms_key_in_this_platforms_file_is_treated_as_absent(tmp_path: Path) -> None:
    other = baselines.platform_key({**FACTS, "arch": "x86_64", "pi_model": None, "cpu_model": "Xeon"})
    document = baselines.to_document(baselines.Baseline(key=other, updated_at="t", latest={"benchmarks": {}},
                                                        history=[]))
    _write(tmp_path, json.dumps(document))
    lookup = baselines.find(tmp_path, KEY)
    assert lookup.baseline is None and "another platform's key" in lookup.reason
    with pytest.raises(PerfError, match="another platform's key"):
        baselines.update(tmp_path, KEY, BENCH, commit="c", run_id="r")


def test_other_platforms_files_are_never_used_but_mentioned(tmp_path: Path) -> None:
    other = baselines.platform_key({**FACTS, "arch": "x86_64", "pi_model": None, "cpu_model": "Xeon"})
    baselines.update(tmp_path, other, BENCH, commit="c", run_id="r")
    lookup = baselines.find(tmp_path, KEY)
    assert lookup.baseline is None
    assert "1 baseline(s) for other platforms" in lookup.reason


def test_show_lists_good_and_unreadable_files(tmp_path: Path) -> None:
    baselines.update(tmp_path, KEY, BENCH, commit="abc", run_id="r")
    (tmp_path / "broken.json").write_text("[]")
    lines = baselines.show(tmp_path)
    assert any("UNREADABLE" in line and "broken.json" in line for line in lines)
    assert any("commit abc" in line and "1 run(s) of history" in line for line in lines)
    with pytest.raises(PerfError, match="no baseline folder"):
        baselines.show(tmp_path / "absent")


def test_doorbell_cis_own_baselines_live_in_the_top_level_folder_and_name_real_benchmarks() -> None:
    """The docs tell projects to keep baselines in baselines/; doorbell-ci's own tests/performance does too."""
    from doorbell_ci.config import load_config

    repo = Path(__file__).resolve().parents[2]
    config = load_config(repo, environ={})
    folder = config.baseline_dir if config.baseline_dir.is_absolute() else repo / config.baseline_dir
    assert folder == repo / "baselines"
    files = sorted(folder.glob("*.json"))
    assert files, "no baseline file in baselines/"
    for path in files:
        baseline = baselines.read(path)  # readable by the same reader the compare stage uses
        assert path == baselines.path_for(folder, baseline.key)
        names = list(baseline.latest["benchmarks"])
        assert names
        for name in names:  # each one a benchmark of tests/performance that still exists
            file, _, test = name.partition("::")
            assert file.startswith("tests/performance/") and f"def {test}(" in (repo / file).read_text()
