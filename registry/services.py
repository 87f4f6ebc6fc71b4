"""The registry's long-lived dependencies of one process, and the one way work leaves it.

`Services` holds the settings, the database engine and sessionmaker, the artifact storage and
the job queue. Jobs reach the broker only after the transaction that created them commits:
domain code marks them on the session (`jobs.queue_job`), and the after-commit hook below
sends them. The job row, not the message, is what guarantees a job runs at all: a job the
broker did not take is resent by the workers' sweep.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from registry.db import WaitBounds, make_engine, make_sessionmaker, reads_engine
from registry.domain import jobs
from registry.domain.ledger import audit
from registry.logs import current_request_id
from registry.settings import Settings
from registry.storage import Storage, open_storage

log = logging.getLogger(__name__)

# Sends waiting at most; past that, the sweep sends what is left.
MAX_BACKLOG = 10_000


class JobQueue(Protocol):
    """Hands conversion jobs to the workers; `workers.dispatch` provides the Celery one."""

    def send(self, job_ids: list[int], request_id: str = "") -> list[int]:
        """Publish the jobs, tagged with the request that queued them; returns the ids the
        broker took (the rest are left for the sweep). Never raises for a broker that is down
        or slow, and returns within a bounded time."""

    def check(self) -> None:
        """Connect to the broker once, within a bounded time; raises if it does not answer."""


class BackgroundSender:
    """Sends committed jobs from a thread of its own, so no answer waits on the broker.

    Whatever it cannot send (a full backlog, the process ending first) stays `queued` without
    `dispatched_at` in the database, where the workers' sweep finds it.
    """

    def __init__(self, send: Callable[[list[int], str], None]) -> None:
        self._send = send
        self._backlog: queue.Queue[tuple[list[int], str]] = queue.Queue(MAX_BACKLOG)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, job_ids: list[int], request_id: str) -> None:
        try:
            self._backlog.put_nowait((job_ids, request_id))
        except queue.Full:
            log.warning("job sending is behind; the sweep will send jobs %s", job_ids)
            return
        with self._lock:
            # Started on first use, and again in a forked child, which inherits no threads.
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="job-sender", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            job_ids, request_id = self._backlog.get()
            try:
                self._send(job_ids, request_id)
            except Exception:  # one failed send must not end the sending
                log.exception("sending jobs %s failed; the sweep will send them", job_ids)


def open_sessions(engine: Engine) -> sessionmaker[Session]:
    """The registry's sessions: a commit appends the audit events its changes recorded. Only
    these do, never a stray Session of the process (a migration's, a test's own)."""
    sessions = make_sessionmaker(engine)
    audit.install(sessions)
    return sessions


def _refuse_writes(_session: Session, _flush_context, _instances) -> None:
    raise RuntimeError("a read-only session was asked to write")


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    storage: Storage
    job_queue: JobQueue
    read_sessions: sessionmaker[Session] = field(init=False)

    @classmethod
    def from_settings(cls, settings: Settings, job_queue: JobQueue) -> Services:
        engine = make_engine(settings.effective_database_url, WaitBounds.from_settings(settings))
        return cls(
            settings=settings,
            engine=engine,
            sessions=open_sessions(engine),
            storage=open_storage(settings),
            job_queue=job_queue,
        )

    def __post_init__(self) -> None:
        self._sender = BackgroundSender(self.send_jobs)
        event.listen(self.sessions, "after_commit", self._send_committed_jobs)
        # For requests that only read (see api/unit_of_work.py); a write through them is a bug.
        self.read_sessions = make_sessionmaker(reads_engine(self.engine))
        event.listen(self.read_sessions, "before_flush", _refuse_writes)

    def _send_committed_jobs(self, session: Session) -> None:
        job_ids = jobs.take_jobs_to_send(session)
        if job_ids:
            self._sender.submit(job_ids, current_request_id() or "")

    def send_jobs(self, job_ids: list[int], request_id: str = "") -> None:
        """Publish committed jobs and note which the broker took."""
        sent = self.job_queue.send(job_ids, request_id)
        if not sent:
            return
        try:
            with self.sessions.begin() as session:
                jobs.mark_dispatched(session, sent)
        except Exception as error:  # the jobs are sent; only the note that says so is lost
            log.warning("could not record jobs %s as dispatched: %s", sent, error)

    def close(self) -> None:
        self.engine.dispose()
