"""scripts/arm64.sh: the emulated arm64 Debian bookworm root doorbell-ci's arm64 suites run in.

The tests that need the root itself run when it is asked for (``DOORBELL_CI_ARM64=1``, which
``scripts/test.sh --full`` and CI set) and this machine can build it (root, binfmt_misc,
qemu-user-static, debootstrap); they reuse the cached root, so only the first run pays for
debootstrap. Inside the root itself (the arm64-integration suite) they skip: it is not asked for
there, since the root's environment is built from scratch.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.nonroot import give_to_nonroot, nonroot_env, run_as_nonroot
from tests.tooling import REQUIRE_ENV, require_tool

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="chroot, mount namespaces: Linux only")

REPO = Path(__file__).resolve().parents[2]
ARM64 = REPO / "scripts" / "arm64.sh"
CACHE = Path(os.environ.get("DOORBELL_CI_ARM64_CACHE", "/var/cache/doorbell-ci/arm64-bookworm"))
UNAVAILABLE = 3  # arm64.sh's exit code when the machine cannot build or enter the root
EM_AARCH64 = 183  # ELF e_machine of arm64 executables


def arm64(*args: str, env: dict[str, str] | None = None, timeout: float = 600,
          **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(ARM64), *args], capture_output=True, text=True, timeout=timeout,
                          env=env, check=False, **kwargs)


def skipped_message(junit: Path) -> str:
    """The one skipped test's message in the JUnit file arm64.sh writes when it does not run a suite."""
    from defusedxml import ElementTree

    suites = ElementTree.parse(junit).getroot()
    cases = suites.findall("./testsuite/testcase")
    assert len(cases) == 1
    skipped = cases[0].find("skipped")
    assert skipped is not None
    return skipped.get("message", "")


# --- without the root: skips that say why, failures where tools are required ------------------------------


def test_the_suites_skip_with_the_reason_unless_asked_for(tmp_path: Path) -> None:
    junit = tmp_path / "out" / "unit.xml"
    env = {key: value for key, value in os.environ.items() if key not in {"DOORBELL_CI_ARM64", REQUIRE_ENV}}
    completed = arm64("run", "unit", str(junit), env=env)
    assert completed.returncode == 0, completed.stderr
    assert "scripts/test.sh --full" in skipped_message(junit)
    assert "DOORBELL_CI_ARM64=1" in completed.stderr


def test_the_integration_suite_runs_when_asked_for_unless_left_out(tmp_path: Path) -> None:
    """It runs with the unit suite (DOORBELL_CI_ARM64=1); DOORBELL_CI_ARM64_INTEGRATION=0 leaves it out, visibly."""
    junit = tmp_path / "out" / "integration.xml"
    env = {key: value for key, value in os.environ.items() if key != REQUIRE_ENV}
    completed = arm64("run", "integration", str(junit), env={**env, "DOORBELL_CI_ARM64": "1",
                                                             "DOORBELL_CI_ARM64_INTEGRATION": "0"})
    assert completed.returncode == 0, completed.stderr
    assert skipped_message(junit) == "left out with DOORBELL_CI_ARM64_INTEGRATION=0"
    assert "DOORBELL_CI_ARM64_INTEGRATION=0" in completed.stderr
    unasked = {key: value for key, value in env.items() if key != "DOORBELL_CI_ARM64"}
    completed = arm64("run", "integration", str(junit), env={**unasked, "DOORBELL_CI_ARM64_INTEGRATION": "0"})
    assert "scripts/test.sh --full" in skipped_message(junit)  # not asked for at all: that reason comes first


RUN_WITHOUT_ROOT = """
. "$1" --functions-only
build() { echo /nonexistent-root; }      # the root is not what this checks: only what comes back from it
run_inside() { shift; mkdir -p "$repo/$OUT/junit"; eval "$FAKE_INNER"; }
repo="$2"
run_suite integration "$3"
"""


