"""The redaction rule and its mechanics: which variables are secrets, every spelling and fragment
masked, streams cut anywhere, files rewritten atomically, the console and the result objects."""

from __future__ import annotations

import base64
import io
import os
import re
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _refs(text: str, spell) -> str:  # noqa: ANN001 - a function of one character
    return "".join(spell(index, char) for index, char in enumerate(text))


ENCODED = {
    "decimal references": _refs(TOKEN, lambda i, c: f"&#{ord(c)};"),
    "hex references with leading zeros": _refs(TOKEN, lambda i, c: f"&#x000{ord(c):x};"),
    "decimal with zeros, no semicolon": _refs(TOKEN, lambda i, c: f"&#000{ord(c)}" + ("" if i % 2 else ";")),
    "mixed references and plain": _refs(TOKEN, lambda i, c: (f"&#{ord(c)};", f"&#X{ord(c):X};", c)[i % 3]),
    "named entities": TOKEN.replace("_", "&lowbar;").replace("Q", "&#81;"),
    "escaped twice": _refs(TOKEN, lambda i, c: f"&amp;#{ord(c)};"),
    "JSON \\u escapes": _refs(TOKEN, lambda i, c: f"\\u{ord(c):04x}" if i % 2 else c),
    "percent-encoding": _refs(TOKEN, lambda i, c: f"%{ord(c):02X}"),
    "Python \\x escapes": _refs(TOKEN, lambda i, c: f"\\x{ord(c):02x}"),
    "octal escapes": _refs(TOKEN, lambda i, c: f"\\{ord(c):03o}"),
    "a 20-character fragment as references": _refs(TOKEN[8:28], lambda i, c: f"&#{ord(c)};"),
    "base64 after one byte": base64.b64encode(b"x" + TOKEN.encode()).decode(),
    "base64 after two bytes, URL-safe": base64.urlsafe_b64encode(b"xy" + TOKEN.encode() + b"z").decode(),
}


@pytest.mark.parametrize("name", sorted(ENCODED))
def test_a_secret_in_any_escape_a_reader_decodes_is_masked_and_the_file_stays_valid(tmp_path: Path, name: str) -> None:
    import json

    from defusedxml import ElementTree

    encoded = ENCODED[name]
    junit = tmp_path / "unit.xml"
    junit.write_text(f'<testsuite><testcase name="t"><failure message="before {encoded} after">{encoded}'
                     f'</failure></testcase></testsuite>\n', encoding="utf-8")
    document = tmp_path / "data.json"
    document.write_text(json.dumps({"value": "x"}).replace('"x"', f'"before {encoded} after"') + "\n",
                        encoding="utf-8")
    assert sorted(redaction.scrub_tree(tmp_path, Redactor({TOKEN}))) == [document, junit]
    failure = ElementTree.parse(junit).getroot().find("testcase/failure")
    value = json.loads(document.read_text(encoding="utf-8"))["value"]
    assert failure is not None
    if name.startswith("base64"):  # the characters that also encode the neighbouring bytes stay
        for text in (failure.get("message"), value):
            assert re.fullmatch(r"before [\w+/=-]{0,4}\*\*\*[\w+/=-]{0,4} after", text or ""), text
    else:
        assert failure.get("message") == "before *** after" and failure.text == "***"
        assert value == "before *** after"


def test_escapes_in_a_binary_file_are_masked_byte_for_byte(tmp_path: Path) -> None:
    encoded = _refs(TOKEN, lambda i, c: f"&#{ord(c)};").encode()
    binary = tmp_path / "data.bin"
    binary.write_bytes(b"\0head\0" + encoded + b"\0tail")
    assert redaction.scrub_tree(tmp_path, Redactor({TOKEN})) == [binary]
    assert binary.read_bytes() == b"\0head\0" + b"*" * len(encoded) + b"\0tail"


def test_an_encoded_secret_across_a_cut_in_a_very_long_line_is_found(tmp_path: Path) -> None:
    encoded = _refs(TOKEN, lambda i, c: f"&#{ord(c)};")
    path = tmp_path / "long.xml"
    path.write_text("A" * (redaction._CHUNK - 100) + encoded + "B" * 3 * redaction._CHUNK + "\n", encoding="utf-8")
    assert redaction.scrub_tree(tmp_path, Redactor({TOKEN})) == [path]
    expected = "A" * (redaction._CHUNK - 100) + "***" + "B" * 3 * redaction._CHUNK + "\n"
    assert path.read_text(encoding="utf-8") == expected


