"""The helper's container options: hardened whatever the spec says."""

from __future__ import annotations

from doorbell_ci.environments.docker_exec import container_options, main

SPEC = {
    "image": "img:1", "command": ["python", "-m", "pytest"], "environment": {"A": "1"},
    "mounts": [{"source": "/p", "target": "/p", "read_only": True},
               {"source": "/o", "target": "/x", "read_only": False}],
    "user": "1000:1000", "network": "net", "labels": {"doorbell-ci.run-id": "R"}, "name": "c",
    "working_dir": "/p", "nano_cpus": 2_000_000_000, "mem_limit": "1g", "pids_limit": 128,
}


def test_options_carry_limits_labels_and_mounts() -> None:
    options = container_options(SPEC)
    assert (options["nano_cpus"], options["mem_limit"], options["pids_limit"]) == (2_000_000_000, "1g", 128)
    assert options["labels"] == {"doorbell-ci.run-id": "R"}
    assert [(m["Source"], m["Target"], m["ReadOnly"]) for m in options["mounts"]] == [("/p", "/p", True),
                                                                                        ("/o", "/x", False)]


def test_options_are_hardened() -> None:
    options = container_options({**SPEC, "privileged": True, "cap_add": ["SYS_ADMIN"]})
    assert options["privileged"] is False
    assert options["cap_drop"] == ["ALL"]
    assert "cap_add" not in options
    assert options["security_opt"] == ["no-new-privileges"]


def test_usage_error_without_a_spec(capsys) -> None:  # noqa: ANN001
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err