@pytest.mark.parametrize("inner", ["finished", "finished-all", "timed-out"])
def test_the_junit_that_comes_back_from_the_root(tmp_path: Path, inner: str) -> None:
    """The inner pytest's JUnit when it finished; when it was killed at the timeout (no JUnit of its own), the inner
    doorbell-ci's merged junit.xml, so the finished tests still count outside; the suite fails either way then.

    By default the inner run is the platform-dependent files (``--paths``, so its JUnit is paths.xml);
    DOORBELL_CI_ARM64_INTEGRATION=all runs the whole integration suite (integration.xml).
    """
    project = tmp_path / "project"
    project.mkdir()
    junit = tmp_path / "out" / "integration.xml"
    out = ".arm64-results/integration"
    inner_name = "integration" if inner == "finished-all" else "paths"
    fake = f'echo "$*" > "$repo/{out}/argv"; '
    fake += {"finished": f'echo "<testsuites>pytest</testsuites>" > "$repo/{out}/junit/paths.xml"',
             "finished-all": f'echo "<testsuites>pytest</testsuites>" > "$repo/{out}/junit/integration.xml"',
             "timed-out": f'echo "<testsuites>merged</testsuites>" > "$repo/{out}/junit.xml"; return 1'}[inner]
    env = {**os.environ, "DOORBELL_CI_ARM64": "1", "DOORBELL_CI_ARM64_CACHE": str(tmp_path / "cache"),
           "OUT": out, "FAKE_INNER": fake}
    if inner == "finished-all":
        env["DOORBELL_CI_ARM64_INTEGRATION"] = "all"
    (tmp_path / "cache").mkdir()
    completed = subprocess.run(["bash", "-c", RUN_WITHOUT_ROOT, "test", str(ARM64), str(project), str(junit)],
                               env=env, capture_output=True, text=True, timeout=60, check=False)
    argv = (project / out / "argv").read_text().split()
    if inner_name == "paths":
        assert "--paths" in argv and "tests/integration/test_containment.py" in argv and "--suites" not in argv
    else:
        assert argv[argv.index("--suites") + 1] == "integration" and "--paths" not in argv
    if inner.startswith("finished"):
        assert completed.returncode == 0, completed.stderr
        assert junit.read_text() == "<testsuites>pytest</testsuites>\n"
    else:
        assert completed.returncode == 1, completed.stderr
        assert junit.read_text() == "<testsuites>merged</testsuites>\n"
        assert f"its finished tests come from {out}/junit.xml" in completed.stderr


