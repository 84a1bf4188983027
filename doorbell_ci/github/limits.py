"""GitHub's size limits, and fitting text under them without breaking it.

GitHub rejects (422) a comment body over 65,536 characters and a check-run summary or text
over 65,535 *bytes* (the API error says "bytesize"), and drops a whole job summary over
1 MiB per step. Everything we send is cut here, with a pointer to the full HTML report.
"""

from __future__ import annotations

COMMENT_BODY_CHARS = 65_536
CHECK_OUTPUT_BYTES = 65_535
STEP_SUMMARY_BYTES = 1024 * 1024
ANNOTATIONS_PER_REQUEST = 50  # the checks API takes at most 50 annotations per create/update call
ANNOTATION_TITLE_CHARS = 255
ANNOTATION_MESSAGE_BYTES = 64_000  # GitHub's limit is 64 KB; keep a margin like the anchors do
MAX_CHECK_ANNOTATIONS = 500  # our own total cap: 10 requests; the rest are in the HTML report
MAX_WORKFLOW_ERRORS = 10  # GitHub shows at most 10 ::error annotations per step


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def cut_bytes(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding fits in ``limit`` bytes."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def truncation_note(report_pointer: str | None) -> str:
    where = report_pointer or "the run's artifacts"
    return f"\n\n… (cut to fit GitHub's size limit; the full report is report.html in {where})\n"


def fit(text: str, limit_bytes: int, report_pointer: str | None = None, limit_chars: int | None = None) -> str:
    """``text`` if it fits both limits, else its prefix plus a note saying where the rest is."""
    fits_chars = limit_chars is None or len(text) <= limit_chars
    if fits_chars and utf8_size(text) <= limit_bytes:
        return text
    note = truncation_note(report_pointer)
    room = limit_bytes - utf8_size(note)
    head = cut_bytes(text, room)
    if limit_chars is not None:
        head = head[: limit_chars - len(note)]
    # never leave an unclosed code fence: it would swallow the note
    if head.count("```") % 2:
        head = head[: head.rfind("```")]
    return head + note


def escape_astral(text: str) -> str:
    """Characters above U+FFFF are rejected or garbled in check-run payloads; spell them as code points."""
    return "".join(ch if ord(ch) <= 0xFFFF else f"U+{ord(ch):X}" for ch in text)
