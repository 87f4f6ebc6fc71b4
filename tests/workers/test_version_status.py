"""A version's status follows its jobs under any interleaving of several workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from registry.db.models import AuditChainHead
from tests.factories import set_version_status
from tests.workers.conftest import WorkerProcess, wait_for_version
from tests.workers.uploads import upload_fields, upload_file_for

ROUNDS = 4
UPLOADS_PER_ROUND = 8


@pytest.fixture
def second_worker(worker, worker_settings, tmp_path):
    process = WorkerProcess(worker_settings, tmp_path / "second-worker.log")
    try:
        process.wait_ready()
        worker.wait_ready()
        yield process
    finally:
        process.stop()


@contextmanager
def audit_appends_held_back(sessions, hold_seconds: float = 0.2) -> Iterator[None]:
    """Keep taking the audit chain head's lock for a while, as a busy registry's appends do.

    Every job transaction locks the head just before it commits, so while the lock is held
    finished jobs pile up between reading their version's jobs and committing: the window in
    which two workers' transactions miss each other's change, made wide enough to hit.
    """
    stop = threading.Event()

    def hold() -> None:
        while not stop.is_set():
            with sessions.begin() as session:
                session.execute(select(AuditChainHead.id).with_for_update())
                stop.wait(hold_seconds)
            time.sleep(0.01)

    thread = threading.Thread(target=hold, name="audit-head-holder", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def test_versions_whose_jobs_finish_on_two_workers_at_once_all_become_ready(
    converting_registry, worker, second_worker, samples, model_name, tmp_path
):
    registry = converting_registry
    sample, upload_path = upload_file_for("frozen", samples, tmp_path)
    fields = upload_fields(sample)
    registry.upload(model_name, upload_path, **fields).raise_for_status()
    assert wait_for_version(registry, model_name, 1)["status"] == "ready"

    def upload() -> int:
        response = registry.upload(model_name, upload_path, **fields)
        assert response.status_code == 202, response.text
        return response.json()["version"]

    # Every later upload reuses the stored variants, so each of its two jobs takes milliseconds
    # and the two workers finish the jobs of one version at nearly the same moment.
    numbers = []
    with (
        audit_appends_held_back(registry.services.sessions),
        ThreadPoolExecutor(max_workers=UPLOADS_PER_ROUND) as pool,
    ):
        for _ in range(ROUNDS):
            numbers += pool.map(lambda _: upload(), range(UPLOADS_PER_ROUND))
        time.sleep(5)  # the jobs run while appends are held back
    versions = [wait_for_version(registry, model_name, number, timeout=120) for number in numbers]

    assert [v["status"] for v in versions] == ["ready"] * len(numbers)
    assert all(job["status"] == "succeeded" for v in versions for job in v["jobs"])
    workers = {job["outcome"]["worker"] for v in versions for job in v["jobs"]}
    assert len(workers) == 2


def test_sweep_repairs_a_version_left_converting_after_its_jobs_finished(
    converting_registry, worker, samples, model_name, tmp_path
):
    registry = converting_registry
    sample, upload_path = upload_file_for("frozen", samples, tmp_path)
    registry.upload(model_name, upload_path, **upload_fields(sample)).raise_for_status()
    assert wait_for_version(registry, model_name, 1)["status"] == "ready"
    # The state a lost status update used to leave behind: every job done, status stale.
    set_version_status(registry, model_name, 1, "converting")

    deadline = time.monotonic() + 30
    while registry.version(model_name, 1)["status"] == "converting":
        assert time.monotonic() < deadline, "the sweep never recomputed the stranded version"
        time.sleep(0.2)

    assert registry.version(model_name, 1)["status"] == "ready"
