"""No link is followed out of a tree doorbell-ci owns (issue 12 item 15).

The attacker is a test running as uid 65534 that owns the output folder (or the temp tree) and
plants links, hard links, set-uid files and FIFOs in it, or swaps a folder for a link while
doorbell-ci walks it. The victims are files outside the tree: nothing about them (content,
mode) may change, and nothing of them may be published.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from doorbell_ci import redaction
from doorbell_ci.redaction import Redactor
from tests.nonroot import give_to_nonroot, nonroot_env, nonroot_python, run_as_nonroot

TOKEN = "ghp_" + "Q2w3E4r5T6y7U8i9O0pAsDfGhJkLzXcVbNm1"
FILES = 200  # in the swapped folder and in the victim's: the longer the walk of one folder, the wider the race


def fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    """Content hash and mode of every file under ``folder`` (the victims)."""
    return {str(path): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode)
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture
def victims(tmp_path: Path) -> Path:
    """Root's files outside the output folder: a secret file, a folder of them, a file anyone may write."""
    folder = tmp_path / "victims"
    (folder / "dir").mkdir(parents=True)
    (folder / "secret.txt").write_text(f"root's {TOKEN}\n", encoding="utf-8")
    (folder / "secret.txt").chmod(0o600)
    for number in range(FILES):
        (folder / "dir" / f"x{number}.txt").write_text(f"root's folder {TOKEN}\n", encoding="utf-8")
    (folder / "shared.txt").write_text(f"shared {TOKEN}\n", encoding="utf-8")
    (folder / "shared.txt").chmod(0o666)  # a hard link to it is allowed to anyone (protected_hardlinks)
    folder.chmod(0o755)
    return folder


def plant(output: Path, victims: Path, script: str) -> None:
    give_to_nonroot(output)
    completed = run_as_nonroot([nonroot_python(), "-c", textwrap.dedent(script), str(output), str(victims)])
    assert completed.returncode == 0, completed.stderr


def test_links_hard_links_set_uid_files_and_fifos_planted_by_another_user(tmp_path: Path, victims: Path) -> None:
    output = tmp_path / "results"
    (output / "junit").mkdir(parents=True)
    plant(output, victims, """
        import os, sys
        out, victims = sys.argv[1], sys.argv[2]
        os.symlink(f"{victims}/secret.txt", f"{out}/link.txt")
        os.symlink(f"{victims}/dir", f"{out}/linkdir")
        os.symlink(f"{victims}/dir", f"{out}/junit/.hidden-linkdir")
        os.link(f"{victims}/shared.txt", f"{out}/hardlink.txt")
        with open(f"{out}/suid.sh", "w") as handle:
            handle.write("#!/bin/sh\\necho TOKEN\\n".replace("TOKEN", open(f"{victims}/shared.txt").read()))
        os.chmod(f"{out}/suid.sh", 0o4755)
        os.mkfifo(f"{out}/junit/unit.xml")
    """)
    before = fingerprint(victims)
    scrubbed = redaction.scrub_output(output, Redactor({TOKEN}))
    assert fingerprint(victims) == before  # nothing outside read through a link, rewritten or chmodded
    removed = {path.name: why for path, why in scrubbed.removed}
    assert set(removed) == {"link.txt", "linkdir", ".hidden-linkdir", "unit.xml"}
    assert "symbolic link" in removed["link.txt"] and "FIFO" in removed["unit.xml"]
    assert not any(os.path.lexists(output / name) for name in ("link.txt", "linkdir", "junit/unit.xml"))
    # the hard link was replaced by a new, scrubbed file; the outside file kept its content
    assert (output / "hardlink.txt").read_text(encoding="utf-8") == "shared ***\n"
    assert (victims / "shared.txt").read_text(encoding="utf-8") == f"shared {TOKEN}\n"
    # root rewrote the test's set-uid file: the copy must not be a root-owned set-uid program
    mode = (output / "suid.sh").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID) and stat.S_IMODE(mode) == 0o755
    assert sorted(Path(notice.split(": ")[0]).name for notice in scrubbed.notices(output)) == sorted(removed)


