"""Paired mode for real: a temporary git repository whose second commit is slower, measured ABBA.

In the performance suite, which runs alone: its verdicts are timings, and a neighbour on the
other core (the integration suite runs two workers) was seen to turn them into "noisy" or a false
"regression" of the unchanged benchmark.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from doorbell_ci.errors import ExitCode, PerfError
from doorbell_ci.perf import paired, stats
from tests.tooling import require_tool

WORK = '''
def work(n):
    total = 0
    for i in range(n * FACTOR):
        total += i * i
    return total
'''

TESTS = '''
from doorbell_work import work

def test_work(perf):
    assert perf(work, 3000) > 0

def test_steady(perf):
    assert perf(sum, range(20000)) > 0
'''


def _git(repo: Path, *args: str) -> str:
    completed = subprocess.run(["git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci", *args],  # noqa: S603,S607
                               cwd=repo, capture_output=True, text=True, check=True)
    return completed.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    require_tool("git", shutil.which("git") is not None, "paired mode checks out the base with git worktree")
    project = tmp_path / "repo"
    (project / "src").mkdir(parents=True)
    (project / "tests" / "performance").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "paired-demo"\nversion = "0"\n\n'
                                          '[tool.pytest.ini_options]\npythonpath = ["src"]\n')
    (project / "src" / "doorbell_work.py").write_text("FACTOR = 1\n" + WORK)
    (project / "tests" / "performance" / "test_work.py").write_text(TESTS)
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", ".")
    _git(project, "commit", "-q", "-m", "base")
    _git(project, "checkout", "-q", "-b", "feature")
    (project / "src" / "doorbell_work.py").write_text("FACTOR = 3\n" + WORK)  # the head does three times the work
    _git(project, "commit", "-q", "-am", "slower")
    return project


def test_interleaving_is_abba() -> None:
    assert "".join(paired.interleaving(4)) == "ABBAABBA"
    assert "".join(paired.interleaving(3)).count("A") == 3


def test_merge_base_and_a_missing_base_ref(repo: Path) -> None:
    base, head, ref = paired.merge_base(repo, "main", {})
    assert base == _git(repo, "rev-parse", "main") and head == _git(repo, "rev-parse", "HEAD") and ref == "main"
    assert paired.merge_base(repo, None, {"GITHUB_BASE_REF": "main"})[2] == "main"
    with pytest.raises(PerfError, match="not a commit"):
        paired.merge_base(repo, "no-such-branch", {})


def test_worktree_checks_out_the_base_and_leaves_nothing_behind(repo: Path) -> None:
    base = _git(repo, "rev-parse", "main")
    worktree = paired.Worktree(repo, base)
    with worktree as checkout:
        assert "FACTOR = 1" in (checkout / "src" / "doorbell_work.py").read_text()
    assert not worktree.folder.exists()
    assert _git(repo, "worktree", "list").count("\n") == 0  # only the main checkout
    assert "FACTOR = 3" in (repo / "src" / "doorbell_work.py").read_text()


def _run(repo: Path, output: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOORBELL_CI_")}
    # 20 ms samples (the default): one burst of VM steal time cannot double a sample, as it could a 5 ms one
    # the default 4 processes a side (3 is the fewest that gate; with 3 a side, Welch's test on 3 process
    # medians reached only p = 0.012 on a 3x slowdown under load, short of the confirmation's 0.01)
    env.update({"DOORBELL_CI_PERF_MIN_SAMPLE_TIME": "0.02"})
    argv = [sys.executable, "-m", "doorbell_ci", "run", "--project", str(repo), "--suites", "performance",
            "--no-coverage", "--quiet", "--output-dir", str(output), "--perf-metric", "cpu", *flags]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)  # noqa: S603


def test_a_slower_head_is_a_confirmed_regression_and_fails_the_run(repo: Path, tmp_path: Path) -> None:
    """A 3x slower head is never called unchanged; unless the machine is too noisy to time, it fails the run.

    On the shared CI machine the CPU time of the same code moves by up to 70% for seconds at a time
    (host contention): a process of one side can run 1.5x slower than the other process of the same
    side. Such a spread once made the 3x slowdown ``noisy`` in three runs in a row (measured 2.45x,
    3.56x, 2.64x), a false green; now a noisy benchmark is judged when its ratio is beyond the noise
    bar (1 + 5% + 3 spreads), so only a spread over ~50% still leaves it ``noisy``, or a noisy
    re-measurement leaves it unconfirmed. The test measures again then, up to three times, and fails
    on a wrong verdict at once or when no attempt could be timed. Instruction counts (the test below)
    are the gate that does not depend on the machine being quiet.
    """
    attempts = []
    for attempt in range(3):
        output = tmp_path / f"results-{attempt}"
        completed = _run(repo, output, "--perf-mode", "paired", "--perf-base", "main", "--fail-on-regression")
        performance = json.loads((output / "report.json").read_text())["performance"]
        rows = {row["name"].rsplit("::", 1)[-1]: row for row in performance["benchmarks"]}
        work = rows["test_work"]
        shown = {k: v for k, v in work.items() if not k.endswith("samples")}
        assert work["verdict"] in {"regression", "noisy", "possible regression"}, shown  # never unchanged or better
        assert rows["test_steady"]["verdict"] in {"unchanged", "noisy", "possible regression", "improvement"}
        assert performance["paired"]["order"] == "ABBA" and performance["paired"]["processes"] == 8
        assert performance["baseline"]["commit"] == _git(repo, "rev-parse", "main")
        assert len(work["base_samples"]) == len(work["head_samples"]) == 20  # 5 samples in each of 4 processes
        assert _git(repo, "worktree", "list").count("\n") == 0
        if work["verdict"] == "noisy":
            assert completed.returncode == ExitCode.OK, completed.stdout + completed.stderr  # noisy never gates
            assert not stats.beyond_noise(work["ratio"], work["spread"], performance["threshold"]), shown  # else judged
            attempts.append(f"attempt {attempt + 1}: noisy, ratio {work['ratio']:.2f}, spread {work['spread']:.2f}")
            continue
        if work["verdict"] == "possible regression":  # flagged, and the re-measurement fell short of p < 0.01
            confirmation = work["confirmation"]  # or of its own noise bar: too noisy to confirm, never "faster"
            assert confirmation["confirmed"] is False and confirmation["ratio"] >= 1.05, shown
            assert completed.returncode == ExitCode.OK, completed.stdout + completed.stderr
            attempts.append(f"attempt {attempt + 1}: flagged at {work['ratio']:.2f}, not confirmed "
                            f"(ratio {confirmation['ratio']:.2f}, p {confirmation['p_value']:.3f})")
            continue
        # the gate's own bar, not the 3x of the code: contention compresses a timing ratio (2x once measured 1.23x)
        assert work["ratio"] >= 1.05 and work["confirmation"]["ratio"] >= 1.05, work
        assert work["confirmation"]["confirmed"] is True
        assert completed.returncode == ExitCode.REGRESSION, completed.stdout + completed.stderr
        assert "### Performance (paired mode" in (output / "summary.md").read_text()
        return
    pytest.fail("the machine was too noisy to time in three attempts: " + "; ".join(attempts))


def test_without_a_base_branch_the_run_keeps_its_results_and_says_why(repo: Path, tmp_path: Path) -> None:
    output = tmp_path / "results"
    completed = _run(repo, output, "--perf-mode", "paired", "--perf-base", "does-not-exist")
    report = json.loads((output / "report.json").read_text())
    assert completed.returncode == ExitCode.OK
    assert report["suites"][0]["status"] == "passed"
    assert any("does-not-exist" in notice for notice in report["notices"])
    assert {row["verdict"] for row in report["performance"]["benchmarks"]} == {"no baseline"}


def test_instruction_counts_confirm_a_three_percent_code_change(tmp_path: Path) -> None:
    """``--perf-metric instructions`` end to end: a real 3% change (more loop iterations), paired A B B A.

    3% is far below what timings gate on this busy machine (5% minimum effect, 30-40% wall spread)
    and far above the instruction count's noise (0.01-0.05%).
    """
    require_tool("git", shutil.which("git") is not None, "paired mode checks out the base with git worktree")
    require_tool("valgrind", shutil.which("valgrind") is not None, "instruction counts come from callgrind")
    project = tmp_path / "repo"
    (project / "src").mkdir(parents=True)
    (project / "tests" / "performance").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "paired-demo"\nversion = "0"\n\n'
                                          '[tool.pytest.ini_options]\npythonpath = ["src"]\n')
    work_source = WORK.replace("n * FACTOR", "n + n * EXTRA // 100")  # EXTRA percent more iterations
    (project / "src" / "doorbell_work.py").write_text("EXTRA = 0\n" + work_source)
    (project / "tests" / "performance" / "test_work.py").write_text(TESTS.replace("range(20000)", "range(2000)"))
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", ".")
    _git(project, "commit", "-q", "-m", "base")
    _git(project, "checkout", "-q", "-b", "feature")
    source = project / "src" / "doorbell_work.py"
    source.write_text(source.read_text().replace("EXTRA = 0", "EXTRA = 3"))
    _git(project, "commit", "-q", "-am", "3% more iterations")
    output = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOORBELL_CI_")}
    env.update({"DOORBELL_CI_PERF_MIN_SAMPLE_TIME": "0.005", "DOORBELL_CI_PERF_SAMPLES": "6"})
    argv = [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", "performance",
            "--no-coverage", "--quiet", "--output-dir", str(output), "--perf-metric", "instructions",
            "--perf-mode", "paired", "--perf-base", "main", "--fail-on-regression"]
    completed = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800, check=False)  # noqa: S603
    performance = json.loads((output / "report.json").read_text())["performance"]
    rows = {row["name"].rsplit("::", 1)[-1]: row for row in performance["benchmarks"]}
    work, steady = rows["test_work"], rows["test_steady"]
    assert performance["unit"] == "instructions per call" and performance["threshold"] == 0.01
    assert work["verdict"] == "regression", work
    # 3% more loop iterations measured 1.65% more instructions per call (later iterations are cheaper)
    assert 1.01 < work["ratio"] < 1.04 and work["confirmation"]["confirmed"] is True
    assert len(work["processes"]["base"]) == len(work["processes"]["head"]) == 2  # the unit of the test
    # the unchanged benchmark counts the same in both checkouts. Before the counted process aligned its
    # pymalloc arenas (perf/arenas.py) it was a steady 2.1% lower in one checkout than in the other: the
    # radix-tree test of every free took ~4 instructions more or less depending on the heap layout,
    # which the checkout's path and its .pyc files decided (docs/PERFORMANCE.md, "Instruction counts")
    assert steady["verdict"] == "unchanged", steady
    base_counts, head_counts = steady["processes"]["base"], steady["processes"]["head"]
    assert max(base_counts + head_counts) / min(base_counts + head_counts) < 1.0005, (base_counts, head_counts)
    assert work["wall_median"] and work["head_median"] > 10_000  # both metrics: seconds beside instructions
    assert completed.returncode == ExitCode.REGRESSION, completed.stdout + completed.stderr
    summary = (output / "summary.md").read_text()
    assert "instructions per call" in summary and " instr |" in summary