def _zip(members: dict[str, bytes]) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_archives_are_scanned_inside_and_withheld_when_they_hold_a_secret_or_cannot_be_read(tmp_path: Path) -> None:
    import bz2
    import gzip
    import lzma

    secret = f"inside {TOKEN}\n".encode()
    files = {
        "secret.gz": gzip.compress(secret), "secret.bz2": bz2.compress(secret), "secret.xz": lzma.compress(secret),
        "secret.zip": _zip({"a.txt": b"clean", "b/c.txt": secret}),
        "escaped.zip": _zip({"a.xml": _refs(TOKEN, lambda i, c: f"&#{ord(c)};").encode()}),
        "nested.zip": _zip({"inner.gz": gzip.compress(b"clean")}),
        "broken.gz": gzip.compress(secret)[:12], "data.zst": b"\x28\xb5\x2f\xfd" + b"\0" * 20,
        "clean.gz": gzip.compress(b"nothing secret\n"), "clean.zip": _zip({"a.txt": b"nothing secret"}),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    scrubbed = redaction.scrub_output(tmp_path, Redactor({TOKEN}))
    removed = {path.name: why for path, why in scrubbed.removed}
    assert set(removed) == set(files) - {"clean.gz", "clean.zip"}
    assert "holds a secret" in removed["secret.gz"] and "'b/c.txt'" in removed["secret.zip"]
    assert "another compressed archive" in removed["nested.zip"]
    assert "cannot be scanned" in removed["broken.gz"] and "zstd" in removed["data.zst"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["clean.gz", "clean.zip"]
    assert (tmp_path / "clean.gz").read_bytes() == files["clean.gz"]  # untouched
    assert len(scrubbed.notices(tmp_path)) == len(removed)


SPELLINGS = (lambda c: c, lambda c: f"&#{ord(c)};", lambda c: f"&#x{ord(c):x};", lambda c: f"&#0{ord(c)};",
             lambda c: f"\\u{ord(c):04x}", lambda c: f"%{ord(c):02x}", lambda c: f"\\x{ord(c):02x}",
             lambda c: f"&amp;#{ord(c)};")


def _reference_decode(text: str) -> str:
    """Decode every escape family the test uses, independently of redaction.py (html, urllib, int)."""
    import html
    import urllib.parse

    for _ in range(3):
        text = re.sub(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})",
                      lambda m: chr(int(m.group(1) or m.group(2), 16)), text)
        text = urllib.parse.unquote(html.unescape(text))
    return text


@settings(max_examples=200, deadline=None)
@given(choices=st.lists(st.integers(0, len(SPELLINGS) - 1), min_size=len(TOKEN), max_size=len(TOKEN)),
       before=st.text("ab &;#%\\x0u<>\"'\n", max_size=20), after=st.text("ab &;#%\\x0u<>\"'\n", max_size=20))
def test_a_secret_spelled_in_any_mix_of_escapes_is_gone_from_every_decoded_view(choices, before, after) -> None:
    encoded = "".join(SPELLINGS[choice](char) for choice, char in zip(choices, TOKEN, strict=True))
    data = f"{before}{encoded}{after}".encode()
    out = b"".join(piece for piece, _ in redaction._redacted_pieces(io.BytesIO(data).read, Redactor({TOKEN}), False))
    assert b"***" in out
    decoded = _reference_decode(out.decode())
    assert not any(TOKEN[start:start + 12] in decoded for start in range(len(TOKEN) - 11))


def test_an_output_folder_replaced_by_a_link_is_not_followed_and_said(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "file.txt").write_text(f"not ours {TOKEN}\n", encoding="utf-8")
    (tmp_path / "results").symlink_to(elsewhere, target_is_directory=True)
    scrubbed = redaction.scrub_output(tmp_path / "results", Redactor({TOKEN}))
    assert (elsewhere / "file.txt").read_text(encoding="utf-8") == f"not ours {TOKEN}\n"
    (notice,) = scrubbed.notices(tmp_path / "results")
    assert "replaced by a symbolic link" in notice and "do not publish it" in notice


def test_long_unicode_names_and_hidden_files_are_rewritten_in_place(tmp_path: Path) -> None:
    name = "\U0001F600" * 60 + ".txt"  # 244 bytes: the temporary name must still fit in 255
    (tmp_path / name).write_text(f"{TOKEN}\n", encoding="utf-8")
    (tmp_path / ".hidden").write_text(f"{TOKEN}\n", encoding="utf-8")
    assert sorted(redaction.scrub_tree(tmp_path, Redactor({TOKEN}))) == sorted([tmp_path / name, tmp_path / ".hidden"])
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([name, ".hidden"])  # no temporary left
