"""The atheris (libFuzzer) harnesses in tests/security/fuzz/, each run for a bounded number of inputs.

Coverage-guided fuzzing finds what the hypothesis tests' grammars do not think of (it found the
LookupError of an XML declaration naming an unknown encoding within a few hundred inputs). Each
harness starts from a small seed corpus written here, runs ``RUNS`` inputs (2,000; 200,000 with
``HYPOTHESIS_PROFILE=fuzz``) and fails the test with libFuzzer's report when an input raises
anything but the reader's documented exception. A crash leaves its input as ``crash-<sha1>`` in
the test's tmp folder; replay it with ``python tests/security/fuzz/fuzz_<reader>.py crash-<sha1>``.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from doorbell_ci.perf import baselines
from tests.security.fuzzing import DEFLATED, PROFILE_ENV, RawEntry, build_zip
from tests.tooling import require_tool

HARNESSES = Path(__file__).parent / "fuzz"
FIXTURES = Path(__file__).parents[1] / "fixtures"
RUNS = 2_000 * (100 if os.environ.get(PROFILE_ENV) == "fuzz" else 1)
# atheris 3.0 ships wheels for these only (pyproject.toml's dev extras say the same)
SUPPORTED = (sys.platform == "linux" and platform.machine() == "x86_64"
             and platform.python_implementation() == "CPython" and (3, 11) <= sys.version_info[:2] < (3, 14))


def _junit_seeds(corpus: Path) -> None:
    for fixture in (FIXTURES / "junit").glob("*.xml"):
        shutil.copy(fixture, corpus / fixture.name)


def _baseline_seeds(corpus: Path) -> None:
    key = baselines.PlatformKey("linux", "x86_64", "3.11", "Raspberry Pi 5", "self-hosted")
    for run in range(2):  # a baseline with a latest run and two history entries, as `baseline update` writes it
        path = baselines.update(corpus, key, {"test_a": {"wall": [0.1, 0.12], "cpu": [0.09], "peak_memory": [2e6]}},
                                commit=f"c{run}", run_id=str(run), now="2026-11-25T10:00:00+00:00")
    (corpus / "broken.json").write_text(path.read_text()[:200])


def _config_seeds(corpus: Path) -> None:
    (corpus / "pyproject.toml").write_text(
        '[project]\nname = "doorbell"\n\n[tool.doorbell-ci]\nworkers = 2\ntimeout = 60\nsuites = ["unit"]\n'
        'coverage_fail_under = 80\n\n[tool.doorbell-ci.suite.unit]\npaths = ["tests/unit"]\nmarkers = "not slow"\n'
        'env = { DOORBELL_MODE = "test" }\n\n[tool.doorbell-ci.suite.web]\ncommand = ["npx", "jest"]\n'
        'junit = "web/junit.xml"\n\n[tool.doorbell-ci.environment.docker]\ncpus = 2\nmemory = "1g"\n'
        "\n#ENV\nDOORBELL_CI_WORKERS=auto\nDOORBELL_CI_TIMEOUT=30\n")


def _artifact_seeds(corpus: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("baselines/linux.json", json.dumps({"format": baselines.FORMAT, "version": 1}))
        bundle.writestr("baselines/", "")
        bundle.writestr("notes.txt", "x" * 200)
    (corpus / "real.zip").write_bytes(buffer.getvalue())
    (corpus / "raw.zip").write_bytes(build_zip([RawEntry(b"a/b.json", b"{}" * 50, method=DEFLATED),
                                                RawEntry(b"c", b"1")]))


SEEDS: dict[str, Callable[[Path], None]] = {
    "junit": _junit_seeds, "baseline": _baseline_seeds, "config": _config_seeds, "artifact": _artifact_seeds,
}


@pytest.mark.parametrize("reader", sorted(SEEDS))
def test_the_libfuzzer_harness_finds_no_undocumented_exception(reader: str, tmp_path: Path) -> None:
    if not SUPPORTED:
        pytest.skip(f"atheris has no wheel for {sys.platform} {platform.machine()} Python {platform.python_version()}")
    require_tool("atheris", importlib.util.find_spec("atheris") is not None,
                 "pip install -e '.[dev]' installs it on Linux x86_64 with CPython 3.11-3.13")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    SEEDS[reader](corpus)
    completed = subprocess.run(
        [sys.executable, str(HARNESSES / f"fuzz_{reader}.py"), f"-runs={RUNS}", f"-artifact_prefix={tmp_path}/",
         "-max_len=65536", "-timeout=30", "-rss_limit_mb=2048", "-print_final_stats=1", str(corpus)],
        cwd=tmp_path, capture_output=True, text=True, errors="replace", timeout=1800,
    )
    output = completed.stdout + completed.stderr
    report = "\n".join(line for line in output.splitlines() if "INFO: Instrumenting" not in line)[-6000:]
    assert completed.returncode == 0, f"fuzz_{reader}.py crashed (input saved under {tmp_path}):\n{report}"
    assert not list(tmp_path.glob("crash-*")), report
    done = re.search(r"Done (\d+) runs", output)
    assert done and int(done.group(1)) >= RUNS, report
    print(f"fuzz_{reader}: {done.group(0)}")  # shown with -s; the inputs each harness ran