def test_a_folder_swapped_for_a_link_during_the_walk_is_never_followed(tmp_path: Path, victims: Path) -> None:
    """The race: between the check of ``out/d`` and the open of ``out/d/x.txt``, ``d`` becomes a link."""
    output = tmp_path / "results"
    (output / "d").mkdir(parents=True)
    for number in range(FILES):
        (output / "d" / f"x{number}.txt").write_text(f"test's {TOKEN}\n", encoding="utf-8")
    give_to_nonroot(output)
    swapper = textwrap.dedent("""
        import os, sys, time
        out, victims, TOKEN, FILES = sys.argv[1], sys.argv[2], sys.argv[4], int(sys.argv[5])
        end = time.monotonic() + float(sys.argv[3])
        def attempt(step, *args):
            try:
                step(*args)
            except OSError:
                pass
        while time.monotonic() < end:
            attempt(os.rename, f"{out}/d", f"{out}/d-real")
            for number in range(0, FILES, 10):  # something to scrub in every round
                attempt(lambda n: open(f"{out}/d-real/new", "w").write(f"test's {TOKEN}\\n"), number)
                attempt(os.replace, f"{out}/d-real/new", f"{out}/d-real/x{number}.txt")
            attempt(os.symlink, f"{victims}/dir", f"{out}/d")
            time.sleep(0.002)
            attempt(os.unlink, f"{out}/d")
            attempt(os.rename, f"{out}/d-real", f"{out}/d")
            time.sleep(0.002)
    """)
    before = fingerprint(victims)
    attacker = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", nonroot_python(),
                                 "-c", swapper, str(output), str(victims), "6", TOKEN, str(FILES)],
                                env=nonroot_env())
    try:
        redactor = Redactor({TOKEN})
        deadline = time.monotonic() + 5
        rounds = 0
        while time.monotonic() < deadline:
            redaction.scrub_output(output, redactor)
            rounds += 1
    finally:
        attacker.kill()
        attacker.wait()
    assert rounds > 5
    assert fingerprint(victims) == before


def test_remove_tree_never_changes_a_links_target(tmp_path: Path) -> None:
    """doorbell-ci as uid 65534 removing a temp tree in which a test left a read-only folder holding a
    link to the user's own read-only file: the old error handler chmodded the link's target to 0700."""
    home = tmp_path / "home"
    (home / "tree" / "ro" / "deeper").mkdir(parents=True)
    (home / "keep.txt").write_text("the user's read-only file\n", encoding="utf-8")
    (home / "tree" / "ro" / "link").symlink_to(home / "keep.txt")
    (home / "tree" / "locked").mkdir()
    (home / "tree" / "locked" / "file").write_text("x", encoding="utf-8")
    give_to_nonroot(home)
    (home / "keep.txt").chmod(0o444)
    (home / "tree" / "ro" / "deeper").chmod(0o500)
    (home / "tree" / "ro").chmod(0o500)
    (home / "tree" / "locked").chmod(0o000)
    script = "import sys; from pathlib import Path; from doorbell_ci.environments.tree import remove_tree; " \
             "remove_tree(Path(sys.argv[1]))"
    completed = run_as_nonroot([nonroot_python(), "-c", script, str(home / "tree")])
    assert completed.returncode == 0, completed.stderr
    assert not (home / "tree").exists()  # read-only and unreadable folders removed all the same
    assert stat.S_IMODE((home / "keep.txt").stat().st_mode) == 0o444
    assert (home / "keep.txt").read_text(encoding="utf-8") == "the user's read-only file\n"


