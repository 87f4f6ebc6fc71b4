"""Thin Celery tasks: identify the job, let the domain run it, let the job row hold the outcome."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict
from functools import cache

from celery import signals

from registry.convert import Converter
from registry.domain import jobs
from registry.logs import request_id_bound
from registry.services import Services
from registry.settings import Settings
from registry.wiring import build_services
from workers.celery_app import make_celery
from workers.conversion import JobRunner

log = logging.getLogger(__name__)

# The worker's Celery app, from the environment `registry worker` runs in.
app = make_celery(Settings.from_env())


@cache
def services() -> Services:
    return build_services(Settings.from_env())


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
def run_conversion(self, job_id: int, request_id: str = "") -> str:
    # Bound for the whole task: its log lines, and a retry it sends, keep the id of the
    # request that queued the job (the sweep resends lost jobs without one).
    with request_id_bound(request_id):
        started = time.monotonic()
        outcome = runner().run(job_id, task_id=self.request.id or "")
        log_job(job_id, outcome, time.monotonic() - started, request_id)
    return outcome


def log_job(job_id: int, outcome: str, seconds: float, request_id: str) -> None:
    """One JSON line per job run: which version and target, how it ended, how long it took."""
    with services().sessions() as session:
        summary = jobs.job_summary(session, job_id)
    fields = asdict(summary) if summary else {}
    log.info(
        "job %s %s",
        job_id,
        outcome,
        extra={
            "job_id": job_id,
            **fields,
            "outcome": outcome,
            "duration_ms": round(seconds * 1000, 1),
            "request_id": request_id or None,
        },
    )


def sweep_once(svc: Services) -> list[int]:
    """Resend jobs whose message may be lost (broker down at upload, worker gone), and settle
    versions whose status missed their jobs' end."""
    with svc.sessions.begin() as session:
        for version in jobs.unsettled_versions(session):
            jobs.refresh_version_status(session, version)
        stranded = jobs.stranded(session, redispatch_after_seconds=svc.settings.job_lease_seconds)
    svc.send_jobs(stranded)
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
