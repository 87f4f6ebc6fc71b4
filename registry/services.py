"""The registry's long-lived dependencies of one process, and the one way work leaves it.

`Services` holds the settings, the database engine and sessionmaker, the artifact storage and
the job queue. Jobs and webhook deliveries reach the broker only after the transaction that
created them commits: domain code marks them on the session (`jobs.queue_job`,
`webhooks.queue_deliveries`), and the after-commit hook below sends them. The row, not the
message, is what guarantees the work is done at all: what the broker did not take is resent by
the workers' sweep.
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
from registry.domain import jobs, webhooks
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

    def send_deliveries(self, delivery_ids: list[int], request_id: str = "") -> list[int]:
        """Publish webhook deliveries, as `send` publishes jobs."""

    def waiting(self) -> int | None:
        """How many messages wait in the broker's queue, within a bounded time; None when the
        broker does not answer."""

    def check(self) -> None:
        """Connect to the broker once, within a bounded time; raises if it does not answer."""


class BackgroundSender:
    """Sends committed jobs (or deliveries) from a thread of its own, so no answer waits on the
    broker.

    Whatever it cannot send (a full backlog, the process ending first) stays without
    `dispatched_at` in the database, where the workers' sweep finds it.
    """

    def __init__(self, send: Callable[[list[int], str], None], what: str = "jobs") -> None:
        self._send = send
        self._what = what
        self._backlog: queue.Queue[tuple[list[int], str]] = queue.Queue(MAX_BACKLOG)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, job_ids: list[int], request_id: str) -> None:
        try:
            self._backlog.put_nowait((job_ids, request_id))
        except queue.Full:
            log.warning("sending is behind; the sweep will send %s %s", self._what, job_ids)
            return
        with self._lock:
            # Started on first use, and again in a forked child, which inherits no threads.
            if self._thread is None or not self._thread.is_alive():
                name = f"{self._what}-sender"
                self._thread = threading.Thread(target=self._run, name=name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            job_ids, request_id = self._backlog.get()
            try:
                self._send(job_ids, request_id)
            except Exception:  # one failed send must not end the sending
                log.exception("sending %s %s failed; the sweep will send them", self._what, job_ids)


def open_sessions(engine: Engine) -> sessionmaker[Session]:
    """The registry's sessions: a commit appends the audit events its changes recorded, and the
    webhook deliveries they call for. Only these do, never a stray Session of the process (a
    migration's, a test's own)."""
    sessions = make_sessionmaker(engine)
    audit.install(sessions, observers=[webhooks.queue_deliveries])
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
        self._delivery_sender = BackgroundSender(self.send_deliveries, "deliveries")
        event.listen(self.sessions, "after_commit", self._send_committed_work)
        # For requests that only read (see api/unit_of_work.py); a write through them is a bug.
        self.read_sessions = make_sessionmaker(reads_engine(self.engine))
        event.listen(self.read_sessions, "before_flush", _refuse_writes)

    def _send_committed_work(self, session: Session) -> None:
        request_id = current_request_id() or ""
        job_ids = jobs.take_jobs_to_send(session)
        if job_ids:
            self._sender.submit(job_ids, request_id)
        delivery_ids = webhooks.take_deliveries_to_send(session)
        if delivery_ids:
            self._delivery_sender.submit(delivery_ids, request_id)

    def send_jobs(self, job_ids: list[int], request_id: str = "") -> None:
        """Publish committed jobs and note which the broker took."""
        self._publish("jobs", self.job_queue.send, jobs.mark_dispatched, job_ids, request_id)

    def send_deliveries(self, delivery_ids: list[int], request_id: str = "") -> None:
        """Publish committed webhook deliveries and note which the broker took."""
        publish, mark = self.job_queue.send_deliveries, webhooks.mark_dispatched
        self._publish("deliveries", publish, mark, delivery_ids, request_id)

    def _publish(
        self,
        what: str,
        publish: Callable[[list[int], str], list[int]],
        mark_dispatched: Callable[[Session, list[int]], None],
        ids: list[int],
        request_id: str,
    ) -> None:
        sent = publish(ids, request_id)
        if not sent:
            return
        try:
            with self.sessions.begin() as session:
                mark_dispatched(session, sent)
        except Exception as error:  # the work is sent; only the note that says so is lost
            log.warning("could not record %s %s as dispatched: %s", what, sent, error)

    def close(self) -> None:
        self.engine.dispose()
