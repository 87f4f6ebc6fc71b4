"""Upload and download throughput through the API vs direct boto3, side by side in one run.

    .venv/bin/python -m bench.transfer [--mib 1024]

Starts SeaweedFS on loopback (or uses REGISTRY_S3_ENDPOINT_URL), a PostgreSQL schema in the
local `test` database, and the API under gunicorn exactly as docker-compose.yml runs it. Prints
MiB/s for each path, the API/boto3 ratios, and the API processes' peak RSS during the upload.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import boto3

from bench.stack import production_stack

BOUNDARY = "benchboundary7f3a"


def make_payload(path: Path, mib: int) -> str:
    """A file of random bytes that passes as a .tflite; returns its sha256."""
    digest = hashlib.sha256()
    block = os.urandom(1024**2)
    with path.open("wb") as out:
        for i in range(mib):
            chunk = (
                (b"\x1c\x00\x00\x00TFL3" + block[8:]) if i == 0 else block[:-1] + bytes([i % 251])
            )
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


class RssSampler:
    """Peak resident memory of a process tree, sampled every 50 ms."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.root_pid)], capture_output=True, text=True)
        return [self.root_pid, *map(int, out.stdout.split())]

    def _rss(self, pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_kib = max(self.peak_kib, max(self._rss(p) for p in self._pids()))

    def current_kib(self) -> int:
        return max(self._rss(p) for p in self._pids())

    def __enter__(self) -> RssSampler:
        self.peak_kib = self.current_kib()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def api_upload(port: int, auth: dict[str, str], model: str, path: Path) -> dict:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="format"\r\n\r\ntflite\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    size = path.stat().st_size

    def body():
        yield head
        with path.open("rb") as stream:
            while chunk := stream.read(1024**2):
                yield chunk
        yield tail

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request(
        "POST",
        f"/api/v1/models/{model}/versions",
        body=body(),
        headers={
            **auth,
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(len(head) + size + len(tail)),
        },
    )
    response = connection.getresponse()
    payload = json.loads(response.read())
    if response.status != 202:
        raise SystemExit(f"upload failed: {response.status} {payload}")
    return payload


def api_download(port: int, auth: dict[str, str], model: str, out: Path) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("GET", f"/api/v1/models/{model}/versions/1/artifacts/tflite", headers=auth)
    response = connection.getresponse()
    if response.status != 200:
        raise SystemExit(f"download failed: {response.status}")
    with out.open("wb") as sink:
        while chunk := response.read(1024**2):
            sink.write(chunk)


def timed(label: str, mib: int, action) -> float:
    start = time.perf_counter()
    action()
    rate = mib / (time.perf_counter() - start)
    print(f"{label:<28} {rate:8.1f} MiB/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="transfer size in MiB")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="bench-transfer-") as scratch_name,
        production_stack(Path(scratch_name), max_upload_bytes=(args.mib + 64) * 1024**2) as stack,
    ):
        scratch = Path(scratch_name)
        payload = scratch / "payload.tflite"
        print(f"payload: {args.mib} MiB sha256 {make_payload(payload, args.mib)[:16]}…")
        s3 = stack.s3
        client = boto3.client(
            "s3",
            endpoint_url=s3.endpoint_url,
            aws_access_key_id=s3.access_key,
            aws_secret_access_key=s3.secret_key,
            region_name="us-east-1",
        )
        port = stack.api_port
        direct_up = timed(
            "upload   direct boto3",
            args.mib,
            lambda: client.upload_file(str(payload), stack.bucket, "direct/payload"),
        )
        with RssSampler(stack.api.pid) as rss:
            idle_kib = rss.peak_kib
            api_up = timed(
                "upload   through API",
                args.mib,
                lambda: api_upload(port, stack.auth, "bench", payload),
            )
        direct_down = timed(
            "download direct boto3",
            args.mib,
            lambda: client.download_file(stack.bucket, "direct/payload", str(scratch / "d1")),
        )
        api_down = timed(
            "download through API",
            args.mib,
            lambda: api_download(port, stack.auth, "bench", scratch / "d2"),
        )
        print(f"ratio upload   API/boto3: {api_up / direct_up:.2f}")
        print(f"ratio download API/boto3: {api_down / direct_down:.2f}")
        print(
            f"API RSS: {idle_kib / 1024:.0f} MiB before the upload, "
            f"peak {rss.peak_kib / 1024:.0f} MiB during it"
        )


if __name__ == "__main__":
    main()
