"""Concurrent uploads and alias moves on two workers, round after round: any hang or stranded
version is counted.

    .venv/bin/python -m bench.concurrency [--rounds 30]

The production stack (gunicorn 2 processes x 8 threads, PostgreSQL, SeaweedFS, Redis, two
`registry worker` processes). Each round sends 16 requests at once (10 uploads of one small
frozen graph, 6 moves of one alias), every one with a timeout, then waits (bounded) for every
new version to finish. The uploads repeat the same bytes, so the workers reuse the stored
variants and the two jobs of a version finish on the two workers milliseconds apart: the
interleaving that used to leave versions `converting` for good.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.stack import production_stack
from registry.testing.tf_samples import build_frozen_graph

UPLOADS_PER_ROUND = 10
ALIAS_MOVES_PER_ROUND = 6
REQUEST_TIMEOUT_SECONDS = 60
SETTLE_TIMEOUT_SECONDS = 120
TERMINAL = ("ready", "failed")


class Round:
    def __init__(self, base: str, http: requests.Session, graph: Path) -> None:
        self.base, self.http, self.graph = base, http, graph
        self.hung = 0
        self.errors: list[str] = []

    def upload(self) -> int | None:
        try:
            with self.graph.open("rb") as stream:
                response = self.http.post(
                    f"{self.base}/versions",
                    files={"file": (self.graph.name, stream)},
                    data={"input_nodes": "in", "output_nodes": "block/out"},
                    timeout=REQUEST_TIMEOUT_SECONDS,
                )
        except requests.Timeout:
            self.hung += 1
            return None
        if response.status_code != 202:
            self.errors.append(f"upload {response.status_code}: {response.text[:200]}")
            return None
        return response.json()["version"]

    def move_alias(self) -> None:
        try:
            response = self.http.put(
                f"{self.base}/aliases/candidate",
                json={"version": 1},
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except requests.Timeout:
            self.hung += 1
            return
        if response.status_code != 200:
            self.errors.append(f"alias {response.status_code}: {response.text[:200]}")

    def settle(self, numbers: list[int]) -> dict[str, int]:
        """Wait for every version to finish; what each ended as (or `stranded`)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
        ended: dict[int, str] = {}
        while len(ended) < len(numbers) and time.monotonic() < deadline:
            for number in numbers:
                if number not in ended:
                    status = self.http.get(
                        f"{self.base}/versions/{number}", timeout=REQUEST_TIMEOUT_SECONDS
                    ).json()["status"]
                    if status in TERMINAL:
                        ended[number] = status
            time.sleep(0.2)
        counts = {"ready": 0, "failed": 0, "stranded": len(numbers) - len(ended)}
        for status in ended.values():
            counts[status] += 1
        return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as scratch_name:
        scratch = Path(scratch_name)
        graph = build_frozen_graph(scratch / "sample").path
        with production_stack(scratch, api_processes=2) as stack:
            stack.start_worker()
            stack.start_worker()
            http = requests.Session()
            http.headers.update(stack.auth)
            http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=32))
            base = f"http://127.0.0.1:{stack.api_port}/api/v1/models/stress"
            first = Round(base, http, graph)
            numbers = [first.upload()]
            if numbers[0] is None or first.settle(numbers)["ready"] != 1:
                raise SystemExit(f"the first upload did not convert: {first.errors}")
            totals = {"requests": 0, "hung": 0, "errors": 0, "ready": 0, "failed": 0}
            totals["stranded"] = 0
            durations = []
            for index in range(args.rounds):
                this = Round(base, http, graph)
                started = time.monotonic()
                with ThreadPoolExecutor(UPLOADS_PER_ROUND + ALIAS_MOVES_PER_ROUND) as pool:
                    uploads = [pool.submit(this.upload) for _ in range(UPLOADS_PER_ROUND)]
                    moves = [pool.submit(this.move_alias) for _ in range(ALIAS_MOVES_PER_ROUND)]
                    numbers = [n for n in (f.result() for f in uploads) if n is not None]
                    for move in moves:
                        move.result()
                ended = this.settle(numbers)
                durations.append(time.monotonic() - started)
                totals["requests"] += UPLOADS_PER_ROUND + ALIAS_MOVES_PER_ROUND
                totals["hung"] += this.hung
                totals["errors"] += len(this.errors)
                for status, count in ended.items():
                    totals[status] += count
                print(
                    f"round {index + 1:2d}: {durations[-1]:5.1f} s  hung {this.hung}  "
                    f"errors {len(this.errors)}  {ended}",
                    flush=True,
                )
                for error in this.errors:
                    print(f"    {error}")
    print()
    print(f"rounds            {args.rounds}")
    print(f"requests          {totals['requests']}")
    print(f"hung requests     {totals['hung']}  (no answer within {REQUEST_TIMEOUT_SECONDS} s)")
    print(f"error answers     {totals['errors']}")
    print(
        f"versions          {totals['ready']} ready, {totals['failed']} failed, "
        f"{totals['stranded']} stranded (not finished within {SETTLE_TIMEOUT_SECONDS} s)"
    )
    print(f"round time        median {statistics.median(durations):.1f} s")


if __name__ == "__main__":
    main()
