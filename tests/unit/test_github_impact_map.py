"""The impact map travels in the results artifact next to history.json; fetch-history brings it back safely."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from doorbell_ci.cli import main
from doorbell_ci.github import artifacts
from doorbell_ci.github.artifacts import fetch_history
from doorbell_ci.impact.impactmap import ImpactMap, read_map, write_map
from tests.github_double import GitHubDouble, zip_bytes
from tests.unit.test_github_history import NAME, WORKFLOW, client


def map_bytes(tmp_path: Path, test: str = "unit::tests/unit/test_a.py::test_x") -> bytes:
    path = tmp_path / "recorded" / "impact.json.gz"
    path.parent.mkdir(exist_ok=True)
    write_map(ImpactMap(commit="a" * 40, dirty=False, platform_key="linux-x86_64-py3.12",
                        created_at="2026-12-01T00:00:00+00:00", suites=["unit"], files={"src/a.py": "1" * 40},
                        tests={test: {"src/a.py": ((1, 3),)}}), path)
    return path.read_bytes()


def with_link(files: dict[str, bytes], link: str, target: str) -> bytes:
    """A zip holding ``files`` and a symbolic link ``link`` -> ``target`` (as upload-artifact would never write)."""
    buffer = io.BytesIO(zip_bytes(files))
    with zipfile.ZipFile(buffer, "a") as bundle:
        info = zipfile.ZipInfo(link)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        bundle.writestr(info, target)
    return buffer.getvalue()


def test_the_map_is_kept_next_to_history_json(double: GitHubDouble, tmp_path: Path) -> None:
    double.add_artifact(NAME, zip_bytes({"history.json": b"{}", "impact.json.gz": map_bytes(tmp_path),
                                         "report.json": b"{}", "logs/unit.log": b"x"}))
    result = fetch_history(client(double), NAME, tmp_path / "history", workflow=WORKFLOW)
    assert result.source == "artifact" and result.detail.startswith("history and impact map from artifact")
    assert sorted(p.name for p in (tmp_path / "history").iterdir()) == ["history.json", "impact.json.gz"]
    assert result.impact_map == tmp_path / "history" / "impact.json.gz"
    assert list(read_map(result.impact_map).tests) == ["unit::tests/unit/test_a.py::test_x"]
    assert double.invalid == []


def test_a_map_without_history_is_kept_and_history_is_not_claimed(double: GitHubDouble, tmp_path: Path) -> None:
    double.add_artifact(NAME, zip_bytes({"impact.json.gz": map_bytes(tmp_path), "report.json": b"{}"}))
    result = fetch_history(client(double), NAME, tmp_path / "history", workflow=WORKFLOW)
    assert result.detail.startswith("impact map from artifact") and result.directory is None
    assert result.impact_map is not None and result.impact_map.is_file()


def test_a_linked_map_refuses_the_whole_artifact(double: GitHubDouble, tmp_path: Path) -> None:
    """As for history.json: an archive holding a link is hostile, nothing of it is kept (the run selects nothing)."""
    double.add_artifact(NAME, with_link({"history.json": b"new"}, "impact.json.gz", "/etc/passwd"))
    result = fetch_history(client(double), NAME, tmp_path / "history", workflow=WORKFLOW)
    assert result.source == "none" and "is a symbolic link" in result.detail
    assert result.impact_map is None and not (tmp_path / "history").exists()


def test_a_folder_or_an_oversized_map_is_left_behind(double: GitHubDouble, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    double.add_artifact(NAME, zip_bytes({"history.json": b"{}", "impact.json.gz/inner": b"x"}))
    result = fetch_history(client(double), NAME, tmp_path / "one", workflow=WORKFLOW)
    assert result.impact_map is None and result.directory == tmp_path / "one" / "history.json"
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["history.json"]
    packed = map_bytes(tmp_path)
    monkeypatch.setattr(artifacts, "MAX_IMPACT_MAP_BYTES", len(packed) - 1)
    double.add_artifact(NAME, zip_bytes({"history.json": b"{}", "impact.json.gz": packed}),
                        created_at="2026-11-30T00:00:00Z")
    result = fetch_history(client(double), NAME, tmp_path / "two", workflow=WORKFLOW)
    assert result.impact_map is None and result.detail.startswith("history from artifact")


def test_the_command_outputs_both_paths(double: GitHubDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    double.add_artifact(NAME, zip_bytes({"history.json": b"{}", "impact.json.gz": map_bytes(tmp_path)}))
    outputs = tmp_path / "outputs.txt"
    for key, value in {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(outputs), "GITHUB_API_URL": double.url,
                       "GITHUB_REPOSITORY": f"{double.owner}/{double.repo}", "GITHUB_TOKEN": "ghs_token",
                       "GITHUB_WORKFLOW_REF": "octo/doorbell/.github/workflows/ci.yml@refs/heads/main"}.items():
        monkeypatch.setenv(key, value)
    assert main(["fetch-history", "--name", NAME, "--dest", str(tmp_path / "fetched")]) == 0
    assert "history and impact map from artifact" in capsys.readouterr().out
    lines = outputs.read_text(encoding="utf-8").splitlines()  # NAME<<delimiter, value, delimiter
    values = {lines[i].split("<<")[0]: lines[i + 1] for i in range(0, len(lines), 3)}
    assert values == {"history-file": str((tmp_path / "fetched" / "history.json").resolve()),
                      "impact-map": str((tmp_path / "fetched" / "impact.json.gz").resolve())}
