"""The registry's long-lived dependencies, built once from Settings for a process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from registry.db import make_engine, make_sessionmaker
from registry.domain import jobs
from registry.logs import current_request_id
from registry.settings import Settings
from registry.storage import Storage, open_storage

log = logging.getLogger(__name__)

# Sends job ids to the workers and returns the ids it managed to send.
Dispatcher = Callable[[list[int]], list[int]]


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    storage: Storage
    dispatcher: Dispatcher

    @classmethod
    def from_settings(cls, settings: Settings, dispatcher: Dispatcher | None = None) -> Services:
        engine = make_engine(settings.effective_database_url)
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            storage=open_storage(settings),
            dispatcher=dispatcher or celery_dispatcher(settings),
        )

    def dispatch(self, job_ids: list[int]) -> None:
        """Hand jobs to the workers; a job the broker did not take is left for the sweep."""
        sent = self.dispatcher(job_ids) if job_ids else []
        if sent:
            jobs.mark_dispatched(self.sessions, sent)

    def close(self) -> None:
        self.engine.dispose()


def celery_dispatcher(settings: Settings) -> Dispatcher:
    from workers.celery_app import make_celery

    celery = make_celery(settings)

    def dispatch(job_ids: list[int]) -> list[int]:
        sent = []
        try:
            # The task logs under the request id that queued the job, on whichever machine.
            request_id = current_request_id()
            carried = {"request_id": request_id} if request_id else {}
            for job_id in job_ids:
                celery.send_task("workers.tasks.run_conversion", args=[job_id], kwargs=carried)
                sent.append(job_id)
        except Exception as error:  # a broker outage must not fail the upload
            log.warning("broker refused jobs %s, the sweep will resend them: %s", job_ids, error)
        return sent

    return dispatch
