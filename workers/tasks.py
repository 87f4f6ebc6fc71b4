"""Thin Celery tasks: identify the job, let the domain run it, let the job row hold the outcome."""

from __future__ import annotations

import logging
import threading
from functools import cache

from celery import signals

from registry.convert import Converter
from registry.domain import jobs
from registry.domain.conversion import JobRunner
from registry.services import Services
from registry.settings import Settings
from workers.celery_app import app

log = logging.getLogger(__name__)


@cache
def services() -> Services:
    return Services.from_settings(Settings.from_env())


@cache
def runner() -> JobRunner:
    """One runner, and so one long-lived converter process, per worker process."""
    settings = services().settings
    converter = Converter(
        timeout_seconds=settings.job_timeout_seconds,
        memory_limit_mb=settings.job_memory_limit_mb,
    )
    return JobRunner(services().sessions, services().storage, settings, converter)


@app.task(name="workers.tasks.run_conversion", bind=True)
def run_conversion(self, job_id: int) -> str:
    outcome = runner().run(job_id, task_id=self.request.id or "")
    log.info("job %s: %s", job_id, outcome)
    if outcome == "requeued":
        services().dispatch([job_id])
    return outcome


def sweep_once(svc: Services) -> list[int]:
    """Resend jobs whose message may be lost (broker down at upload, worker gone)."""
    with svc.sessions() as session:
        stranded = jobs.stranded(session, redispatch_after_seconds=svc.settings.job_lease_seconds)
    svc.dispatch(stranded)
    return stranded


@signals.worker_ready.connect
def _start_sweeper(**_kwargs) -> None:
    svc = services()
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(svc.settings.sweep_interval_seconds):
            try:
                resent = sweep_once(svc)
                if resent:
                    log.info("sweep resent jobs %s", resent)
            except Exception:  # the sweeper must outlive a database or broker outage
                log.exception("job sweep failed; retrying next interval")

    threading.Thread(target=loop, name="job-sweeper", daemon=True).start()
