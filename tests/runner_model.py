"""A model of how the GitHub Actions runner finds workflow commands in a step's output.

Taken from actions/runner (commit 258d6c8, August 2026):

* src/Runner.Sdk/ProcessInvoker.cs reads stdout and stderr with ``StreamReader.ReadLine``, which
  ends a line at ``\\n``, ``\\r`` or ``\\r\\n``;
* src/Runner.Worker/ActionCommandManager.cs ``TryProcessCommand`` tries, for every line,
  ``ActionCommand.TryParseV2`` then ``ActionCommand.TryParse`` (src/Runner.Common/ActionCommand.cs):

  - V2: ``message.TrimStart()`` (every ``char.IsWhiteSpace``), then ``StartsWith("::")``, then the
    next ``"::"`` after it ends the command name (and properties);
  - legacy: ``IndexOf("##[")`` anywhere, then the next ``']'`` ends the command name.

* both ``StartsWith`` and ``IndexOf(string)`` are culture-sensitive; on Linux .NET uses ICU,
  whose comparison ignores "completely ignorable" characters (format characters such as U+200B,
  U+00AD, U+FEFF, most control characters, variation selectors). The ``culture`` model removes
  those before matching, so a defence that relies on an invisible character is caught.
* a command name is looked up case-insensitively among the registered ones, and
  ``stop-commands`` registers an arbitrary word: the model counts any name as a command.

The model is deliberately more eager than the runner (a command whose name the runner would
misread still counts): a neutraliser that passes it passes the runner.
"""

from __future__ import annotations

import re
import unicodedata

_DOTNET_WHITESPACE = {chr(c) for c in (*range(0x09, 0x0E), 0x20, 0x85, 0xA0)} | {
    chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) in ("Zs", "Zl", "Zp")}
_IGNORABLE_RANGES = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF), (0x180B, 0x180F))


def _ignorable(char: str) -> bool:
    """ICU's completely ignorable characters, approximately (format and control characters, selectors)."""
    if char in _DOTNET_WHITESPACE:
        return False
    code = ord(char)
    return unicodedata.category(char) in ("Cf", "Cc") or code == 0x034F or any(
        low <= code <= high for low, high in _IGNORABLE_RANGES)


def runner_lines(output: str) -> list[str]:
    """``StreamReader.ReadLine`` over the whole output."""
    return re.split(r"\r\n|\r|\n", output)


def commands_in_line(line: str, culture: bool = True) -> list[str]:
    """The names of the commands the runner (model) would find in one line: [], or one name."""
    text = "".join(char for char in line if not _ignorable(char)) if culture else line
    trimmed = text.lstrip("".join(_DOTNET_WHITESPACE))
    if trimmed.startswith("::"):
        end = trimmed.find("::", 2)
        if end >= 0:
            return [trimmed[2:end].split(" ", 1)[0]]
    start = text.find("##[")
    if start >= 0:
        end = text.find("]", start)
        if end >= 0:
            return [text[start + 3:end].split(" ", 1)[0]]
    return []


def commands(output: str) -> list[tuple[str, str]]:
    """``(name, line)`` for every command line in ``output``, with and without the culture model."""
    found = []
    for line in runner_lines(output):
        names = commands_in_line(line, culture=True) or commands_in_line(line, culture=False)
        found += [(name, line) for name in names]
    return found
