"""Fetching the previous history.json from the default branch's results artifact (the GitHub double)."""

from __future__ import annotations

from pathlib import Path

from doorbell_ci.github.artifacts import ArtifactClient, fetch_history, workflow_path
from tests.github_double import GitHubDouble, zip_bytes

NAME = "doorbell-ci-tests-Linux-X64"
WORKFLOW = workflow_path("octo/doorbell/.github/workflows/ci.yml@refs/heads/main")


def client(double: GitHubDouble) -> ArtifactClient:
    return ArtifactClient(double.url, f"{double.owner}/{double.repo}", "ghs_token")


def test_the_newest_default_branch_results_give_their_history_even_from_a_red_run(double: GitHubDouble,
                                                                                   tmp_path: Path) -> None:
    double.add_artifact(NAME, zip_bytes({"history.json": b"old", "report.json": b"{}"}),
                        created_at="2026-11-01T00:00:00Z")
    double.add_artifact(NAME, zip_bytes({"history.json": b"fork"}), head_repository_id=999,
                        created_at="2026-11-24T00:00:00Z")
    double.add_artifact(NAME, zip_bytes({"history.json": b"branch"}), branch="feature",
                        created_at="2026-11-23T00:00:00Z")
    double.add_artifact(NAME, zip_bytes({"history.json": b"red main", "logs/unit.log": b"x"}), conclusion="failure",
                        created_at="2026-11-21T00:00:00Z")
    result = fetch_history(client(double), NAME, tmp_path / "history", workflow=WORKFLOW)
    assert result.source == "artifact", result.detail
    assert sorted(p.name for p in (tmp_path / "history").iterdir()) == ["history.json"]  # nothing else kept
    assert (tmp_path / "history" / "history.json").read_bytes() == b"red main"
    assert double.invalid == []


def test_an_artifact_without_history_or_a_hostile_one_gives_no_history_and_says_why(double: GitHubDouble,
                                                                                    tmp_path: Path) -> None:
    double.add_artifact(NAME, zip_bytes({"report.json": b"{}"}), created_at="2026-11-02T00:00:00Z")
    result = fetch_history(client(double), NAME, tmp_path / "history", workflow=WORKFLOW)
    assert result.source == "none" and "holds no history.json" in result.detail
    double.add_artifact(NAME, zip_bytes({"../history.json": b"escape"}), created_at="2026-11-03T00:00:00Z")
    result = fetch_history(client(double), NAME, tmp_path / "deep" / "history", workflow=WORKFLOW)
    assert result.source == "none" and "climbs out" in result.detail
    assert not (tmp_path / "deep" / "history.json").exists() and not (tmp_path / "history.json").exists()


def test_without_api_access_there_is_no_history(tmp_path: Path) -> None:
    result = fetch_history(None, NAME, tmp_path / "history")
    assert result.source == "none" and result.directory is None
