"""impact.json.gz: written and read back exactly; a reader that refuses, in one line, anything else."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from doorbell_ci.impact import impactmap
from doorbell_ci.impact.impactmap import ImpactMap, ImpactMapError, parse_ranges, read_map, to_ranges, write_map

SHA = "a" * 40


def sample() -> ImpactMap:
    return ImpactMap(commit="0123abcd" * 5, dirty=False, platform_key="linux-x86_64-py3.11",
                     created_at="2026-12-02T13:00:00+00:00", suites=["unit"],
                     files={"src/p/a.py": SHA, "tests/unit/test_a.py": "b" * 40},
                     tests={"unit::tests/unit/test_a.py::test_x": {"src/p/a.py": ((1, 4), (9, 9))},
                            "unit::tests/unit/test_a.py::test_y": {},
                            "unit::": {"src/p/a.py": ((1, 1),)}})


def write_document(path: Path, document: object) -> Path:
    path.write_bytes(gzip.compress(json.dumps(document).encode()))
    return path


def test_ranges_are_merged_sorted_and_read_back() -> None:
    ranges = to_ranges([9, 3, 1, 2, 3, 10, 12])
    assert ranges == ((1, 3), (9, 10), (12, 12))
    assert impactmap.ranges_text(ranges) == "1-3,9-10,12"
    assert parse_ranges("1-3,9-10,12") == ranges
    for bad in ("", "0", "3-1", "5,4", "1-3,2", "1,,2", "a", "1-2-3", "99999999999", 7):
        with pytest.raises(ValueError):
            parse_ranges(bad)  # type: ignore[arg-type]


def test_a_map_round_trips_through_the_file(tmp_path: Path) -> None:
    size = write_map(sample(), tmp_path)
    path = tmp_path / impactmap.FILENAME
    assert size == path.stat().st_size
    assert read_map(path) == sample()
    assert read_map(tmp_path) == sample()  # the folder holding it
    document = json.loads(gzip.decompress(path.read_bytes()))
    assert document["schema"] == "doorbell-ci.impact" and document["version"] == 1
    assert document["tests"]["unit::tests/unit/test_a.py::test_x"] == {"0": "1-4,9"}


def test_over_a_bound_the_map_is_not_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(impactmap, "MAX_TESTS", 2)
    with pytest.raises(ImpactMapError, match="3 tests, over the 2 limit"):
        write_map(sample(), tmp_path)
    assert not (tmp_path / impactmap.FILENAME).exists()
    monkeypatch.setattr(impactmap, "MAX_TESTS", 10)
    monkeypatch.setattr(impactmap, "MAX_FILES", 1)
    with pytest.raises(ImpactMapError, match="2 files"):
        write_map(sample(), tmp_path)
    monkeypatch.setattr(impactmap, "MAX_FILES", 10)
    monkeypatch.setattr(impactmap, "MAX_UNCOMPRESSED_BYTES", 100)
    with pytest.raises(ImpactMapError, match="bytes of JSON"):
        write_map(sample(), tmp_path)
    assert not (tmp_path / impactmap.FILENAME).exists()


def good_document() -> dict:
    return impactmap.to_json(sample())


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(schema="doorbell-ci.history"), "schema is 'doorbell-ci.history'"),
    (lambda d: d.update(version=2), "version '2' is not 1"),
    (lambda d: d.update(version=True), "version"),
    (lambda d: d.update(extra=1), "unexpected or missing keys: extra"),
    (lambda d: d.pop("files"), "unexpected or missing keys: files"),
    (lambda d: d.update(commit="not-a-sha"), "commit must be a hexadecimal git sha"),
    (lambda d: d.update(dirty="no"), "dirty must be true or false"),
    (lambda d: d.update(platform_key=None), "platform_key must be a string"),
    (lambda d: d.update(suites="unit"), "suites must be a list"),
    (lambda d: d.update(files={"a.py": SHA}), "files must be a list"),
    (lambda d: d["files"].append(["../etc/passwd", SHA]), "is not a project-relative path"),
    (lambda d: d["files"].append(["/abs.py", SHA]), "is not a project-relative path"),
    (lambda d: d["files"].append(["C:/x.py", SHA]), "is not a project-relative path"),
    (lambda d: d["files"].append(["x.py", "nope"]), "has no sha1"),
    (lambda d: d["files"].append(["src/p/a.py", SHA]), "listed twice"),
    (lambda d: d["files"].append(["x.py"]), "each files entry must be"),
    (lambda d: d.update(tests=[]), "tests must be an object"),
    (lambda d: d["tests"].update({"no-separator": {}}), "is not suite::nodeid"),
    (lambda d: d["tests"].update({"unit::t": {"7": "1"}}), "names file index '7', not in files"),
    (lambda d: d["tests"].update({"unit::t": {"-1": "1"}}), "not in files"),
    (lambda d: d["tests"].update({"unit::t": {"0": "3-1"}}), "out of order"),
    (lambda d: d["tests"].update({"unit::t": {"0": 5}}), "line ranges must look like"),
    (lambda d: d["tests"].update({"unit::t": ["0"]}), "must map file indexes"),
])
def test_the_reader_refuses_anything_not_exactly_version_1(tmp_path: Path, change: object, message: str) -> None:
    document = good_document()
    change(document)  # type: ignore[operator]
    with pytest.raises(ImpactMapError, match="is not a usable doorbell-ci impact map") as caught:
        read_map(write_document(tmp_path / "impact.json.gz", document))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


# explicit ids: gzip output carries a timestamp, and pytest-xdist's workers must collect the same ids
@pytest.mark.parametrize(("content", "message"), [
    (b"not gzip at all", "not gzip"),
    (gzip.compress(mtime=0, data=b"{not json"), "not JSON"),
    (gzip.compress(mtime=0, data=b'{"schema": NaN}'), "not JSON"),
    (gzip.compress(mtime=0, data=b"\xff\xfe"), "not JSON"),
    (gzip.compress(mtime=0, data=b"[]"), "not a JSON object"),
    (gzip.compress(mtime=0, data=b"[" * 100_000), "not JSON"),
    (gzip.compress(mtime=0, data=json.dumps({"a": 1}).encode())[:-12], "cut short"),
], ids=["not-gzip", "not-json", "nan", "not-utf8", "array", "deep-nesting", "cut-short"])
def test_damaged_files_are_refused_in_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "impact.json.gz"
    path.write_bytes(content)
    with pytest.raises(ImpactMapError, match=message) as caught:
        read_map(path)
    assert "\n" not in str(caught.value)


def test_a_gzip_bomb_is_refused_before_it_inflates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(impactmap, "MAX_UNCOMPRESSED_BYTES", 1024 * 1024)
    path = tmp_path / "impact.json.gz"
    path.write_bytes(gzip.compress(b" " * (50 * 1024 * 1024)))  # 50 KB that inflates to 50 MB
    assert path.stat().st_size < 100_000
    with pytest.raises(ImpactMapError, match="inflates to more than 1 MB"):
        read_map(path)


def test_an_oversized_file_is_refused_without_reading_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(impactmap, "MAX_COMPRESSED_BYTES", 1000)
    path = tmp_path / "impact.json.gz"
    path.write_bytes(os.urandom(5000))
    with pytest.raises(ImpactMapError, match="5,000 bytes, over the"):
        read_map(path)


def test_links_fifos_and_missing_files_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    write_map(sample(), secret.with_suffix(".gz"))
    link = tmp_path / "impact.json.gz"
    link.symlink_to(secret.with_suffix(".gz"))
    with pytest.raises(ImpactMapError, match="symbolic link"):
        read_map(link)
    fifo = tmp_path / "fifo.json.gz"
    os.mkfifo(fifo)
    with pytest.raises(ImpactMapError, match="could not be read"):
        read_map(fifo)  # refused without blocking
    with pytest.raises(ImpactMapError, match="does not exist"):
        read_map(tmp_path / "missing.json.gz")


def test_shards_maps_combine_into_one_and_maps_of_different_runs_do_not() -> None:
    one, two = sample(), sample()
    one.tests = {"unit::a.py::t1": {"src/p/a.py": ((1, 2),)}, "unit::": {"src/p/a.py": ((1, 1),)}}
    two.tests = {"unit::a.py::t2": {"src/p/a.py": ((5, 5),)}, "unit::": {"src/p/a.py": ((3, 4),)}}
    two.suites = ["integration"]
    combined = impactmap.combine([one, two])
    assert combined.tests == {"unit::": {"src/p/a.py": ((1, 1), (3, 4))}, "unit::a.py::t1": {"src/p/a.py": ((1, 2),)},
                              "unit::a.py::t2": {"src/p/a.py": ((5, 5),)}}
    assert combined.suites == ["integration", "unit"]
    other = sample()
    other.platform_key = "darwin-arm64-py3.12"
    with pytest.raises(ImpactMapError, match="different runs"):
        impactmap.combine([one, other])
    drifted = sample()
    drifted.files = {"src/p/a.py": "c" * 40}
    with pytest.raises(ImpactMapError, match="disagree on the text of src/p/a.py"):
        impactmap.combine([one, drifted])
