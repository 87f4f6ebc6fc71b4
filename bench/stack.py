"""The production stack for benchmarks: SeaweedFS, a PostgreSQL schema, gunicorn, workers."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from registry.db import make_engine, upgrade
from registry.domain.ledger import tokens
from registry.services import open_sessions
from registry.settings import Settings
from registry.testing.ports import free_port
from registry.testing.seaweedfs import S3Server, s3_from_env, start_seaweedfs

ROOT = Path(__file__).resolve().parent.parent

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Stack:
    settings: Settings
    s3: S3Server
    api_port: int
    api: subprocess.Popen
    # An admin token, made through the domain as `registry token create` does.
    token: str = ""
    workers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def bucket(self) -> str:
        return self.settings.storage_url.removeprefix("s3://").split("/")[0]

    def start_worker(self) -> subprocess.Popen:
        worker = subprocess.Popen(
            [sys.executable, "-m", "registry.cli", "worker"],
            env={**os.environ, **self.settings.to_env(), "TF_CPP_MIN_LOG_LEVEL": "3"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.workers.append(worker)
        return worker


@contextmanager
def production_stack(scratch: Path, api_processes: int = 1, **overrides) -> Iterator[Stack]:
    """A PostgreSQL schema, SeaweedFS, a Redis broker and the API under gunicorn, as compose has."""
    s3 = s3_from_env() or start_seaweedfs(scratch / "seaweedfs")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    settings = Settings(
        data_dir=scratch / "data",
        database_url=f"{POSTGRES}?options=-csearch_path%3D{schema}",
        storage_url=f"s3://bench-{uuid.uuid4().hex[:8]}/artifacts",
        s3_endpoint_url=s3.endpoint_url,
        s3_access_key=s3.access_key,
        s3_secret_key=s3.secret_key,
        # Database 0 unless told: the tests lease 1-15 for their own brokers.
        broker_url=overrides.pop("broker_url", "redis://127.0.0.1:6379/0"),
        **overrides,
    )
    upgrade(settings.effective_database_url)
    token = _admin_token(settings)
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
            str(api_processes),
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
    stack = Stack(settings, s3, port, api, token)
    try:
        _wait_ready(port)
        yield stack
    finally:
        for process in [api, *stack.workers]:
            process.terminate()
        for process in [api, *stack.workers]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
        s3.stop()


def _admin_token(settings: Settings) -> str:
    engine = make_engine(settings.effective_database_url)
    try:
        with open_sessions(engine).begin() as session:
            return tokens.create_token(session, "bench", "admin", "bench").secret
    finally:
        engine.dispose()


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
