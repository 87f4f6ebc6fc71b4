"""The registry's long-lived dependencies of one process, and the one way work leaves it.

`Services` holds the settings, the database engine and sessionmaker, the artifact storage and
the job queue. Jobs reach the broker only after the transaction that created them commits:
domain code marks them on the session (`jobs.queue_job`), and the after-commit hook below
sends them. The job row, not the message, is what guarantees a job runs at all: a job the
broker did not take is resent by the workers' sweep.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from registry.db import WaitBounds, make_engine, make_sessionmaker
from registry.domain import jobs
from registry.domain.ledger import audit
from registry.settings import Settings
from registry.storage import Storage, open_storage

log = logging.getLogger(__name__)


class JobQueue(Protocol):
    """Hands conversion jobs to the workers; `workers.dispatch` provides the Celery one."""

    def send(self, job_ids: list[int]) -> list[int]:
        """Publish the jobs; returns the ids the broker took (the rest are left for the sweep).
        Never raises for a broker that is down or slow, and returns within a bounded time."""

    def check(self) -> None:
        """Connect to the broker once, within a bounded time; raises if it does not answer."""


def open_sessions(engine: Engine) -> sessionmaker[Session]:
    """The registry's sessions: a commit appends the audit events its changes recorded. Only
    these do, never a stray Session of the process (a migration's, a test's own)."""
    sessions = make_sessionmaker(engine)
    audit.install(sessions)
    return sessions


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    storage: Storage
    job_queue: JobQueue

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
        event.listen(self.sessions, "after_commit", self._send_committed_jobs)

    def _send_committed_jobs(self, session: Session) -> None:
        job_ids = jobs.take_jobs_to_send(session)
        if job_ids:
            self.send_jobs(job_ids)

    def send_jobs(self, job_ids: list[int]) -> None:
        """Publish committed jobs and note which the broker took."""
        sent = self.job_queue.send(job_ids)
        if not sent:
            return
        try:
            with self.sessions.begin() as session:
                jobs.mark_dispatched(session, sent)
        except Exception as error:  # the jobs are sent; only the note that says so is lost
            log.warning("could not record jobs %s as dispatched: %s", sent, error)

    def close(self) -> None:
        self.engine.dispose()
