"""Fuzzing ``perf.baselines.read``: only PerfError escapes, and what reads can be computed with.

Documents start as valid baselines and are then damaged the way a hand edit, another version
or a hostile artifact would: a value anywhere replaced by the wrong type, NaN, Infinity, a
negative or float-overflowing number, a 5,000-digit integer; keys removed; other format names
and versions; nesting a thousand deep; text that is not JSON or not UTF-8. Whatever ``read``
accepts must then serve the compare stage and ``show`` without an exception, and survive a
write and a second read unchanged.

Example counts: see tests/security/fuzzing.py (``HYPOTHESIS_PROFILE=fuzz`` for a long session).
"""

from __future__ import annotations

import copy
import json
import math
import statistics
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import event, example, given
from hypothesis import strategies as st

from doorbell_ci.errors import PerfError
from doorbell_ci.perf import baselines
from tests.security.fuzzing import HOSTILE_TEXT, fuzz_settings, one_in

_RAW = "@@raw-json@@"  # a placeholder replaced by text json.dumps cannot produce (a 5,000-digit integer)
_HUGE_INTEGER = "9" * 5000
_NUMBERS = st.one_of(st.floats(min_value=0, max_value=1e6, allow_nan=False), st.integers(0, 10**6))
_SAMPLES = st.lists(_NUMBERS, max_size=5)
_BENCHMARK_IDS = st.sampled_from(["test_a", "tests/p.py::test_b[1]", "x" * 300, "é", ""])


@st.composite
def _valid_documents(draw: st.DrawFn) -> dict[str, Any]:
    platform = {name: draw(st.sampled_from(["", "linux", "x86_64", "3.11", "Raspberry Pi 5", "ubuntu-latest"]))
                for name in baselines.KEY_FIELDS}
    benchmarks = draw(st.dictionaries(_BENCHMARK_IDS, st.fixed_dictionaries(
        {"wall": _SAMPLES}, optional={"cpu": _SAMPLES, "peak_memory": _SAMPLES, "metrics": st.just({})}), max_size=3))
    history = draw(st.lists(st.fixed_dictionaries(
        {"commit": st.text(max_size=8), "time": st.text(max_size=8), "run_id": st.text(max_size=4),
         "medians": st.dictionaries(_BENCHMARK_IDS, _NUMBERS, max_size=3)},
        optional={"throttled": st.booleans(), "peak_memory": st.dictionaries(_BENCHMARK_IDS, _NUMBERS, max_size=2),
                  "cpu_medians": st.dictionaries(_BENCHMARK_IDS, _NUMBERS, max_size=2)}), max_size=4))
    return {"format": baselines.FORMAT, "version": baselines.VERSION, "key": "k", "platform": platform,
            "updated_at": draw(st.text(max_size=10)), "latest": {"commit": "c", "benchmarks": benchmarks},
            "history": history}


