"""The sweep sends again only what the broker can no longer deliver: a backlog that waits in the
broker longer than the lease is sent once, and a broker that lost its messages gets them again."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from sqlalchemy import select, update

from registry.db.models import ConversionJob, utcnow
from registry.services import Services
from tests.conftest import LiveRegistry, start_live_registry
from tests.workers.conftest import WorkerProcess, wait_for_version
from workers.dispatch import CeleryJobQueue
from workers.sweep import SEND_GRACE, Sweeper

BACKLOG = 12
LEASE_SECONDS = 2


class RecordingQueue:
    """The real Celery job queue, counting how often each job is published: the evidence of
    duplicates. (A wrapper, not a fake: every message still goes through Redis.)"""

    def __init__(self, queue: CeleryJobQueue) -> None:
        self.queue = queue
        self.published: Counter[int] = Counter()

    def send(self, job_ids: list[int], request_id: str = "") -> list[int]:
        sent = self.queue.send(job_ids, request_id)
        self.published.update(sent)
        return sent

    def send_deliveries(self, delivery_ids: list[int], request_id: str = "") -> list[int]:
        return self.queue.send_deliveries(delivery_ids, request_id)

    def waiting(self) -> int | None:
        return self.queue.waiting()

    def check(self) -> None:
        self.queue.check()


@pytest.fixture
def short_lease_registry(
    worker_settings, postgres_schema_url, lease_broker
) -> Iterator[LiveRegistry]:
    """A registry of its own (schema and broker) with a 2 s lease, no worker yet."""
    settings = worker_settings.with_changes(
        database_url=postgres_schema_url(),
        broker_url=lease_broker(),
        job_lease_seconds=LEASE_SECONDS,
        sweep_interval_seconds=1,
    )
    services = Services.from_settings(settings, RecordingQueue(CeleryJobQueue(settings)))
    live, stop = start_live_registry(settings, services)
    yield live
    stop()


def jobs_of(registry: LiveRegistry) -> list[ConversionJob]:
    with registry.services.sessions() as session:
        return list(session.scalars(select(ConversionJob).order_by(ConversionJob.id)))


def wait_all_dispatched(registry: LiveRegistry, count: int, timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = jobs_of(registry)
        if len(jobs) == count and all(job.dispatched_at for job in jobs):
            return [job.id for job in jobs]
        assert time.monotonic() < deadline, [(j.id, j.dispatched_at) for j in jobs]
        time.sleep(0.1)


def job_log_lines(worker: WorkerProcess) -> list[dict]:
    lines = [json.loads(line) for line in worker.log_path.read_text().splitlines() if "{" in line]
    return [line for line in lines if "outcome" in line]


def test_backlog_older_than_the_lease_is_sent_once_and_all_of_it_runs(
    short_lease_registry, samples, model_name, tmp_path
):
    registry = short_lease_registry
    recorder: RecordingQueue = registry.services.job_queue
    for _ in range(BACKLOG):
        registry.upload(model_name, samples["small_tflite"].path).raise_for_status()
    job_ids = wait_all_dispatched(registry, BACKLOG)
    time.sleep(LEASE_SECONDS + 1)

    # Waiting in the broker longer than the lease, with nobody taking them: not lost.
    sweeper = Sweeper(registry.services)
    resent_while_waiting = [sweeper.sweep() for _ in range(3)]
    waiting = recorder.waiting()

    # The broker restarts without persistence: its messages are gone. One sweep sees its
    # queue empty, the next sends what no worker claimed meanwhile.
    redis.Redis.from_url(registry.settings.broker_url, socket_timeout=5).flushdb()
    resent_after_loss = [sweeper.sweep(), sweeper.sweep(), sweeper.sweep()]

    worker = WorkerProcess(registry.settings, tmp_path / "worker.log")
    try:
        versions = [
            wait_for_version(registry, model_name, number, timeout=120)
            for number in range(1, BACKLOG + 1)
        ]
    finally:
        worker.stop()

    assert resent_while_waiting == [[], [], []]
    assert waiting == BACKLOG
    assert resent_after_loss == [[], job_ids, []]
    assert recorder.published == Counter({job_id: 2 for job_id in job_ids})
    assert [v["status"] for v in versions] == ["ready"] * BACKLOG
    assert [job["attempts"] for v in versions for job in v["jobs"]] == [1] * BACKLOG
    # The worker's own sweeps (every second, 2 s lease) sent nothing while the backlog
    # waited: no delivery found its job taken. (The profile job the first ready version
    # queues is not part of the backlog.)
    outcomes = Counter(
        line["outcome"] for line in job_log_lines(worker) if line["job_id"] in job_ids
    )
    assert outcomes == Counter({"succeeded": BACKLOG}), worker.log_tail()


def test_a_job_between_its_commit_and_its_dispatch_is_left_to_its_sender(
    short_lease_registry, samples, model_name
):
    registry = short_lease_registry
    registry.upload(model_name, samples["small_tflite"].path).raise_for_status()
    [job_id] = wait_all_dispatched(registry, 1)
    sweeper = Sweeper(registry.services)

    def as_if_queued(ago: timedelta) -> list[int]:
        """The job committed `ago`, its sender not yet done: then one sweep."""
        with registry.services.sessions.begin() as session:
            session.execute(
                update(ConversionJob)
                .where(ConversionJob.id == job_id)
                .values(dispatched_at=None, queued_at=utcnow() - ago)
            )
        return sweeper.sweep()

    assert as_if_queued(timedelta(0)) == []
    assert as_if_queued(SEND_GRACE + timedelta(seconds=1)) == [job_id]
    assert registry.services.job_queue.published[job_id] == 2