def test_files_and_folders_a_test_made_unreadable_are_still_scanned(tmp_path: Path) -> None:
    """doorbell-ci as uid 65534 (the same user as its tests): ``chmod 000`` must not hide a secret."""
    output = tmp_path / "results"
    (output / "locked" / "deeper").mkdir(parents=True)
    (output / "locked" / "deeper" / "leak.txt").write_text(f"hidden {TOKEN}\n", encoding="utf-8")
    (output / "unreadable.txt").write_text(f"unreadable {TOKEN}\n", encoding="utf-8")
    give_to_nonroot(output)
    (output / "unreadable.txt").chmod(0)
    (output / "locked" / "deeper").chmod(0)
    (output / "locked").chmod(0)
    script = ("import sys, json; from pathlib import Path; from doorbell_ci import redaction; "
              "done = redaction.scrub_output(Path(sys.argv[1]), redaction.Redactor({sys.argv[2]})); "
              "print(json.dumps([len(done.changed), done.notices(Path(sys.argv[1]))]))")
    completed = run_as_nonroot([nonroot_python(), "-c", script, str(output), TOKEN])
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[2, []]"
    assert (output / "unreadable.txt").read_text(encoding="utf-8") == "unreadable ***\n"
    assert (output / "locked" / "deeper" / "leak.txt").read_text(encoding="utf-8") == "hidden ***\n"


def test_docker_collect_never_copies_through_a_link_a_container_made(tmp_path: Path, victims: Path) -> None:
    """The staging folder is shared with every container of the run, some still running while another
    suite's files are collected. A container (here a process of uid 65534, which is what a container
    user is to the host) plants links and FIFOs and swaps a folder for a link to root's files."""
    import types

    from doorbell_ci.config import load_config
    from doorbell_ci.environments.docker import DockerEnvironment
    from doorbell_ci.environments.tree import EnvironmentTree

    project = tmp_path / "project"
    project.mkdir()
    staging = tmp_path / "tree" / "output"
    (staging / "d").mkdir(parents=True)
    for number in range(FILES):
        (staging / "d" / f"x{number}.txt").write_text(f"test's {number}\n", encoding="utf-8")
    give_to_nonroot(tmp_path / "tree")
    plant(staging, victims, """
        import os, sys
        out, victims = sys.argv[1], sys.argv[2]
        os.symlink(f"{victims}/secret.txt", f"{out}/link.txt")
        os.symlink(f"{victims}/dir", f"{out}/linkdir")
        os.mkfifo(f"{out}/fifo")
    """)
    swapper = textwrap.dedent("""
        import os, sys, time
        out, victims = sys.argv[1], sys.argv[2]
        end = time.monotonic() + float(sys.argv[3])
        def attempt(step, *args):
            try:
                step(*args)
            except OSError:
                pass
        while time.monotonic() < end:
            attempt(os.rename, f"{out}/d", f"{out}/d-real")
            attempt(os.symlink, f"{victims}/dir", f"{out}/d")
            time.sleep(0.002)
            attempt(os.unlink, f"{out}/d")
            attempt(os.rename, f"{out}/d-real", f"{out}/d")
            time.sleep(0.002)
    """)
    environment = DockerEnvironment(load_config(project, {}))
    environment.tree = EnvironmentTree(root=tmp_path / "tree", config_path=tmp_path / "tree" / "c", variables={})
    output = tmp_path / "results"
    environment._plan = types.SimpleNamespace(output_dir=output)  # type: ignore[assignment]
    attacker = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", nonroot_python(),
                                 "-c", swapper, str(staging), str(victims), "5"], env=nonroot_env())
    try:
        deadline = time.monotonic() + 4
        rounds = 0
        while time.monotonic() < deadline:
            environment.collect(types.SimpleNamespace(name="unit"))  # type: ignore[arg-type]
            rounds += 1
    finally:
        attacker.kill()
        attacker.wait()
    assert rounds > 3
    copied = [path for path in output.rglob("*") if path.is_symlink() or not path.is_dir()]
    assert copied, "the collect copied nothing: the test proves nothing"
    assert all(path.is_file() and not path.is_symlink() for path in copied), copied
    leaked = [path for path in copied if TOKEN in path.read_text(encoding="utf-8", errors="replace")]
    assert leaked == []  # every copied file is a test's own, none is root's
