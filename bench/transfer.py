"""Upload and download throughput through the API vs direct boto3, side by side in one run.

    .venv/bin/python bench/transfer.py [--mib 1024]

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
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import boto3
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry.db import upgrade  # noqa: E402
from registry.settings import Settings  # noqa: E402
from tests.s3server import s3_from_env, start_seaweedfs  # noqa: E402

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BOUNDARY = "benchboundary7f3a"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def api_upload(port: int, model: str, path: Path) -> dict:
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
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(len(head) + size + len(tail)),
        },
    )
    response = connection.getresponse()
    payload = json.loads(response.read())
    if response.status != 202:
        raise SystemExit(f"upload failed: {response.status} {payload}")
    return payload


def api_download(port: int, model: str, out: Path) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("GET", f"/api/v1/models/{model}/versions/1/artifacts/tflite")
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

    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as scratch_name:
        scratch = Path(scratch_name)
        s3 = s3_from_env() or start_seaweedfs(scratch / "seaweedfs")
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        settings = Settings(
            data_dir=scratch / "data",
            database_url=f"{POSTGRES}?options=-csearch_path%3D{schema}",
            storage_url=f"s3://{bucket}/artifacts",
            s3_endpoint_url=s3.endpoint_url,
            s3_access_key=s3.access_key,
            s3_secret_key=s3.secret_key,
            broker_url="redis://127.0.0.1:6379/13",
            max_upload_bytes=(args.mib + 64) * 1024**2,
        )
        upgrade(settings.effective_database_url)
        port = free_port()
        api = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{port}",
                "--worker-class",
                "gthread",
                "--workers",
                "1",
                "--threads",
                "8",
                "--timeout",
                "0",
                "registry.wsgi:app",
            ],
            env={**os.environ, **settings.to_env()},
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_ready(port)
            payload = scratch / "payload.tflite"
            print(f"payload: {args.mib} MiB sha256 {make_payload(payload, args.mib)[:16]}…")
            client = boto3.client(
                "s3",
                endpoint_url=s3.endpoint_url,
                aws_access_key_id=s3.access_key,
                aws_secret_access_key=s3.secret_key,
                region_name="us-east-1",
            )
            direct_up = timed(
                "upload   direct boto3",
                args.mib,
                lambda: client.upload_file(str(payload), bucket, "direct/payload"),
            )
            with RssSampler(api.pid) as rss:
                idle_kib = rss.peak_kib
                api_up = timed(
                    "upload   through API", args.mib, lambda: api_upload(port, "bench", payload)
                )
            direct_down = timed(
                "download direct boto3",
                args.mib,
                lambda: client.download_file(bucket, "direct/payload", str(scratch / "d1")),
            )
            api_down = timed(
                "download through API",
                args.mib,
                lambda: api_download(port, "bench", scratch / "d2"),
            )
            print(f"ratio upload   API/boto3: {api_up / direct_up:.2f}")
            print(f"ratio download API/boto3: {api_down / direct_down:.2f}")
            print(
                f"API RSS: {idle_kib / 1024:.0f} MiB before the upload, "
                f"peak {rss.peak_kib / 1024:.0f} MiB during it"
            )
        finally:
            api.terminate()
            api.wait(timeout=30)
            with admin.connect() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            s3.stop()


def _wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the API did not become ready")


if __name__ == "__main__":
    main()
