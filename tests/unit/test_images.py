"""Test image recipes, content hashes, the offline base's root filesystem, the container user."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from doorbell_ci.environments import images
from doorbell_ci.environments.settings import DockerSettings
from doorbell_ci.errors import EnvironmentError_


def test_generated_dockerfile_follows_the_reference_recipe() -> None:
    settings = DockerSettings(system_packages=("libgl1", "cmake"))
    text = images.generated_dockerfile(settings, ["requirements.txt", "requirements-dev.txt"])
    lines = text.splitlines()
    assert "FROM python:3.11-slim" in lines
    assert any(line.startswith("RUN apt-get update") and "cmake libgl1" in line for line in lines)
    assert "COPY requirements.txt requirements-dev.txt /tmp/requirements/" in lines
    assert "RUN pip install -r /tmp/requirements/requirements.txt -r /tmp/requirements/requirements-dev.txt" in lines
    assert "RUN pip install pytest pytest-xdist pytest-cov" in lines
    assert lines[-2:] == ["USER doorbell", "WORKDIR /home/doorbell"]


def test_generated_dockerfile_without_packages_or_requirements() -> None:
    text = images.generated_dockerfile(DockerSettings(base_image="python:3.12-slim"), [])
    assert "apt-get" not in text and "COPY" not in text
    assert text.splitlines()[1] == "FROM python:3.12-slim"


def test_content_hash_changes_with_any_input_and_only_then() -> None:
    assert images.content_hash(b"a", b"b") == images.content_hash(b"a", b"b")
    assert images.content_hash(b"a", b"b") != images.content_hash(b"ab", b"")  # parts are length-prefixed
    assert images.content_hash(b"a") != images.content_hash(b"b")


def test_requirement_files_default_to_the_project_root_files(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("pytest\n")
    (tmp_path / "requirements-test.txt").write_text("hypothesis\n")
    (tmp_path / "other.txt").write_text("")
    assert images.requirement_files(tmp_path, DockerSettings()) == ["requirements-test.txt", "requirements.txt"]


def test_named_requirement_file_that_is_missing_is_an_environment_error(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentError_, match="'reqs/ci.txt'"):
        images.requirement_files(tmp_path, DockerSettings(requirements=("reqs/ci.txt",)))


def test_offline_rootfs_has_a_non_root_user_and_merged_usr_links() -> None:
    with tarfile.open(fileobj=io.BytesIO(images.offline_rootfs())) as archive:
        members = {member.name: member for member in archive.getmembers()}
        passwd = archive.extractfile("etc/passwd").read().decode()  # type: ignore[union-attr]
    assert f"doorbell:x:{images.NON_ROOT_UID}:" in passwd
    assert members["bin"].issym() and members["bin"].linkname == "usr/bin"
    assert members["sbin"].isdir()  # the engine mounts docker-init at /sbin/docker-init
    assert members["tmp"].mode == 0o1777
    assert images.offline_rootfs() == images.offline_rootfs()  # reproducible: the tag stays stable


def test_runtime_mounts_cover_usr_and_the_interpreter() -> None:
    import sys

    mounts = images.host_runtime_mounts()
    assert mounts[0] == images.Mount("/usr", "/usr", True)
    assert all(mount.read_only for mount in mounts)
    covered = [Path(m.source) for m in mounts]
    assert any(Path(sys.executable).resolve().is_relative_to(p) for p in covered)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX users")
def test_container_user_is_never_root_unless_asked() -> None:
    if os.getuid() == 0:
        assert images.container_user("auto", "") == "1000:1000"
        assert images.container_user("auto", "root") == "1000:1000"
        assert images.container_user("auto", "app") == "app"
    else:
        assert images.container_user("auto", "app") == f"{os.getuid()}:{os.getgid()}"
    assert images.container_user("root", "app") == "root"
