"""Private PostgreSQL and Redis servers that a fault test may stop and start again.

Each runs on a free loopback port with its files in a directory of its own, so stopping it
touches no other test run (the shared services on the standard ports are never stopped).
SeaweedFS is `registry.testing.seaweedfs.start_seaweedfs`, whose server starts again with `start()`;
`Crashing` stops it the hard way.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from registry.testing.ports import free_port
from registry.testing.seaweedfs import S3Server

POSTGRES_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
# initdb and postgres refuse to run as root: as root, the cluster belongs to this user.
POSTGRES_USER = "postgres"
READY_TIMEOUT_SECONDS = 30.0


class Stoppable(Protocol):
    def stop(self) -> None: ...
    def start(self) -> None: ...


@contextmanager
def stopped(service: Stoppable) -> Iterator[None]:
    """The service is down inside the block and up again after it, whatever happened."""
    service.stop()
    try:
        yield
    finally:
        service.start()


class Crashing:
    """A SeaweedFS server stopped as a crash stops it (SIGKILL: no graceful shutdown that
    would let requests in flight finish), and started again on the same ports and data."""

    def __init__(self, server: S3Server) -> None:
        self.server = server

    def stop(self) -> None:
        self.server.process.kill()
        self.server.process.wait(timeout=30)

    def start(self) -> None:
        if self.server.process.poll() is not None:
            self.server.start()


def wait_until(ready, what: str, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    """Poll `ready()` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(0.1)


class PrivatePostgres:
    """A PostgreSQL cluster of its own (trust auth, no fsync), started at once."""

    def __init__(self) -> None:
        binaries = [d for d in POSTGRES_BIN_DIRS if (d / "pg_ctl").exists()]
        if not binaries:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin_dir = binaries[0]
        # Outside pytest's private temp tree, which the postgres user cannot enter.
        self.base_dir = Path(tempfile.mkdtemp(prefix="registry-faults-pg-"))
        self.data_dir = self.base_dir / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            account = pwd.getpwnam(POSTGRES_USER)
            os.chown(self.base_dir, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", self.data_dir, "--auth=trust", "--no-sync", "-U", "postgres")
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off -k {self.base_dir}"
        log = self.base_dir / "server.log"
        self._run("pg_ctl", "-D", self.data_dir, "-l", log, "-w", "-o", options, "start")

    def stop(self) -> None:
        """A fast shutdown: sessions are cut off, as when the server goes away."""
        self._run("pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "stop")

    def close(self) -> None:
        self._run("pg_ctl", "-D", self.data_dir, "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def _run(self, program: str, *args, check: bool = True) -> None:
        command = [str(self.bin_dir / program), *map(str, args)]
        if os.geteuid() == 0:
            command = ["runuser", "-u", POSTGRES_USER, "--", *command]
        subprocess.run(command, check=check, capture_output=True, timeout=60)


class PrivateRedis:
    """A Redis server of its own that keeps nothing on disk, started at once."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("no redis-server: apt-get install redis-server")
        with (self.base_dir / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
                + ["--appendonly", "no", "--dir", str(self.base_dir)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self._answers, f"redis on port {self.port}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@contextmanager
def full_disk(directory: Path) -> Iterator[None]:
    """A one-page tmpfs mounted on `directory`, filled up; unmounted afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(directory)], capture_output=True
    )
    # The tests run as root (as CI does); a machine that cannot mount one fails here, loudly.
    assert mounted.returncode == 0, f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}"
    try:
        (directory / ".filler").write_bytes(b"\0" * 4096)
        yield
    finally:
        subprocess.run(["umount", "--lazy", str(directory)], check=True, timeout=30)
