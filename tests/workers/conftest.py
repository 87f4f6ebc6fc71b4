"""A registry on PostgreSQL + S3 + Redis with real Celery worker processes converting for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.settings import Settings
from tests.conftest import LiveRegistry, backend_settings, start_live_registry

TERMINAL = {"ready", "failed"}


class WorkerProcess:
    """`registry worker` as its own process group, so a test can kill all of it at once."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "registry.cli", "worker"],
            env={**os.environ, **settings.to_env(), "TF_CPP_MIN_LOG_LEVEL": "2"},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the worker and everything it started, as a crashed machine would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def wait_ready(self, timeout: float = 60) -> None:
        """Until Celery says the worker consumes (its log line `celery@host ready.`)."""
        deadline = time.monotonic() + timeout
        while " ready." not in self.log_path.read_text(errors="replace"):
            assert time.monotonic() < deadline, self.log_tail()
            assert self.process.poll() is None, self.log_tail()
            time.sleep(0.2)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def wait_for_version(
    registry: LiveRegistry, model: str, ref: str | int, timeout: float = 180
) -> dict:
    """Poll a version until its conversions are over (ready or failed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version = registry.version(model, ref)
        if version["status"] in TERMINAL:
            return version
        time.sleep(0.25)
    raise AssertionError(f"version {model}@{ref} still {version['status']}: {version['jobs']}")


def wait_for_job_status(registry, model, ref, status: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for job in registry.version(model, ref)["jobs"]:
            if job["status"] == status:
                return job
        time.sleep(0.05)
    raise AssertionError(f"no job of {model}@{ref} reached {status}")


def download(registry: LiveRegistry, model: str, ref, kind: str, out: Path) -> Path:
    response = registry.http.get(registry.api(f"/models/{model}/versions/{ref}/artifacts/{kind}"))
    response.raise_for_status()
    out.write_bytes(response.content)
    return out


@pytest.fixture(scope="session")
def worker_settings(tmp_path_factory, s3_server, postgres_schema_url, lease_broker) -> Settings:
    settings = backend_settings(
        "postgres",
        tmp_path_factory.mktemp("conversions"),
        s3_server,
        postgres_schema_url,
        lease_broker(),
    )
    # Short leases and sweeps so a killed worker's job is picked up within seconds; webhooks
    # may call the tests' receivers on loopback.
    return settings.with_changes(
        job_lease_seconds=6,
        sweep_interval_seconds=1,
        job_max_attempts=2,
        job_timeout_seconds=120,
        webhook_allow_private=True,
    )


@pytest.fixture(scope="session")
def converting_registry(worker_settings, tmp_path_factory) -> Iterator[LiveRegistry]:
    live, stop = start_live_registry(worker_settings)
    yield live
    stop()


@pytest.fixture(scope="session")
def worker(worker_settings, converting_registry, tmp_path_factory) -> Iterator[WorkerProcess]:
    process = WorkerProcess(worker_settings, tmp_path_factory.mktemp("logs") / "worker.log")
    yield process
    process.stop()
