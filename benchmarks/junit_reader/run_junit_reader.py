"""JUnit reader at 50 MB and 500 MB: parse time and peak memory of ``results.read_junit``.

Why: a suite's JUnit XML is written by the code under test, so it can be any size; the reader
must not need memory in proportion to the file (the tree-building reader needed several times
the file size). Each measurement runs in a fresh interpreter, so ``ru_maxrss`` is the reading's
own peak; ``imports_rss_mb`` is the same process's peak before reading (interpreter + imports).

Files come from tests/junit_factory.py (pytest xunit1 style): ``chatty`` puts 1-7 KB of captured
output in every test (~4 KB a test), ``terse`` only in failures (~300 bytes a test, so ten
times the tests for the same size). The size limit is raised above the file for the measurement.

One command re-runs it (``--before db12daa`` measures the tree-building reader of that commit,
whose results.py and errors.py are taken with ``git show``, in the same way):
    python benchmarks/junit_reader/run_junit_reader.py [--sizes 50 500] [--profiles chatty terse]
        [--before REF] [--json out.json]
"""

from __future__ import annotations

import argparse
import inspect
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.junit_factory import write_junit  # noqa: E402

MB = 1024 * 1024


def measure(junit_path: Path, code: Path | None) -> dict[str, object]:
    """In this fresh process: read the file once, report the time, the peak RSS and the counts."""
    if code is not None:  # an earlier reader: its doorbell_ci/ (results.py, errors.py) comes first
        sys.path.insert(0, str(code))
    from doorbell_ci.results import Counts, read_junit

    imports_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    keywords = {}
    if "max_bytes" in inspect.signature(read_junit).parameters:  # the streaming reader has a size limit
        keywords["max_bytes"] = junit_path.stat().st_size + MB
    begin = time.perf_counter()
    tests = read_junit(junit_path, "unit", **keywords)
    seconds = time.perf_counter() - begin
    counts = Counts.of(tests)
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "imports_rss_mb": round(imports_rss / MB, 1),
        "counts": {"tests": counts.tests, "failed": counts.failed, "errors": counts.errors, "skipped": counts.skipped},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 500], help="file sizes in MB")
    parser.add_argument("--profiles", nargs="+", default=["chatty", "terse"], choices=["chatty", "terse"])
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--before", metavar="REF", help="also measure the reader of this git commit")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:  # the child process
        print(json.dumps(measure(args.measure, args.code)))
        return 0

    root = Path(tempfile.mkdtemp(prefix="doorbell-junit-reader-"))
    figures = []
    readers: list[tuple[str, list[str]]] = [("current", [])]
    if args.before:
        package = root / "before" / "doorbell_ci"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("", encoding="utf-8")
        for module in ("results.py", "errors.py"):
            source = subprocess.run(["git", "show", f"{args.before}:doorbell_ci/{module}"],  # noqa: S603, S607
                                    cwd=REPO, capture_output=True, text=True, check=True).stdout
            (package / module).write_text(source, encoding="utf-8")
        readers.insert(0, (args.before, ["--code", str(package.parent)]))
    try:
        for profile in args.profiles:
            for size_mb in args.sizes:
                source = root / f"{profile}-{size_mb}.xml"
                written = write_junit(source, size_mb * MB, profile)
                for reader, extra in readers:
                    child = subprocess.run(  # noqa: S603 - argv list
                        [sys.executable, __file__, "--measure", str(source), *extra],
                        capture_output=True, text=True, check=False,
                    )
                    if child.returncode != 0:
                        sys.exit(f"measurement failed:\n{child.stderr[-3000:]}")
                    sample = json.loads(child.stdout)
                    expected = {"tests": written.tests, "failed": written.failures, "errors": written.errors,
                                "skipped": written.skipped}
                    if sample["counts"] != expected:
                        sys.exit(f"counts differ from the generated file: {sample['counts']} vs {expected}")
                    row = {"reader": reader, "profile": profile, "file_mb": round(written.size / MB, 1), **sample}
                    figures.append(row)
                    print(json.dumps(row), flush=True)
                source.unlink()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
