"""doctor's decisions: what is required, what is only reported, and that secrets stay hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from doorbell_ci import doctor


def by_name(findings: list[doctor.Finding]) -> dict[str, doctor.Finding]:
    return {finding.name: finding for finding in findings}


def unreachable() -> str:
    raise ConnectionRefusedError("Error while fetching server API version: connection refused\nmore detail")


def test_a_machine_without_docker_or_github_is_still_usable(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    findings = doctor.examine(tmp_path, environ={}, docker_ping=unreachable)
    found = by_name(findings)
    assert found["docker engine"].ok is False and found["docker engine"].required is False
    assert "only needed for --environment docker" in found["docker engine"].detail
    assert "connection refused" in found["docker engine"].detail and "more detail" not in found["docker engine"].detail
    assert found["GITHUB_TOKEN"].label == "optional"
    assert found["configuration"].ok and "environment local" in found["configuration"].detail
    assert doctor.usable(findings)


def test_docker_is_required_when_the_project_runs_in_docker(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.doorbell-ci]\nenvironment = "docker"\n', encoding="utf-8")
    findings = doctor.examine(tmp_path, environ={}, docker_ping=unreachable)
    assert by_name(findings)["docker engine"].label == "MISSING"
    assert not doctor.usable(findings)
    reachable = doctor.examine(tmp_path, environ={}, docker_ping=lambda: "27.1.1")
    assert by_name(reachable)["docker engine"].detail == "Docker 27.1.1"


def test_a_broken_configuration_is_reported_with_its_message(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.doorbell-ci]\nworkers = 0\n", encoding="utf-8")
    findings = doctor.examine(tmp_path, environ={}, docker_ping=lambda: "27")
    configuration = by_name(findings)["configuration"]
    assert configuration.label == "MISSING" and "workers" in configuration.detail
    assert not doctor.usable(findings)


def test_old_python_is_not_usable(tmp_path: Path) -> None:
    findings = doctor.examine(tmp_path, environ={}, docker_ping=lambda: "27", version_info=(3, 10, 14))
    python = by_name(findings)["python"]
    assert python.label == "MISSING" and "3.10.14 is too old" in python.detail and "3.11" in python.detail
    assert not doctor.usable(findings)


def test_github_variables_are_shown_but_the_token_never_is() -> None:
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/doorbell", "GITHUB_TOKEN": "ghs_secret123",
               "RUNNER_LABELS": "self-hosted,linux,ARM64,pi,pi5"}
    findings = doctor.examine(None, environ=environ, docker_ping=lambda: "27")
    found = by_name(findings)
    assert found["GITHUB_REPOSITORY"].detail == "acme/doorbell"
    assert found["GITHUB_TOKEN"].ok and found["GITHUB_TOKEN"].detail == "set (hidden)"
    assert found["GITHUB_OUTPUT"].detail == "not set in this workflow"
    assert "configuration" not in found  # no project given
    text = doctor.render(findings, {"os_name": "Debian GNU/Linux 12 (bookworm)", "arch": "aarch64",
                                    "cpu_count": 4, "pi_model": "pi5"})
    assert "ghs_secret123" not in text
    assert text.splitlines()[0].endswith("doctor: Debian GNU/Linux 12 (bookworm) on aarch64, 4 CPUs, pi5")


def test_render_names_what_to_fix() -> None:
    findings = [doctor.Finding("python", True, "3.11.7"), doctor.Finding("plugin xdist", False, "pip install"),
                doctor.Finding("chromium", False, "not found", required=False)]
    text = doctor.render(findings, {"os": "windows", "arch": "amd64", "cpu_count": 8})
    assert "  MISSING   plugin xdist  pip install" in text
    assert "  optional  chromium      not found" in text
    assert text.endswith("usable: no (fix: plugin xdist)")


def test_a_missing_plugin_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    real_version = doctor.metadata.version

    def version(name: str) -> str:
        if name == "pytest-xdist":
            raise doctor.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(doctor.metadata, "version", version)
    finding = doctor._plugin("pytest-xdist", "xdist", "parallel workers", True)
    assert finding.label == "MISSING" and "pip install pytest-xdist" in finding.detail


def test_a_non_utf8_console_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    class Cp1252Console:
        encoding = "cp1252"

    monkeypatch.setattr(doctor.sys, "stdout", Cp1252Console())
    finding = doctor._console()
    assert finding.label == "optional" and finding.detail.startswith("cp1252")


def test_a_project_where_nothing_would_run_is_not_usable_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    findings = doctor.examine(tmp_path, environ={}, docker_ping=lambda: "27")
    suites = by_name(findings)["suites"]
    assert suites.label == "MISSING"
    assert suites.detail.startswith("nothing would run (exit 8): no selected suite exists")
    assert "missing: tests/unit, tests/integration, tests/e2e," in suites.detail
    assert "there is no tests/ folder or pytest testpaths" in suites.detail
    assert "[tool.doorbell-ci.suite.unit] paths" in suites.detail
    assert not doctor.usable(findings)
    assert doctor.render(findings, {}).splitlines()[-1] == "usable: no (fix: suites)"
    (tmp_path / "pyproject.toml").write_text('[tool.doorbell-ci.suite.unit]\npaths = ["spec"]\n', encoding="utf-8")
    (tmp_path / "tests").mkdir()  # a configured suite is never replaced by tests/
    configured = by_name(doctor.examine(tmp_path, environ={}, docker_ping=lambda: "27"))["suites"]
    assert configured.label == "MISSING" and "missing: spec, tests/integration" in configured.detail
    assert "the project configures its suites, so tests/ or pytest testpaths are not run" in configured.detail


def test_a_flat_tests_folder_is_what_would_run(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    findings = doctor.examine(tmp_path, environ={}, docker_ping=lambda: "27")
    suites = by_name(findings)["suites"]
    assert suites.ok and suites.detail.startswith("would run unit (tests); no suite folder")
    assert doctor.usable(findings)
