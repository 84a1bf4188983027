"""Splitting tests into shards (doorbell_ci/sharding.py) and the --shard value (options.parse_shard)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from doorbell_ci.errors import ConfigError
from doorbell_ci.options import parse_count, parse_shard
from doorbell_ci.sharding import CountPolicy, DurationPolicy, estimate, load_durations, split

KEYS = [f"unit::tests/unit/test_{i:03d}.py::test_it" for i in range(97)]


def test_every_test_lands_in_exactly_one_shard() -> None:
    rng = random.Random(3)
    recorded = {key: rng.lognormvariate(-1.5, 1.2) for key in KEYS}
    for shards in (1, 2, 3, 8, 97, 120):
        for policy in (DurationPolicy(), CountPolicy()):
            buckets = policy.split(estimate(KEYS, recorded), shards)
            assert len(buckets) == shards
            assert sorted(key for bucket in buckets for key in bucket) == sorted(KEYS)


def test_the_split_does_not_depend_on_the_order_tests_were_collected_in() -> None:
    recorded = {key: (i % 7) * 0.5 for i, key in enumerate(KEYS)}  # many ties
    shuffled = KEYS[:]
    random.Random(1).shuffle(shuffled)
    assert split(KEYS, 4, recorded) == split(shuffled, 4, recorded)


def test_durations_balance_a_skewed_suite_better_than_counts() -> None:
    rng = random.Random(7)
    recorded = {key: rng.lognormvariate(-1.6, 1.2) for key in KEYS * 1}
    policy, by_duration = split(KEYS, 4, recorded)
    _, by_count = split(KEYS, 4, {})

    def ratio(buckets: list[list[str]]) -> float:
        totals = [sum(recorded[k] for k in bucket) for bucket in buckets]
        return max(totals) / (sum(totals) / len(totals))

    assert policy == "durations"
    assert ratio(by_duration) <= 1.10 < ratio(by_count)


def test_without_recorded_durations_counts_are_balanced() -> None:
    policy, buckets = split(KEYS, 4, {})
    assert policy == "count"
    assert sorted(len(b) for b in buckets) == [24, 24, 24, 25]


def test_unknown_tests_count_as_the_mean_of_the_known() -> None:
    assert dict(estimate(["a", "b", "c"], {"a": 1.0, "b": 3.0})) == {"a": 1.0, "b": 3.0, "c": 2.0}


def test_load_durations_from_a_durations_file(tmp_path: Path) -> None:
    path = tmp_path / ".test_durations"
    path.write_text(json.dumps({"tests/unit/test_a.py::test_x": 1.5, "tests/unit/test_a.py::test_y": 0}))
    assert load_durations(path) == {"tests/unit/test_a.py::test_x": 1.5, "tests/unit/test_a.py::test_y": 0.0}


@pytest.mark.parametrize(("content", "expected"), [
    ("[1, 2]", "must be a JSON object"),
    ('{"t": "fast"}', "expected seconds"),
    ('{"t": -1}', "expected seconds"),
    ("{not json", "not readable JSON"),
])
def test_bad_durations_file_is_one_clear_error(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "durations.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=expected):
        load_durations(path)


def test_missing_durations_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_durations(tmp_path / "nope.json")


@pytest.mark.parametrize(("raw", "expected"), [("1/4", (1, 4)), (" 4/4 ", (4, 4)), ("", None), (None, None)])
def test_parse_shard(raw: object, expected: object) -> None:
    assert parse_shard(raw) == expected


@pytest.mark.parametrize("raw", ["0/4", "5/4", "2", "a/b", "2/0", "-1/3", "1/2/3"])
def test_parse_shard_refuses(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_shard(raw)


def test_parse_count() -> None:
    assert parse_count("0") == 0 and parse_count(3) == 3
    for bad in ("-1", "x", True):
        with pytest.raises(ValueError):
            parse_count(bad)
