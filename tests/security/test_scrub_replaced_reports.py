"""The output folder's scrub leaves the reports that this run replaces unread, and nothing else.

At 50,000 tests the previous run's report.json, ctrf.json, junit.xml and report.html are about
70 MB, which the scrub read (1.2-1.6 s of CPU) just before ``reports.write_all`` replaced them with
files made from the redacted run. They are left unread now (``scrub_output(leave=...)``); a left
file that is not replaced after all (``--no-reports``, a report that failed to be written) is
scanned afterwards (``scrub_left``), so a secret a test wrote into it is never published.
"""

from __future__ import annotations

import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

from doorbell_ci import atomic
from doorbell_ci.redaction import Redactor, scrub_left, scrub_output


def fake_token() -> str:
    return "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))


def holding(folder: Path, token: str) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*")
                  if path.is_file() and not path.is_symlink() and token.encode() in path.read_bytes())


def test_a_left_file_is_not_read_and_once_replaced_not_scanned(tmp_path: Path) -> None:
    token = fake_token()
    for name in ("report.json", "report.html", "other.txt"):
        (tmp_path / name).write_text(f"earlier {token}\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "report.json").write_text(f"deeper {token}\n", encoding="utf-8")  # only the top is left
    (tmp_path / "summary.md").symlink_to(tmp_path / "other.txt")  # a link is removed, left or not
    redactor = Redactor({token})
    done = scrub_output(tmp_path, redactor, leave={"report.json", "report.html", "summary.md"})
    assert holding(tmp_path, token) == ["report.html", "report.json"]  # left unread
    assert sorted(done.left) == ["report.html", "report.json"]
    assert not (tmp_path / "summary.md").is_symlink() and not (tmp_path / "summary.md").exists()
    assert sorted(path.name for path in done.changed) == ["other.txt", "report.json"]  # sub/report.json
    atomic.write_text(tmp_path / "report.json", "this run's report\n")  # replaced as write_all does
    atomic.write_text(tmp_path / "report.html", "this run's page\n")
    after = scrub_left(tmp_path, done, redactor)
    assert after.changed == [] and after.removed == []
    assert holding(tmp_path, token) == []


def test_a_left_file_that_was_not_replaced_is_scanned_afterwards(tmp_path: Path) -> None:
    token = fake_token()
    (tmp_path / "report.json").write_text(f"earlier {token}\n", encoding="utf-8")
    (tmp_path / "report.html").write_text(f"<p>{token}</p>\n", encoding="utf-8")
    (tmp_path / "junit.xml").write_text(f"<x>{token}</x>\n", encoding="utf-8")
    redactor = Redactor({token})
    done = scrub_output(tmp_path, redactor, leave={"report.json", "report.html", "junit.xml"})
    atomic.write_text(tmp_path / "report.json", "this run's report\n")  # report.html failed to be written
    os.unlink(tmp_path / "junit.xml")
    (tmp_path / "junit.xml").symlink_to(tmp_path / "report.json")  # and junit.xml became a link meanwhile
    after = scrub_left(tmp_path, done, redactor)
    assert [path.name for path in after.changed] == ["report.html"]
    assert [path.name for path, _ in after.removed] == ["junit.xml"]
    assert holding(tmp_path, token) == []
    assert (tmp_path / "report.json").read_text(encoding="utf-8") == "this run's report\n"


PLANTING_TEST = '''
import os
from pathlib import Path

TOKEN = "{token}"


def test_plants_the_token_in_the_previous_reports():
    top = Path(os.environ["DOORBELL_CI_PERF_OUTPUT"]).parent.parent
    for name in ("report.json", "report.html", "summary.md", "junit.xml", "ctrf.json", "dashboard.html"):
        (top / name).write_text("planted " + TOKEN + "\\n")
'''


def test_reports_a_test_wrote_into_are_replaced_or_scrubbed_in_a_real_run(tmp_path: Path) -> None:
    """Two real runs under a GITHUB_TOKEN: with every report (each is replaced) and with --no-reports
    (only report.json is replaced; the test's report.html and the others are scanned and masked)."""
    token = fake_token()
    project = tmp_path / "project"
    (project / "tests" / "unit").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\n', encoding="utf-8")
    (project / "tests" / "unit" / "test_plant.py").write_text(PLANTING_TEST.format(token=token), encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DOORBELL_", "GITHUB_"))}
    env["GITHUB_TOKEN"] = token
    output = tmp_path / "results"
    for extra in ((), ("--no-reports",)):
        completed = subprocess.run(  # noqa: S603 - our own CLI on a project the test made
            [sys.executable, "-m", "doorbell_ci", "run", "--project", str(project), "--suites", "unit",
             "--no-coverage", "--quiet", "--output-dir", str(output), *extra],
            cwd=project, env=env, capture_output=True, timeout=300, check=False)
        assert completed.returncode == 0, completed.stdout.decode() + completed.stderr.decode()
        assert holding(output, token) == [], extra
        assert (output / "report.html").is_file() and (output / "report.json").is_file()
    assert "planted" in (output / "report.html").read_text(encoding="utf-8")  # --no-reports: the test's, masked


AS_NONROOT = '''
import os, sys
from pathlib import Path
from doorbell_ci import atomic
from doorbell_ci.redaction import Redactor, scrub_left, scrub_output
folder, token = Path(sys.argv[1]), sys.argv[2]
for name in ("report.json", "report.html"):
    (folder / name).write_text("earlier " + token + "\\n")
os.chmod(folder / "report.html", 0)  # a test's chmod 000 on a report that then fails to be written
redactor = Redactor({token})
done = scrub_output(folder, redactor, leave={"report.json", "report.html"})
atomic.write_text(folder / "report.json", "this run's report\\n")
after = scrub_left(folder, done, redactor)
print("CHANGED", sorted(path.name for path in after.changed), "REMOVED", sorted(p.name for p, _ in after.removed))
'''


def test_as_non_root_a_left_report_made_unreadable_is_still_scanned(tmp_path: Path) -> None:
    """As uid 65534 a chmod 000 really stops a read: the scan of a left report that was not replaced
    makes it readable again (the folder is the run's own) and masks it, as the full scrub does."""
    from tests.nonroot import give_to_nonroot, nonroot_python, run_as_nonroot

    token = fake_token()
    folder = tmp_path / "results"
    folder.mkdir()
    give_to_nonroot(tmp_path)
    completed = run_as_nonroot([nonroot_python(), "-c", AS_NONROOT, str(folder), token], timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "CHANGED ['report.html'] REMOVED []" in completed.stdout, completed.stdout
    assert holding(folder, token) == []
