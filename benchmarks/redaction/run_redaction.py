"""What redaction costs: per output line, per 100,000-test RunResult, per MB of suite-written files.

Why: the Redactor sees every line every suite prints (execution._pump), every string of the
RunResult before the reports, and every file under the output folder's junit/, logs/,
coverage/ and perf/. With no secret in the environment (a developer's machine) it must cost
nothing; with the GitHub token set (every Actions job) it must stay small next to running the
tests. Each case is timed with and without secrets, best of ``--repeat``.

The lines look like a 2,000-test pytest run's output (``-v`` lines, a failure section with a
traceback); one line in 1,000 quotes the token, so the slow path is exercised too.

One command re-runs it:  python benchmarks/redaction/run_redaction.py [--lines 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import string
import tempfile
import time
from pathlib import Path

from doorbell_ci.redaction import Redactor, redacted_pieces, scrub_tree
from doorbell_ci.results import Outcome, RunResult, SuiteResult, SuiteStatus, TestResult

_RANDOM = random.Random(7)
TOKEN = "ghp_" + "".join(_RANDOM.choice(string.ascii_letters + string.digits) for _ in range(36))
LINES = [
    "tests/unit/test_events.py::TestEventPipeline::test_motion_event_reaches_storage[frame-{n}] PASSED  [ 42%]",
    "    def test_motion_event_reaches_storage(self, camera):",
    "E       AssertionError: assert {n} == 3",
    "tests/unit/test_faces.py::test_known_face_is_recognised[alice-{n}] FAILED                       [ 43%]",
    "",
]


def output(lines: int) -> bytes:
    rows = []
    for n in range(lines):
        row = LINES[n % len(LINES)].format(n=n)
        if n % 1000 == 999:
            row += f" token={TOKEN}"
        rows.append(row + "\n")
    return "".join(rows).encode()


def best(repeat: int, work) -> float:  # noqa: ANN001 - a zero-argument callable
    times = []
    for _ in range(repeat):
        begin = time.perf_counter()
        work()
        times.append(time.perf_counter() - begin)
    return min(times)


def stream_cost(data: bytes, redactor: Redactor | None, repeat: int) -> float:
    def work() -> None:
        source = io.BytesIO(data)
        if redactor is None:
            for _ in iter(lambda: source.readline(64 * 1024), b""):
                pass
        else:
            for _ in redacted_pieces(lambda: source.readline(64 * 1024), redactor):
                pass
    return best(repeat, work)


def big_run(tests: int) -> RunResult:
    results = [TestResult(suite="unit", name=f"test_case[{n}]", classname="tests.unit.test_big",
                          file="tests/unit/test_big.py", line=n,
                          outcome=Outcome.FAILED if n % 100 == 0 else Outcome.PASSED,
                          message=f"assert {n} == 0" if n % 100 == 0 else "",
                          details="Traceback...\n" * 20 if n % 100 == 0 else "") for n in range(tests)]
    return RunResult(run_id="bench", project="/p", started_at="", finished_at="", duration=1.0,
                     suites=[SuiteResult(name="unit", status=SuiteStatus.FAILED, tests=results)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--tests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    secrets = Redactor({TOKEN, TOKEN[::-1]})  # GITHUB_TOKEN and ACTIONS_RUNTIME_TOKEN, say
    nothing = Redactor()
    data = output(args.lines)
    plain = stream_cost(data, None, args.repeat)
    empty = stream_cost(data, nothing, args.repeat)
    masked = stream_cost(data, secrets, args.repeat)
    result: dict[str, object] = {
        "lines": args.lines,
        "bytes": len(data),
        "read_lines_us_per_line": round(plain / args.lines * 1e6, 3),
        "no_secret_extra_us_per_line": round((empty - plain) / args.lines * 1e6, 3),
        "two_secrets_extra_us_per_line": round((masked - plain) / args.lines * 1e6, 3),
    }
    run_clean = big_run(args.tests)
    result["run_result_tests"] = args.tests
    result["redact_run_result_seconds_no_secret"] = round(best(1, lambda: nothing.redact_object(run_clean)), 4)
    result["redact_run_result_seconds_two_secrets"] = round(
        best(args.repeat, lambda: secrets.redact_object(big_run(args.tests))) -
        best(args.repeat, lambda: big_run(args.tests)), 4)
    with tempfile.TemporaryDirectory() as folder:
        for n in range(20):
            Path(folder, f"file{n}.xml").write_bytes(data[: 1024 * 1024])
        result["scrub_mb"] = 20
        result["scrub_seconds_two_secrets"] = round(best(1, lambda: scrub_tree(Path(folder), secrets)), 4)
        result["scrub_seconds_clean_rescan"] = round(best(args.repeat, lambda: scrub_tree(Path(folder), secrets)), 4)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
