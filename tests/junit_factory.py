"""Big, realistic JUnit XML files for the reader's memory and size-limit tests and its benchmark.

Why a generator rather than a fixture file: the files that matter here are 50 MB to 500 MB,
far too big to keep in the repository. The output looks like pytest's xunit1 (``<testsuites>``
around one ``<testsuite name="pytest">``): long parametrised names, ``file``/``line``
attributes, ~1 % failures with a traceback, ~0.2 % setup errors, ~3 % skips. Two profiles:

- ``chatty``: every test carries captured output (``junit_logging = all``), 1-7 KB of log lines,
  so most of the bytes are text nodes (~4 KB per test);
- ``terse``: no captured output on passing tests (~300 bytes per test), so the same size
  holds many more testcases.

Writing is streamed in blocks, so generating 500 MB needs no more memory than 50 KB does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

TRACEBACK = """\
self = <tests.unit.test_events_{module}.TestEventPipeline object at 0x7f3a2c1d{n:04x}>
camera = <doorbell.camera.FakeCamera object at 0x7f3a2c1e0040>

    def test_motion_event_reaches_storage(self, camera):
        frames = camera.capture(count=30)
        events = detect_motion(frames, threshold=0.{n})
>       assert len(events) == expected_events[{n}]
E       AssertionError: assert {n} == {m}

tests/unit/test_events_{module}.py:{line}: AssertionError
"""

LOG_LINE = "2026-11-25 10:{minute:02d}:{second:02d} INFO doorbell.camera frame {frame} ok <motion & noise={noise}>\n"


@dataclass
class Written:
    """What the generator wrote, to compare with what a reader reads back."""

    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    size: int = 0


def _captured(rng: random.Random, n: int) -> str:
    lines = rng.randint(12, 80)
    text = "".join(LOG_LINE.format(minute=(n + i) % 60, second=i % 60, frame=i, noise=rng.random())
                   for i in range(lines))
    return f"<system-out>{xml_escape(text)}</system-out>"


def _testcase(rng: random.Random, n: int, chatty: bool, written: Written) -> str:
    module = n // 500
    name = (f"test_motion_event_reaches_storage_with_a_rather_long_descriptive_name"
            f"[camera-{n % 7}-threshold-0.{n % 97:02d}-night_mode-{bool(n % 2)}-case-{n}]")
    attrs = (f'classname="tests.unit.test_events_{module}.TestEventPipeline" '
             f'file="tests/unit/test_events_{module}.py" line="{40 + n % 300}" '
             f'name={quoteattr(name)} time="{rng.random() * 0.05:.4f}"')
    output = _captured(rng, n) if chatty else ""
    roll = rng.random()
    written.tests += 1
    if roll < 0.01:
        written.failures += 1
        trace = TRACEBACK.format(module=module, n=n, m=n + 1, line=40 + n % 300)
        return (f"<testcase {attrs}><failure message={quoteattr(f'AssertionError: assert {n} == {n + 1}')}>"
                f"{xml_escape(trace)}</failure>{output or _captured(rng, n)}</testcase>\n")
    if roll < 0.012:
        written.errors += 1
        return (f'<testcase {attrs}><error message="failed on setup with &quot;OSError&quot;">'
                f"OSError: [Errno 98] Address already in use</error>{output}</testcase>\n")
    if roll < 0.042:
        written.skipped += 1
        return (f'<testcase {attrs}><skipped type="pytest.skip" message="needs a real camera">'
                f"tests/unit/test_events_{module}.py:{40 + n % 300}: needs a real camera</skipped></testcase>\n")
    return f"<testcase {attrs}>{output}</testcase>\n" if output else f"<testcase {attrs} />\n"


def write_junit(path: Path, target_bytes: int, profile: str = "chatty", seed: int = 2026) -> Written:
    """Write testcases until the file holds about ``target_bytes``; return what was written."""
    if profile not in ("chatty", "terse"):
        raise ValueError(f"unknown profile {profile!r}")
    rng = random.Random(seed)
    written = Written()
    closing = "</testsuite></testsuites>\n"
    with path.open("w", encoding="utf-8") as out:
        size = out.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites name="pytest tests">'
                         '<testsuite name="pytest" errors="0" failures="0" skipped="0" tests="0" time="1234.5">\n')
        block: list[str] = []
        block_size = 0
        while size + block_size < target_bytes - len(closing):
            case = _testcase(rng, written.tests, profile == "chatty", written)
            block.append(case)
            block_size += len(case)  # ASCII only, so characters are bytes
            if block_size > 1 << 20:
                size += out.write("".join(block))
                block, block_size = [], 0
        size += out.write("".join(block) + closing)
    written.size = path.stat().st_size
    return written