_HOSTILE_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), HOSTILE_TEXT,
    st.sampled_from([[], {}, [None], ["1"], [-1.0], [math.inf], [math.nan], [10**400], {"a": "b"}, _RAW]),
    st.lists(st.floats(), max_size=3), st.dictionaries(st.text(max_size=3), st.floats(), max_size=2),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in the document a value sits (dict keys and list indexes), the root excluded."""
    found: list[tuple[Any, ...]] = []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


@st.composite
def _damaged_texts(draw: st.DrawFn) -> bytes:
    document: Any = copy.deepcopy(draw(_valid_documents()))  # mutated below: never a value hypothesis keeps
    for _ in range(draw(st.integers(0, 4))):
        places = _paths(document)
        if not places:
            break
        place = draw(st.sampled_from(places))
        parent = document
        for key in place[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[place[-1]]
        else:
            parent[place[-1]] = copy.deepcopy(draw(_HOSTILE_VALUES))
    if one_in(draw, 10):
        document["version"] = draw(st.sampled_from([0, 2, -1, "1", 1.5, True, 10**30, None]))
    if one_in(draw, 10):
        document["format"] = draw(st.sampled_from(["doorbell-ci-baseline ", "DOORBELL-CI-BASELINE", None, 1]))
    text = json.dumps(document).replace(json.dumps(_RAW), _HUGE_INTEGER)
    data = text.encode("utf-8", "surrogatepass")
    if one_in(draw, 10):
        data = data[: draw(st.integers(0, len(data)))]  # a half-written file
    return data


_TEXTS = st.one_of(
    _damaged_texts(), _damaged_texts(), _damaged_texts(),
    st.binary(max_size=200),
    st.sampled_from([b"", b"\xef\xbb\xbf{}", b"[" * 100_000 + b"]" * 100_000, b"{\"a\":" * 5000 + b"1" + b"}" * 5000,
                     b"NaN", b"\xff\xfe{\x00}\x00", _HUGE_INTEGER.encode()]),
)


@fuzz_settings(300)
@given(data=_TEXTS)
@example(data=b"[" * 100_000 + b"]" * 100_000)  # RecursionError from json
@example(data=b'{"format": "doorbell-ci-baseline", "version": ' + _HUGE_INTEGER.encode() + b"}")  # ValueError
@example(data=json.dumps({"format": baselines.FORMAT, "version": 1, "platform": {}, "updated_at": "",
                          "latest": {"benchmarks": {}}, "history": [{"medians": {"a": 10**400}}]}).encode())
@example(data=json.dumps({"format": baselines.FORMAT, "version": 1, "platform": {}, "updated_at": "", "history": [],
                          "latest": {"benchmarks": {"a": {"wall": [1.0], "cpu": ["x"]}}}}).encode())
def test_only_perf_errors_escape_and_what_reads_is_usable(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        path = folder / "linux.json"
        path.write_bytes(data)
        try:
            baseline = baselines.read(path)
        except PerfError as error:
            event("refused")
            assert str(error).startswith(str(path)) and "\n" not in str(error)  # one line, naming the file
        else:
            event("read")
            _check_usable(baseline, folder)
        # the callers that must never raise: find() turns every problem into a reason
        lookup = baselines.find(folder, baselines.PlatformKey("linux", "x86_64", "3.11", "cpu", "label"))
        assert lookup.baseline is None or lookup.baseline.path is not None
        assert all(isinstance(line, str) for line in baselines.show(folder))


def _check_usable(baseline: baselines.Baseline, folder: Path) -> None:
    """What the compare stage and ``show`` compute with is made of finite non-negative numbers."""
    for name in baseline.latest.get("benchmarks", {}):
        for metric in ("wall", "cpu", "peak_memory"):
            samples = baseline.latest_samples(name, metric)
            if samples:
                assert math.isfinite(statistics.median(samples))
    for entry in baseline.history:
        for values in (entry.medians, entry.cpu_medians, entry.peak_memory):
            assert all(isinstance(v, float) and math.isfinite(v) and v >= 0 for v in values.values())
    # round trip: written back atomically and read again, the same document
    again_path = folder / "again" / "copy.json"
    baselines.write_atomic(again_path, baselines.to_document(baseline))
    again = baselines.read(again_path)
    assert json.dumps(baselines.to_document(again)) == json.dumps(baselines.to_document(baseline))


@fuzz_settings(200)
@given(document=_valid_documents())
def test_a_valid_baseline_reads_as_written(document: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "b.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        baseline = baselines.read(path)
    assert baseline.key.as_dict() == document["platform"]
    assert baseline.updated_at == document["updated_at"]
    assert len(baseline.history) == len(document["history"])
    for entry, raw in zip(baseline.history, document["history"], strict=True):
        assert entry.medians == {k: float(v) for k, v in raw["medians"].items()}
        assert entry.throttled == raw.get("throttled", False)
    for name, entry in document["latest"]["benchmarks"].items():
        assert baseline.latest_samples(name) == entry["wall"]
