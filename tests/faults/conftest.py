"""A registry whose services are private instances a test may stop and start again.

PostgreSQL, SeaweedFS and Redis (its broker) run on free loopback ports for this test run
alone; a real `registry worker` converts for the registry. A test that stops a service starts
it again before it ends (`stopped`), so the next test finds the stack whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from registry.settings import Settings
from registry.testing.seaweedfs import S3Server, start_seaweedfs
from tests.conftest import LiveRegistry, backend_settings, start_live_registry
from tests.faults.services import Crashing, PrivatePostgres, PrivateRedis
from tests.workers.conftest import WorkerProcess

# Short enough for tests: a dead pool process's job would wait a whole lease (60 s) without
# the release, far longer than the tests' waits; an outage is retried for up to 12 s.
FAULT_SETTINGS = {
    "job_lease_seconds": 60,
    "job_retry_window_seconds": 12,
    "job_max_attempts": 2,
    "job_timeout_seconds": 120,
    "sweep_interval_seconds": 1,
    # The tests' webhook receivers listen on loopback.
    "webhook_allow_private": True,
}


@dataclass
class FaultStack:
    postgres: PrivatePostgres
    s3: S3Server
    redis: PrivateRedis
    registry: LiveRegistry
    worker: WorkerProcess

    @property
    def settings(self) -> Settings:
        return self.registry.settings


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    yield server
    server.close()


@pytest.fixture(scope="session")
def private_s3(tmp_path_factory) -> Iterator[S3Server]:
    server = start_seaweedfs(tmp_path_factory.mktemp("private-seaweedfs"))
    yield server
    # Its graceful shutdown can wait out connections the tests broke; nothing here is kept.
    Crashing(server).stop()
    server.stop()


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path_factory.mktemp("private-redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fault_stack(
    tmp_path_factory, private_postgres, private_s3, private_redis
) -> Iterator[FaultStack]:
    settings = backend_settings(
        "postgres",
        tmp_path_factory.mktemp("fault-registry"),
        private_s3,
        lambda: private_postgres.url,
        private_redis.url,
    ).with_changes(**FAULT_SETTINGS)
    registry, stop_registry = start_live_registry(settings)
    worker = WorkerProcess(settings, tmp_path_factory.mktemp("fault-logs") / "worker.log")
    try:
        worker.wait_ready()
        yield FaultStack(private_postgres, private_s3, private_redis, registry, worker)
    finally:
        worker.stop()
        stop_registry()
