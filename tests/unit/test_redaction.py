"""The redaction rule and its mechanics: which variables are secrets, every spelling and fragment
masked, streams cut anywhere, files rewritten atomically, the console and the result objects."""

from __future__ import annotations

import base64
import io
import os
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest

from doorbell_ci import redaction
from doorbell_ci.github import actions
from doorbell_ci.redaction import MASK, Redactor, is_secret_variable
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult

TOKEN = "ghp_Q2w3E4r5T6y7U8i9O0pAsDfGhJkLzXcVbNm1"


@pytest.mark.parametrize(("name", "value", "secret"), [
    ("GITHUB_TOKEN", TOKEN, True),
    ("DOORBELL_CI_GITHUB_TOKEN", TOKEN, True),
    ("ACTIONS_RUNTIME_TOKEN", "eyJ0eXAiOiJKV1Qi", True),
    ("github_token", TOKEN, True),  # Windows keeps the case it was given
    ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG", True),
    ("DATABASE_PASSWORD", "hunter2hunter2", True),
    ("MY_PAT", "abcdefgh12345", True),
    ("GITHUB_TOKEN", "short", False),  # under 8 characters: would mask ordinary words
    ("DOORBELL_CI_REPORT_KEY", "linux-py311", False),  # an identity, not a secret
    ("SORT_KEY", "12345678", False),
    ("USE_TOKEN", "true", False),
    ("CACHE_KEY", "/usr/bin/python3", False),  # a path that exists: names a key file, is not one
    ("HOME", TOKEN, False),  # the name says nothing about a secret
])
def test_the_rule_for_one_variable(name: str, value: str, secret: bool) -> None:
    if value.startswith("/") and not os.path.exists(value):
        pytest.skip(f"{value} does not exist here")
    assert is_secret_variable(name, value) is secret


def test_every_spelling_and_long_fragments_are_masked() -> None:
    redactor = Redactor({TOKEN})
    encoded = base64.b64encode(TOKEN.encode()).decode()
    assert redactor.redact(f"a {TOKEN} b {encoded} c") == f"a {MASK} b {MASK} c"
    # pytest's repr of a long string shows its two ends
    assert redactor.redact(f"assert '{TOKEN[:12]}...{TOKEN[-12:]}' == 'x'") == f"assert '{MASK}...{MASK}' == 'x'"
    assert redactor.redact(TOKEN[3:14]) == TOKEN[3:14]  # 11 characters: too short to be told from chance
    assert redactor.redact("ghp_ and Q2w3 appear in ordinary text") == "ghp_ and Q2w3 appear in ordinary text"


def test_fragments_only_of_token_like_values() -> None:
    """A passphrase or a path shares 12-character runs with ordinary text: only its whole is masked."""
    redactor = Redactor({"correct horse battery staple", "/home/runner/deploy-key-file"})
    text = "a correct horse battery in /home/runner/work"
    assert redactor.redact(text) == text
    assert redactor.redact("pw: correct horse battery staple") == f"pw: {MASK}"


def test_special_characters_are_masked_in_their_escaped_forms() -> None:
    password = 'p<a&s"s\\w0rd'
    redactor = Redactor({password})
    assert redactor.redact("xml: p&lt;a&amp;s&quot;s\\w0rd") == f"xml: {MASK}"
    assert redactor.redact('json: "p<a&s\\"s\\\\w0rd"') == f'json: "{MASK}"'


def test_a_value_with_undecodable_bytes_is_masked_as_its_real_bytes() -> None:
    raw = b"s3cr\xffet-value"
    redactor = Redactor({raw.decode("utf-8", "surrogateescape")})  # how os.environ holds it on POSIX
    assert redactor.redact_bytes(b"leak: " + raw) == b"leak: ***"


def test_a_multi_line_secret_is_masked_line_by_line() -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEF\n-----END KEY-----"
    redactor = Redactor({key})
    assert redactor.redact("line: MIIEvQIBADANBgkqhkiG9w0BAQEF") == f"line: {MASK}"


@pytest.mark.parametrize("piece", [1, 5, 11, 12, 39, 40, 41, 64, 4096])
def test_a_stream_cut_anywhere_is_masked_like_the_whole(piece: int) -> None:
    redactor = Redactor({TOKEN})
    data = (b"x" * 97 + TOKEN.encode() + b"\n" + TOKEN[:15].encode() + b"..." + TOKEN[-13:].encode()) * 20
    stream = redactor.stream()
    out = b"".join(stream.feed(data[i:i + piece]) for i in range(0, len(data), piece)) + stream.feed(b"", final=True)
    assert out == redactor.redact_bytes(data)
    assert out.count(MASK.encode()) == 60 and TOKEN[:12].encode() not in out


def test_redacted_pieces_reads_like_iter(tmp_path: Path) -> None:
    source = io.BytesIO(b"one\n" + b"A" * 100 + TOKEN.encode() + b"B" * 100 + b"\ntail " + TOKEN.encode())
    pieces = list(redaction.redacted_pieces(lambda: source.readline(64), Redactor({TOKEN})))
    joined = b"".join(pieces)
    assert joined == b"one\n" + b"A" * 100 + b"***" + b"B" * 100 + b"\ntail ***"
    plain = io.BytesIO(b"a\nb")
    assert list(redaction.redacted_pieces(lambda: plain.readline(64), Redactor())) == [b"a\n", b"b"]


