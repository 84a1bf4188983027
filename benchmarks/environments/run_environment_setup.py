"""Setup and teardown time of the test environments: local, and Docker with a cached image.

Why: every run pays ``prepare`` and ``cleanup`` once, and a Docker run pays a container's
create/start/stop/remove once per suite. These should be small next to the suites themselves;
this measures them on the real thing (real temp trees, a real Docker engine), repeated, and
reports the median and the spread.

* local: ``LocalEnvironment.prepare`` (temp tree, fixtures copied, test config written) and
  ``cleanup`` (tree removed) on a copy of the bundled sample project.
* docker, cached: ``DockerEnvironment.prepare`` (engine check, tree, image found by its hash
  tag, per-run network) and ``cleanup`` (containers and network by label, tree), after one
  warm-up run that imports the offline base image if it is missing; that cold figure is
  reported apart.
* docker, offline base import: what a machine without the image pays once (5 imports).
* docker, per suite: one container through the host-side helper, running ``python -c pass``
  (create, start, stream logs, wait, remove): the fixed cost a suite pays for its container.

One command re-runs it:  python benchmarks/environments/run_environment_setup.py [--runs 15] [--base offline]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from doorbell_ci.config import load_config  # noqa: E402
from doorbell_ci.environments.docker import DockerEnvironment  # noqa: E402
from doorbell_ci.environments.local import LocalEnvironment  # noqa: E402
from doorbell_ci.plan import make_plan  # noqa: E402

SAMPLE = ROOT / "tests" / "sample_project"


def summarise(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "runs": len(samples),
        "median_ms": round(statistics.median(samples) * 1000, 1),
        "min_ms": round(ordered[0] * 1000, 1),
        "p90_ms": round(ordered[max(0, int(len(ordered) * 0.9) - 1)] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def measure(make_environment, config, runs: int) -> tuple[dict, dict]:  # noqa: ANN001
    setups, teardowns = [], []
    for _ in range(runs):
        environment = make_environment(config)
        plan = make_plan(config)
        plan.output_dir.mkdir(parents=True, exist_ok=True)
        begin = time.perf_counter()
        environment.prepare(plan)
        middle = time.perf_counter()
        environment.cleanup()
        end = time.perf_counter()
        setups.append(middle - begin)
        teardowns.append(end - middle)
    return summarise(setups), summarise(teardowns)


def container_roundtrip(config, runs: int) -> dict:  # noqa: ANN001
    """One container per run through the helper, with the same mounts, user and limits as a suite."""
    environment = DockerEnvironment(config)
    plan = make_plan(config)
    plan.output_dir.mkdir(parents=True, exist_ok=True)
    environment.prepare(plan)
    try:
        suite = plan.suites[0]
        spec = environment.spec(suite)
        spec["command"] = [spec["command"][0], "-c", "pass"]
        spec_path = environment.tree.root / "specs" / "roundtrip.json"  # type: ignore[union-attr]
        samples = []
        for index in range(runs):
            spec["name"] = f"{spec['name']}-bench-{index}"
            spec_path.write_text(json.dumps(spec), encoding="utf-8")
            begin = time.perf_counter()
            subprocess.run([sys.executable, "-m", "doorbell_ci.environments.docker_exec", str(spec_path)],
                           check=True, capture_output=True)
            samples.append(time.perf_counter() - begin)
    finally:
        environment.cleanup()
    return summarise(samples)


def offline_base_import(runs: int) -> dict:
    """Importing the offline base from scratch (what a fresh CI machine pays once), under a throwaway tag."""
    from doorbell_ci.environments import images
    from doorbell_ci.environments.docker import connect

    client = connect()
    samples = []
    for index in range(runs):
        begin = time.perf_counter()
        client.api.import_image_from_data(images.offline_rootfs(), repository="doorbell-ci-bench-import",
                                          tag=str(index))
        samples.append(time.perf_counter() - begin)
        client.images.remove(f"doorbell-ci-bench-import:{index}", force=True)
    return summarise(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--base", choices=["offline", "python"], default="offline",
                        help="Docker base of the test image (offline: no registry needed)")
    parser.add_argument("--no-docker", action="store_true", help="measure the local environment only")
    parser.add_argument("--json", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-env-") as scratch:
        project = Path(scratch) / "sample"
        shutil.copytree(SAMPLE, project, ignore=shutil.ignore_patterns("test-results", "__pycache__", ".*cache"))
        fixtures = project / "tests" / "fixtures"
        fixtures.mkdir(parents=True, exist_ok=True)
        for index in range(20):  # a realistic fixtures folder: 20 face images of ~50 kB
            (fixtures / f"face_{index:02d}.jpg").write_bytes(os.urandom(50_000))
        for folder, _dirs, files in os.walk(project):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
        config = load_config(project, {"suites": "unit"}, environ={"DOORBELL_CI_DOCKER_BASE": args.base})
        results: dict = {
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "runs": args.runs,
        }
        setup, teardown = measure(LocalEnvironment, config, args.runs)
        results["local"] = {"setup": setup, "teardown": teardown}
        if not args.no_docker:
            begin = time.perf_counter()
            cold, _ = measure(DockerEnvironment, config, 1)
            results["docker_first_run_ms"] = round((time.perf_counter() - begin) * 1000, 1)
            results["docker_first_prepare"] = cold
            setup, teardown = measure(DockerEnvironment, config, args.runs)
            results["docker_cached"] = {"setup": setup, "teardown": teardown}
            results["docker_container_per_suite"] = container_roundtrip(config, args.runs)
            results["docker_offline_base_import"] = offline_base_import(5)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
