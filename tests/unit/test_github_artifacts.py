"""Finding and downloading the baseline artifact, against the OpenAPI-checked GitHub double."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from doorbell_ci.github.artifacts import ArtifactClient, fetch_baseline, pick_baseline, workflow_path
from tests.github_double import GitHubDouble, zip_bytes

NAME = "doorbell-ci-baseline-Linux-X64"


def client(double: GitHubDouble) -> ArtifactClient:
    return ArtifactClient(double.url, f"{double.owner}/{double.repo}", "ghs_token")


def test_the_newest_usable_artifact_of_this_repository_is_used(double, tmp_path: Path) -> None:
    double.add_artifact(NAME, zip_bytes({"b.json": b"old"}), created_at="2026-11-01T00:00:00Z")
    double.add_artifact(NAME, zip_bytes({"b.json": b"fork"}), head_repository_id=999, created_at="2026-11-24T00:00:00Z")
    double.add_artifact(NAME, zip_bytes({"b.json": b"branch"}), branch="feature", created_at="2026-11-23T00:00:00Z")
    double.add_artifact(NAME, zip_bytes({"b.json": b"expired"}), expired=True, created_at="2026-11-22T00:00:00Z")
    double.add_artifact(NAME, zip_bytes({"b.json": b"red"}), conclusion="failure", created_at="2026-11-21T00:00:00Z")
    double.add_artifact(NAME, zip_bytes({"b.json": b"other workflow"}), workflow_path=".github/workflows/nightly.yml",
                        created_at="2026-11-20T12:00:00Z")
    double.add_artifact(NAME, zip_bytes({"b.json": b"newest good"}), created_at="2026-11-20T00:00:00Z")

    result = fetch_baseline(client(double), NAME, tmp_path / "baseline", tmp_path / "baselines",
                            workflow=workflow_path("octo/doorbell/.github/workflows/ci.yml@refs/heads/main"))

    assert result.source == "artifact", result.detail
    assert (tmp_path / "baseline" / "b.json").read_bytes() == b"newest good"
    blob_requests = [r for r in double.requests if r.path.startswith("/blob/")]
    assert len(blob_requests) == 1 and blob_requests[0].authorization is None  # the token stays with the API
    assert all(r.authorization == "Bearer ghs_token" for r in double.requests if not r.path.startswith("/blob/"))
    listing = [r for r in double.requests if r.path.endswith("/actions/artifacts")]
    assert listing[0].query["name"] == [NAME]
    assert double.invalid == []


def test_without_a_usable_artifact_the_repository_baselines_are_used_and_said(double, tmp_path: Path) -> None:
    double.add_artifact(NAME, zip_bytes({"b.json": b"fork"}), head_repository_id=999)
    (tmp_path / "baselines").mkdir()
    result = fetch_baseline(client(double), NAME, tmp_path / "baseline", tmp_path / "baselines")
    assert result.source == "repo" and result.directory == tmp_path / "baselines"
    assert "no usable artifact" in result.detail and "from main" in result.detail


def test_an_api_failure_falls_back_with_the_reason(double, tmp_path: Path) -> None:
    double.fail("GET", "/repos/{owner}/{repo}/actions/artifacts", 403, message="Resource not accessible")
    result = fetch_baseline(client(double), NAME, tmp_path / "baseline", tmp_path / "nothing-here")
    assert result.source == "none" and result.directory is None
    assert "403" in result.detail and "Resource not accessible" in result.detail


def test_a_hostile_artifact_is_refused_and_the_fallback_used(double, tmp_path: Path) -> None:
    double.add_artifact(NAME, zip_bytes({"../../escape.json": b"x"}))
    (tmp_path / "baselines").mkdir()
    result = fetch_baseline(client(double), NAME, tmp_path / "deep" / "baseline", tmp_path / "baselines")
    assert result.source == "repo" and "climbs out" in result.detail
    assert not (tmp_path / "escape.json").exists()


def test_without_api_access_the_repository_folder_is_used(tmp_path: Path) -> None:
    (tmp_path / "baselines").mkdir()
    result = fetch_baseline(None, NAME, tmp_path / "baseline", tmp_path / "baselines")
    assert result.source == "repo" and "no GitHub API access" in result.detail


def test_pick_baseline_ignores_artifacts_expiring_now() -> None:
    artifact = {"id": 1, "name": NAME, "expired": False, "expires_at": "2026-01-01T00:00:00Z",
                "created_at": "2025-12-01T00:00:00Z",
                "workflow_run": {"id": 5, "head_branch": "main", "head_repository_id": 1}}
    assert pick_baseline([artifact], NAME, "main", 1, now=datetime(2026, 2, 1, tzinfo=UTC)) == []
    assert [r.id for r in pick_baseline([artifact], NAME, "main", 1, now=datetime(2025, 12, 2, tzinfo=UTC))] == [1]


def test_workflow_path_from_the_runners_workflow_ref() -> None:
    assert workflow_path("o/r/.github/workflows/ci.yml@refs/pull/3/merge") == ".github/workflows/ci.yml"
    assert workflow_path(None) is None and workflow_path("garbage") is None