def test_a_machine_that_cannot_build_the_root_skips_or_fails_when_tools_are_required(tmp_path: Path) -> None:
    """Two reasons, two mechanisms: no root privileges (as uid 65534), and debootstrap missing from PATH."""
    give_to_nonroot(tmp_path)
    junit = tmp_path / "unit.xml"
    completed = run_as_nonroot(["bash", str(ARM64), "run", "unit", str(junit)],
                               env=nonroot_env({"DOORBELL_CI_ARM64": "1"}), timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert skipped_message(junit) == "the arm64 root is unavailable here: needs root (chroot, mount)"
    junit.unlink()
    completed = run_as_nonroot(["bash", str(ARM64), "run", "unit", str(junit)],
                               env=nonroot_env({"DOORBELL_CI_ARM64": "1", REQUIRE_ENV: "1"}), timeout=60)
    assert completed.returncode == UNAVAILABLE
    assert completed.stderr.strip().splitlines() == [
        "arm64.sh: the arm64 root is unavailable: needs root (chroot, mount) (DOORBELL_CI_REQUIRE_TOOLS=1)"]
    assert not junit.exists()  # no skipped test to hide the failure behind

    if os.geteuid() == 0:  # as root the next missing piece is the tool: a PATH without /usr/sbin lacks debootstrap
        env = {"PATH": "/usr/bin:/bin", "DOORBELL_CI_ARM64": "1", "HOME": "/root"}
        completed = arm64("run", "unit", str(junit), env=env)
        assert completed.returncode == 0, completed.stderr
        assert "debootstrap is not installed" in skipped_message(junit)
        completed = arm64("run", "unit", str(junit), env={**env, REQUIRE_ENV: "1"})
        assert completed.returncode == UNAVAILABLE
        assert "debootstrap is not installed" in completed.stderr


def test_a_suite_platform_label_reaches_report_json_html_and_summary(tmp_path: Path) -> None:
    """A command suite that ran elsewhere is reported with its platform next to the local suite's counts."""
    project = tmp_path / "project"
    (project / "tests" / "unit").mkdir(parents=True)
    (project / "tests" / "unit" / "test_here.py").write_text("def test_here():\n    pass\n", encoding="utf-8")
    (project / "emulated.py").write_text(
        "import pathlib\n"
        "out = pathlib.Path('out'); out.mkdir(exist_ok=True)\n"
        "(out / 'emu.xml').write_text('<testsuite name=\"emu\" tests=\"3\">'\n"
        "    '<testcase classname=\"t\" name=\"a\"/><testcase classname=\"t\" name=\"b\"/>'\n"
        "    '<testcase classname=\"t\" name=\"c\"><failure message=\"no\"/></testcase></testsuite>')\n",
        encoding="utf-8")
    (project / "pyproject.toml").write_text(
        "[project]\nname = 'p'\n\n[tool.doorbell-ci.suite.emu]\n"
        f"command = [{json.dumps(sys.executable)}, 'emulated.py']\njunit = 'out/emu.xml'\nplatform = 'arm64'\n",
        encoding="utf-8")
    out = tmp_path / "results"
    completed = subprocess.run([sys.executable, "-m", "doorbell_ci", "run", "--project", str(project),
                                "--output-dir", str(out), "--no-coverage", "--suites", "unit", "emu"],
                               capture_output=True, text=True, timeout=300, check=False,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    assert completed.returncode == 1, completed.stdout + completed.stderr  # the emulated suite's failure
    document = json.loads((out / "report.json").read_text(encoding="utf-8"))
    suites = {suite["name"]: suite for suite in document["suites"]}
    assert suites["emu"]["platform"] == "arm64" and suites["unit"]["platform"] == ""
    assert suites["emu"]["counts"]["tests"] == 3 and suites["emu"]["counts"]["failed"] == 1
    assert suites["unit"]["counts"]["passed"] == 1
    html = (out / "report.html").read_text(encoding="utf-8")
    machine = document["platform"]["arch"]
    assert "<td>emu</td>\n  <td>arm64</td>" in html
    assert f"<td>unit</td>\n  <td>{machine}</td>" in html
    assert "| emu (arm64) |" in (out / "summary.md").read_text(encoding="utf-8")


# --- with the root ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arm64_root() -> Path:
    """The cached root (built on first use): only when asked for, as the arm64 suites are."""
    if os.environ.get("DOORBELL_CI_ARM64") != "1":
        pytest.skip("the arm64 root is used with scripts/test.sh --full or DOORBELL_CI_ARM64=1")
    completed = arm64("build", timeout=3600)
    require_tool("arm64 root", completed.returncode != UNAVAILABLE, completed.stderr.strip())
    assert completed.returncode == 0, completed.stderr
    return Path(completed.stdout.strip())


def test_python_inside_is_aarch64_debian_bookworm_and_keys_its_baselines_so(arm64_root: Path) -> None:
    """Python's own view on the arm64 userland: platforms.describe() and the baseline key, no fixtures.

    The interpreter's ELF header proves it is an arm64 binary (run through qemu), not the host's Python.
    A device-tree model mounted over /sys/firmware (in the run's own namespace) makes it a Pi 5.
    """
    code = (
        "import json, os, sys\n"
        "from doorbell_ci.platforms import describe\n"
        "from doorbell_ci.perf.baselines import platform_key\n"
        "facts = describe()\n"
        "key = platform_key(facts)\n"
        "head = open(os.path.realpath(sys.executable), 'rb').read(20)\n"
        "print(json.dumps({'facts': facts, 'key': key.as_dict(), 'slug': key.slug, 'elf': head.hex(),"
        " 'maxsize': sys.maxsize, 'machine': os.uname().machine}))\n"
    )
    fake_pi = ("mount -t tmpfs fake-pi /sys/firmware && mkdir -p /sys/firmware/devicetree/base && "
               "printf 'Raspberry Pi 5 Model B Rev 1.0\\0' >/sys/firmware/devicetree/base/model && exec \"$@\"")
    completed = arm64("exec", "sh", "-c", fake_pi, "sh", "python", "-c", code, timeout=600)
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    head = bytes.fromhex(seen["elf"])
    assert head[:4] == b"\x7fELF" and head[4] == 2  # 64-bit ELF
    assert struct.unpack_from("<H", head, 18)[0] == EM_AARCH64
    facts = seen["facts"]
    assert seen["machine"] == facts["arch"] == "aarch64"
    assert seen["maxsize"] == 2**63 - 1
    assert facts["os"] == "linux"
    assert facts["os_name"] == "Debian GNU/Linux 12 (bookworm)"
    assert facts["python"].startswith("3.11.")
    assert facts["executable"].startswith("/opt/venv/")
    assert facts["pi_model"] == "pi5" and facts["pi_model_name"] == "Raspberry Pi 5 Model B Rev 1.0"
    assert seen["key"]["os"] == "linux" and seen["key"]["arch"] == "aarch64" and seen["key"]["cpu"] == "pi5"
    assert seen["key"]["python"] == "3.11"
    assert seen["slug"].startswith("linux-aarch64-py3.11-pi5")


def _descendant_named(parent: psutil.Process, name: str, last_argument: str, timeout: float) -> psutil.Process:
    """The process running ``name`` itself (not the shells that pass its argv on), once it runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in parent.children(recursive=True):
            try:
                if child.name() == name and child.cmdline()[-1:] == [last_argument]:
                    return child
            except psutil.Error:
                continue
        time.sleep(0.2)
    raise AssertionError(f"no {name} {last_argument} under {parent.pid}")


def _processes_in_namespace(namespace: str) -> list[int]:
    """Every process on the machine in that mount namespace (other arm64 runs have their own)."""
    found = []
    for link in Path("/proc").glob("[0-9]*/ns/mnt"):
        try:
            if os.readlink(link) == namespace:
                found.append(int(link.parent.parent.name))
        except OSError:
            continue
    return found


def test_every_mount_goes_with_the_namespace_even_after_sigkill(arm64_root: Path) -> None:
    """Mounts live in a private namespace: the host never sees them, and SIGKILL to the tree leaves none."""
    merged = str(CACHE / ".mnt" / "merged")
    process = subprocess.Popen(["bash", str(ARM64), "exec", "sleep", "424242"], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        sleeper = _descendant_named(psutil.Process(process.pid), "sleep", "424242", timeout=120)
        namespace = os.readlink(f"/proc/{sleeper.pid}/ns/mnt")
        assert namespace != os.readlink("/proc/self/ns/mnt")
        # seen from inside the chroot: mount point -> file system type
        inside = {line.split()[4]: line.split(" - ")[1].split()[0]
                  for line in Path(f"/proc/{sleeper.pid}/mountinfo").read_text(encoding="utf-8").splitlines()}
        assert inside["/"] == "overlay" and inside["/proc"] == "proc" and inside["/dev"] == "tmpfs"
        assert inside["/tmp"] == "tmpfs" and inside["/sys"] == "sysfs" and "/src" in inside
        assert f" {merged}" not in Path("/proc/self/mountinfo").read_text(encoding="utf-8")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while _processes_in_namespace(namespace) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_in_namespace(namespace) == []  # the namespace, and every mount in it, is gone
    assert f" {merged}" not in Path("/proc/self/mountinfo").read_text(encoding="utf-8")


def test_a_command_writes_to_a_throwaway_layer_and_its_exit_code_comes_back(arm64_root: Path) -> None:
    marker = "opt/written-by-test-arm64"
    script = f"readlink /proc/self/ns/mnt && touch /{marker} && test -f /{marker} && exit 7"
    completed = arm64("exec", "sh", "-c", script, timeout=300)
    assert completed.returncode == 7, completed.stderr
    assert not (arm64_root / marker).exists()
    namespace = completed.stdout.strip().splitlines()[-1]
    assert namespace.startswith("mnt:[") and _processes_in_namespace(namespace) == []


def test_the_integration_files_ci_runs_on_arm64_exist() -> None:
    """arm64-integration runs a list of files (ARM64_INTEGRATION_FILES): a renamed file must not drop out unseen."""
    script = f'. "{ARM64}" --functions-only; printf "%s\\n" "${{ARM64_INTEGRATION_FILES[@]}}"'
    listed = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                            check=True).stdout.split()
    assert "tests/integration/test_runner_setup_arm64.py" in listed
    assert len(listed) >= 5
    missing = [name for name in listed if not (REPO / name).is_file()]
    assert not missing, f"scripts/arm64.sh lists integration files that do not exist: {missing}"
