"""Worker throughput: trivial jobs (the `describe` of a ~1 KB .tflite) and small conversions,
on 1 and 2 workers, for the code before the throughput work and for this checkout.

    .venv/bin/python -m bench.jobs [--trivial 200] [--conversions 20] [--before a7be9f4]

The production stack (gunicorn, PostgreSQL, SeaweedFS, Redis) runs once; only the workers
change. The "before" workers run the code of `--before`, unpacked with `git archive` into a
temporary directory (the API and the schema are this checkout's; the old workers do not read
the columns added since). Each measurement starts its workers, warms them (every converter
process has imported TensorFlow), stops them with SIGSTOP, queues the backlog through the API
(every job handed to the broker), resumes them with SIGCONT and times until every job of the
backlog has ended. Small conversions are a frozen graph with parity inputs no other upload
used (two jobs per upload: SavedModel and TFLite, each parity-checked), so nothing is reused.
Each trivial backlog uploads a .tflite of its own, profiled by none before: every upload's
`describe` job, and the profile job each ready version queues (the first measures the bytes,
the others take its profile over), as on the first run.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests
from sqlalchemy import Engine, create_engine, text

from bench.stack import ROOT, Stack, production_stack
from registry.testing import brokers
from registry.testing.tf_samples import Sample, build_frozen_graph, build_small_tflite

REQUEST_TIMEOUT_SECONDS = 60
BACKLOG_TIMEOUT_SECONDS = 900
UPLOAD_THREADS = 8


@dataclass
class Figure:
    code: str
    workers: int
    kind: str
    jobs: int
    seconds: float
    failed: int
    # CPU seconds the workers' processes (main, pool, converter) spent on the backlog.
    worker_cpu: float

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds

    @property
    def cpu_ms_per_job(self) -> float:
        return self.worker_cpu / self.jobs * 1000


def tree_cpu_seconds(roots: list[int]) -> float:
    """CPU time (user + system, own and reaped children's) of the processes `roots` and all
    their descendants (a worker's pool processes, and their converters in sessions of their
    own)."""
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended meanwhile
            continue
        # After the command in parentheses: state, ppid, ...; utime stime cutime cstime are
        # fields 12-15 counted from the state.
        fields = text[text.rindex(")") + 2 :].split()
        stats[int(stat.parent.name)] = (int(fields[1]), sum(int(v) for v in fields[11:15]))
    tree = set(roots)
    while True:
        children = {pid for pid, (ppid, _) in stats.items() if ppid in tree} - tree
        if not children:
            break
        tree |= children
    ticks = sum(stats[pid][1] for pid in tree if pid in stats)
    return ticks / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, stack: Stack, scratch: Path, graph: Sample) -> None:
        self.stack, self.scratch = stack, scratch
        self.graph = graph
        self.tflites = 0
        self.tflite: Sample | None = None
        self.http = requests.Session()
        self.http.headers.update(stack.auth)
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=UPLOAD_THREADS))
        self.base = f"http://127.0.0.1:{stack.api_port}/api/v1"
        self.engine: Engine = create_engine(stack.settings.effective_database_url)

    def new_tflite(self) -> None:
        """The .tflite the next trivial backlog uploads: bytes no upload had before."""
        self.tflites += 1
        folder = self.scratch / f"tflite-{self.tflites}"
        self.tflite = build_small_tflite(folder, seed=1000 + self.tflites)

    def upload_tflite(self, model: str) -> None:
        with self.tflite.path.open("rb") as stream:
            self._post(model, {"file": ("dense.tflite", stream)}, {})

    def upload_conversion(self, model: str) -> None:
        """The frozen graph with parity inputs of its own: its conversions really run."""
        buffer = io.BytesIO()
        scale = np.float32(1 + uuid.uuid4().int % 10_000 / 100)
        np.savez(buffer, **{name: value * scale for name, value in self.graph.inputs.items()})
        buffer.seek(0)
        fields = {
            "input_nodes": ",".join(self.graph.input_names),
            "output_nodes": ",".join(self.graph.output_names),
        }
        with self.graph.path.open("rb") as stream:
            files = {"file": ("relu6.pb", stream), "example_inputs": ("x.npz", buffer)}
            self._post(model, files, fields)

    def _post(self, model: str, files: dict, fields: dict) -> None:
        response = self.http.post(
            f"{self.base}/models/{model}/versions",
            files=files,
            data=fields,
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
        if response.status_code != 202:
            raise SystemExit(f"upload refused: {response.status_code} {response.text[:300]}")

    def last_job_id(self) -> int:
        with self.engine.connect() as connection:
            return connection.scalar(text("SELECT coalesce(max(id), 0) FROM conversion_jobs"))

    def jobs_after(self, first_id: int) -> dict[str, int]:
        """Jobs from `first_id` on: how many, dispatched, ended, failed, and by how many
        worker processes."""
        with self.engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT count(*), count(dispatched_at),"
                    " count(*) FILTER (WHERE status IN ('succeeded', 'failed')),"
                    " count(*) FILTER (WHERE status = 'failed'),"
                    " count(DISTINCT worker) FILTER (WHERE worker <> '')"
                    " FROM conversion_jobs WHERE id >= :first"
                ),
                {"first": first_id},
            ).one()
        return dict(zip(("jobs", "dispatched", "ended", "failed", "workers"), row, strict=True))

    def wait_until(self, first_id: int, condition, what: str, timeout: float) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        while True:
            counts = self.jobs_after(first_id)
            if condition(counts):
                return counts
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}: {counts}")
            time.sleep(0.02)

    def queue(self, upload, count: int, model: str) -> None:
        with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
            for future in [pool.submit(upload, model) for _ in range(count)]:
                future.result()

    def measure(self, code: Path, label: str, workers: int, kind: str, uploads: int) -> Figure:
        upload = self.upload_tflite if kind == "trivial" else self.upload_conversion
        if kind == "trivial":
            self.new_tflite()
        with started_workers(self.stack, code, workers, self.scratch) as groups:
            self._warm(workers)
            for group in groups:
                os.killpg(group, signal.SIGSTOP)
            first = self.last_job_id() + 1
            self.queue(upload, uploads, f"{kind}-{uuid.uuid4().hex[:8]}")
            counts = self.wait_until(
                first, lambda c: c["dispatched"] == c["jobs"], "the backlog to be sent", 120
            )
            started, cpu_before = time.monotonic(), tree_cpu_seconds(groups)
            for group in groups:
                os.killpg(group, signal.SIGCONT)
            counts = self.wait_until(
                first, lambda c: c["ended"] == c["jobs"], "the backlog", BACKLOG_TIMEOUT_SECONDS
            )
            seconds = time.monotonic() - started
            cpu = tree_cpu_seconds(groups) - cpu_before
        return Figure(label, workers, kind, counts["jobs"], seconds, counts["failed"], cpu)

    def _warm(self, workers: int) -> None:
        """Until each worker process has run a conversion (its converter imported TF)."""
        first = self.last_job_id() + 1
        for _ in range(10):
            self.queue(self.upload_conversion, workers, f"warm-{uuid.uuid4().hex[:8]}")
            counts = self.wait_until(
                first, lambda c: c["ended"] == c["jobs"], "the warm-up", BACKLOG_TIMEOUT_SECONDS
            )
            if counts["workers"] >= workers:
                return
        raise SystemExit(f"only {counts['workers']} of {workers} workers took a warm-up job")


@contextmanager
def started_workers(stack: Stack, code: Path, count: int, scratch: Path) -> Iterator[list[int]]:
    """`count` worker processes running the code in `code`; their process groups."""
    processes = []
    for _ in range(count):
        log = scratch / f"worker-{uuid.uuid4().hex[:8]}.log"
        processes.append(
            (
                subprocess.Popen(
                    [sys.executable, "-m", "registry.cli", "worker"],
                    cwd=code,
                    env={**os.environ, **stack.settings.to_env(), "TF_CPP_MIN_LOG_LEVEL": "3"},
                    stdout=log.open("wb"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                ),
                log,
            )
        )
    try:
        deadline = time.monotonic() + 60
        for process, log in processes:
            while " ready." not in log.read_text(errors="replace"):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit(f"worker did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
        yield [process.pid for process, _ in processes]
    finally:
        for process, _ in processes:
            os.killpg(process.pid, signal.SIGCONT)
            os.killpg(process.pid, signal.SIGTERM)
        for process, _ in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def unpack_commit(revision: str, into: Path) -> Path:
    """The tree of `revision` of this repository, as plain files."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


@contextmanager
def leased_broker() -> Iterator[str]:
    """A Redis database of this run's own: no test's or other benchmark's worker takes its
    jobs."""
    db = brokers.lease_database()
    try:
        yield brokers.database_url(db)
    finally:
        brokers.release_database(db)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trivial", type=int, default=200, help="describe jobs per run")
    parser.add_argument("--conversions", type=int, default=20, help="conversion jobs per run")
    parser.add_argument(
        "--before", default="a7be9f4", help="the commit to measure as the baseline ('' skips)"
    )
    args = parser.parse_args()
    figures: list[Figure] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-jobs-") as scratch_name,
        leased_broker() as broker,
    ):
        scratch = Path(scratch_name)
        graph = build_frozen_graph(scratch / "frozen")
        codes = [("now", ROOT)]
        if args.before:
            codes.insert(0, (f"before ({args.before})", unpack_commit(args.before, scratch / "b")))
        with production_stack(scratch, broker_url=broker) as stack:
            bench = Bench(stack, scratch, graph)
            for label, code in codes:
                for workers in (1, 2):
                    for kind, uploads in (
                        ("trivial", args.trivial),
                        ("conversion", args.conversions // 2),
                    ):
                        figure = bench.measure(code, label, workers, kind, uploads)
                        figures.append(figure)
                        print(
                            f"{figure.code:20s} {workers} worker(s) {kind:10s} "
                            f"{figure.jobs:4d} jobs {figure.seconds:7.2f} s "
                            f"{figure.rate:6.1f} jobs/s {figure.cpu_ms_per_job:6.1f} ms CPU/job "
                            f"failed {figure.failed}",
                            flush=True,
                        )
    print()
    print("| code | workers | kind | jobs | seconds | jobs/s | worker CPU ms/job | failed |")
    print("|---|---|---|---|---|---|---|---|")
    for f in figures:
        print(
            f"| {f.code} | {f.workers} | {f.kind} | {f.jobs} | {f.seconds:.2f} "
            f"| {f.rate:.1f} | {f.cpu_ms_per_job:.1f} | {f.failed} |"
        )


if __name__ == "__main__":
    main()