def test_files_are_rewritten_atomically_and_binary_ones_keep_their_length(tmp_path: Path) -> None:
    redactor = Redactor({TOKEN})
    text = tmp_path / "junit.xml"
    text.write_text(f"<failure message='{TOKEN}'/>\n" * 50_000, encoding="utf-8")  # > one read chunk
    text.chmod(0o640)
    database = tmp_path / ".coverage"
    with closing(sqlite3.connect(database)) as db:
        db.execute("create table context (id integer primary key, context text unique)")
        db.execute("insert into context (context) values (?)", (f"test_id[{TOKEN}]",))
        db.commit()
    clean = tmp_path / "clean.txt"
    clean.write_text("nothing here\n", encoding="utf-8")
    before = clean.stat().st_mtime_ns
    changed = redaction.scrub_tree(tmp_path, redactor)
    assert sorted(changed) == sorted([text, database])
    assert text.read_text(encoding="utf-8") == "<failure message='***'/>\n" * 50_000
    assert text.stat().st_mode & 0o777 == 0o640
    with closing(sqlite3.connect(database)) as db:
        assert db.execute("pragma integrity_check").fetchall() == [("ok",)]
        assert db.execute("select context from context").fetchall() == [("test_id[" + "*" * len(TOKEN) + "]",)]
    assert clean.stat().st_mtime_ns == before  # untouched, not rewritten
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".redacting")]


def test_a_symlink_out_of_the_folder_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text(TOKEN, encoding="utf-8")
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "link.txt").symlink_to(outside)
    (folder / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    assert redaction.scrub_tree(folder, Redactor({TOKEN})) == []
    assert outside.read_text(encoding="utf-8") == TOKEN


def test_results_are_redacted_in_place() -> None:
    test = TestResult(suite="unit", name=f"test_x[{TOKEN}]", outcome=Outcome.FAILED, message=f"m {TOKEN}",
                      details=f"d {TOKEN}", stdout=f"o {TOKEN}", stderr=f"e {TOKEN}", line=3)
    run = RunResult(run_id="r", project="/p", started_at="", finished_at="", duration=1.0,
                    suites=[SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=[test], reason=f"r {TOKEN}",
                                        command=["pytest", f"--token={TOKEN}"], output_tail=TOKEN)],
                    environment={"kind": "local", TOKEN: [TOKEN]}, notices=[f"n {TOKEN}"], command=[TOKEN],
                    analysis={"groups": [{"message": TOKEN, "count": 2}]})
    assert Redactor({TOKEN}).redact_object(run) is run
    assert TOKEN not in repr(run)
    assert test.name == "test_x[***]" and test.message == "m ***" and test.line == 3
    assert test.outcome is Outcome.FAILED and run.environment == {"kind": "local", MASK: [MASK]}
    assert run.analysis == {"groups": [{"message": MASK, "count": 2}]}


def test_suites_do_not_inherit_the_github_token() -> None:
    environ = {"GITHUB_TOKEN": TOKEN, "gh_token": TOKEN, "ACTIONS_ID_TOKEN_REQUEST_URL": "https://x",
               "PATH": "/bin", "DATABASE_PASSWORD": "hunter2hunter2"}
    assert redaction.without_github_tokens(environ) == {"PATH": "/bin", "DATABASE_PASSWORD": "hunter2hunter2"}


def test_the_console_masks_everything_but_mask_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    with redaction.redacting_console(Redactor({TOKEN})):
        actions.add_mask(TOKEN)  # our own command, through the console's write_command
        print(f"a line with {TOKEN}")
        print(f"::add-mask::{TOKEN}")  # printed, not ours: masked and inert
        print(f"::add-mask::{TOKEN} and more")
        print("a partial line", end="")
        actions.command("error", f"ours, quoting {TOKEN}")  # starts a line of its own
        print(f"error: {TOKEN}", file=sys.stderr)
    assert sys.stdout is out and sys.stderr is err  # restored
    assert out.getvalue() == (f"::add-mask::{TOKEN}\na line with ***\n:\uff1aadd-mask::***\n"
                              ":\uff1aadd-mask::*** and more\na partial line\n::error::ours, quoting ***\n")
    assert err.getvalue() == "error: ***\n"


def test_mask_commands_only_in_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    assert redaction.mask_in_actions(Redactor({TOKEN}), stream) == 0
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    # the token and its base64 at each of the three alignments, padded or not
    assert redaction.mask_in_actions(Redactor({TOKEN}), stream) == len(Redactor({TOKEN}).spellings) == 6
    assert f"::add-mask::{TOKEN}" in stream.getvalue().splitlines()


def test_current_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    assert TOKEN in redaction.current().values
    monkeypatch.delenv("GITHUB_TOKEN")
    assert TOKEN not in redaction.current().values
