"""Upload-to-ready time for a small TF1 checkpoint vs converting it by hand, in one run.

    .venv/bin/python -m bench.conversion [--runs 3]

The baseline is bench/hand_convert.py run as a person would (start Python, import TensorFlow,
freeze, build a SavedModel, convert to TFLite). The registry path is the production stack
(gunicorn API, PostgreSQL, SeaweedFS, Redis, one warm Celery worker): from the upload request
until the version reports `ready`, with every variant converted and parity-checked.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import requests

from bench.stack import ROOT, production_stack

BUILD_CHECKPOINTS = """
import sys, json
from pathlib import Path
from registry.testing.tf_samples import build_tf1_checkpoint
samples = [build_tf1_checkpoint(Path(sys.argv[1]) / f"run{i}", step=100 + i)
           for i in range(int(sys.argv[2]))]
print(json.dumps([str(s.extra["prefix"]) for s in samples]))
"""


def build_checkpoints(where: Path, count: int) -> list[Path]:
    """Distinct checkpoints (different global steps), so no run can reuse an earlier result."""
    out = subprocess.run(
        [sys.executable, "-c", BUILD_CHECKPOINTS, str(where), str(count)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [Path(p) for p in json.loads(out.stdout.splitlines()[-1])]


def hand_conversion(prefix: Path, out_dir: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "hand_convert.py"),
            str(prefix),
            str(out_dir),
            "images",
            "head/logits,head/probs",
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def registry_conversion(
    port: int, auth: dict[str, str], model: str, prefix: Path, scratch: Path
) -> float:
    archive = scratch / f"{model}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(prefix.parent, arcname="train")
    base = f"http://127.0.0.1:{port}/api/v1/models/{model}/versions"
    start = time.perf_counter()
    with archive.open("rb") as stream:
        response = requests.post(
            base,
            headers=auth,
            files={"file": (archive.name, stream)},
            data={"output_nodes": "head/logits,head/probs"},
        )
    response.raise_for_status()
    while (status := requests.get(f"{base}/1", headers=auth).json()["status"]) not in (
        "ready",
        "failed",
    ):
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    if status != "ready":
        raise SystemExit(f"{model} ended {status}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-conversion-") as scratch_name:
        scratch = Path(scratch_name)
        prefixes = build_checkpoints(scratch / "ckpts", args.runs + 1)
        with production_stack(scratch) as stack:
            stack.start_worker()
            # Warm-up: the worker's converter process imports TensorFlow once, here.
            warm = registry_conversion(stack.api_port, stack.auth, "warmup", prefixes[0], scratch)
            print(f"warm-up upload (worker's converter starting): {warm:.2f} s")
            registry_times = [
                registry_conversion(stack.api_port, stack.auth, f"run{i}", prefix, scratch)
                for i, prefix in enumerate(prefixes[1:])
            ]
        hand_times = [
            hand_conversion(prefix, scratch / f"hand{i}") for i, prefix in enumerate(prefixes[1:])
        ]
    print(
        "upload -> ready (3 variants + parity): "
        + ", ".join(f"{t:.2f}" for t in registry_times)
        + " s"
    )
    print(
        "by hand (python + TF import + freeze + SavedModel + TFLite): "
        + ", ".join(f"{t:.2f}" for t in hand_times)
        + " s"
    )
    print(
        f"median: registry {statistics.median(registry_times):.2f} s, "
        f"by hand {statistics.median(hand_times):.2f} s"
    )


if __name__ == "__main__":
    main()
