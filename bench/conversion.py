"""Upload-to-ready time of conversions vs doing them by hand, in one run.

    .venv/bin/python -m bench.conversion [--runs 3] [--rows small,resnet50]

`small`: a small TF1 checkpoint; the baseline is bench/hand_convert.py run as a person would
(start Python, import TensorFlow, freeze, build a SavedModel, convert to TFLite).
`resnet50`: Keras Applications ResNet50 built with `weights=None` (~100 MB, nothing
downloaded) saved as .keras; the baseline is bench/hand_convert_keras.py, a warm bare
TensorFlow process making the same SavedModel, frozen graph and TFLite. Printed: the work of
each (CPU seconds; for the registry the worker's processes, its converter included) and wall
time, their ratio, the peak RSS of the worker's processes together, and where the registry's
time went (each job's conversion and parity seconds, the rest being transfers and packing).

The registry path is the production stack (gunicorn API, PostgreSQL, SeaweedFS, Redis, one
warm Celery worker): from the upload request until the version reports `ready`, with every
variant converted and parity-checked.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import datetime
from pathlib import Path

import requests

from bench.processes import RssSampler, cpu_seconds
from bench.stack import ROOT, Stack, production_stack
from registry.client import RegistryClient

HAND_KERAS = ROOT / "bench" / "hand_convert_keras.py"

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


def hand_keras(*args: str | Path) -> str:
    done = subprocess.run(
        [sys.executable, str(HAND_KERAS), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    return done.stdout


def resnet50_row(stack: Stack, worker: subprocess.Popen, scratch: Path) -> None:
    """The ResNet50 upload through the registry vs the same conversions in bare TensorFlow."""
    model, tiny = scratch / "resnet50.keras", scratch / "tiny.keras"
    hand_keras("build", model)
    hand_keras("build", tiny, "--tiny")
    client = RegistryClient(f"http://127.0.0.1:{stack.api_port}", stack.token, timeout=600)
    client.upload("keras-warmup", tiny)  # the worker's converter imports TensorFlow here
    client.wait_until_ready("keras-warmup", 1, timeout=600, poll_seconds=0.05)
    before = {"worker": cpu_seconds(worker.pid), "api": cpu_seconds(stack.api.pid)}
    started = time.perf_counter()
    with RssSampler(worker.pid, whole_tree=True) as rss:
        client.upload("resnet50", model)
        uploaded = time.perf_counter() - started
        version = client.wait_until_ready("resnet50", 1, timeout=3600, poll_seconds=0.05)
    wall = time.perf_counter() - started
    work = cpu_seconds(worker.pid) - before["worker"]
    api_work = cpu_seconds(stack.api.pid) - before["api"]
    hand = json.loads(hand_keras("convert", model, tiny, scratch / "hand-keras").splitlines()[-1])

    size_mib = model.stat().st_size / 1024**2
    print(f"ResNet50 ({size_mib:.0f} MiB .keras): registry vs warm bare TensorFlow")
    print(
        f"  registry: {wall:.1f} s upload -> ready ({uploaded:.1f} s of it the upload), worker "
        f"CPU {work:.1f} s (API {api_work:.1f} s), worker peak RSS {rss.peak_kib / 1024:.0f} MiB "
        "(all its processes, converter included)"
    )
    print(
        f"  bare TF:  {hand['wall']:.1f} s wall, CPU {hand['cpu']:.1f} s, peak RSS "
        f"{hand['peak_rss_mib']} MiB; steps (wall s): {hand['steps']}"
    )
    print(
        f"  ratio registry/bare: CPU {work / hand['cpu']:.2f}x, wall {wall / hand['wall']:.2f}x "
        f"(wall without the upload {(wall - uploaded) / hand['wall']:.2f}x)"
    )
    seconds = {a["kind"]: a["facts"]["seconds"] for a in version["artifacts"] if a["job_id"]}
    for job in version["jobs"]:
        took = (
            datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])
        ).total_seconds()
        converting, parity = seconds[job["target"]]["convert"], seconds[job["target"]]["parity"]
        print(
            f"  job {job['target']:<10} {took:6.1f} s: load+convert {converting:6.1f} s, parity "
            f"{parity:5.1f} s, the rest {took - converting - parity:5.1f} s (source download, "
            "packing, storing, recording)"
        )


def small_row(stack: Stack, scratch: Path, runs: int) -> None:
    prefixes = build_checkpoints(scratch / "ckpts", runs + 1)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="uploads of the small checkpoint")
    parser.add_argument("--rows", default="small,resnet50", help="which rows to measure")
    args = parser.parse_args()
    rows = args.rows.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-conversion-") as scratch_name:
        scratch = Path(scratch_name)
        # ResNet50's jobs take minutes on a busy 2-core machine: past the default job timeout.
        with production_stack(scratch, max_upload_bytes=1024**3, job_timeout_seconds=3600) as stack:
            worker = stack.start_worker()
            if "small" in rows:
                small_row(stack, scratch, args.runs)
            if "resnet50" in rows:
                resnet50_row(stack, worker, scratch)


if __name__ == "__main__":
    main()
