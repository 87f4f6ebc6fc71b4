"""Thin Celery tasks: identify the job, let the domain run it, let the job row hold the outcome."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict
from functools import cache

from billiard.exceptions import WorkerLostError
from celery import Task, signals
from celery.worker.request import Request

from registry.convert import Converter
from registry.domain import jobs
from registry.logs import request_id_bound
from registry.services import Services
from registry.settings import Settings
from registry.wiring import build_services
from workers import webhooks as webhook_sending
from workers.celery_app import make_celery
from workers.conversion import JobRun, JobRunner, when_reachable, worker_name
from workers.sweep import Sweeper

log = logging.getLogger(__name__)


@cache
def settings() -> Settings:
    return Settings.from_env()


# The worker's Celery app, from the environment `registry worker` runs in.
app = make_celery(settings())


@cache
def services() -> Services:
    return build_services(settings())


@cache
def runner() -> JobRunner:
    """One runner, and so one long-lived converter process, per worker process."""
    converter = Converter(
        timeout_seconds=settings().job_timeout_seconds,
        memory_limit_mb=settings().job_memory_limit_mb,
    )
    return JobRunner(services().sessions, services().storage, settings(), converter)


class JobDelivery(Request):
    """A conversion job's message as the worker's main process handles it."""

    def on_failure(self, exc_info, send_failed_event=True, return_ok=False):
        error = getattr(exc_info.exception, "exc", exc_info.exception)
        if isinstance(error, WorkerLostError) and self.worker_pid:
            release_lost_attempt(self.args[0], worker_name(self.worker_pid), str(error))
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)


class ConversionTask(Task):
    Request = JobDelivery


def release_lost_attempt(job_id: int, worker: str, reason: str) -> None:
    """Put back at once the job of a pool process that died mid-job. Its message is
    redelivered (task_reject_on_worker_lost), and would otherwise find the job still running
    under the dead attempt's lease and skip it, leaving it for the sweep once the lease ran
    out. Runs before that redelivery; if the database cannot be reached, the lease decides."""
    svc = services()
    try:
        with svc.sessions.begin() as session:
            job = jobs.held_attempt(session, job_id, worker)
            if job is not None:
                jobs.fail(
                    session,
                    job,
                    f"the worker process running it died: {reason}",
                    retry=True,
                    max_attempts=svc.settings.job_max_attempts,
                    resend=False,
                )
    except Exception as error:  # the worker's main process must outlive a database outage
        log.warning("could not release job %s of the lost process %s: %s", job_id, worker, error)


@app.task(name="workers.tasks.run_conversion", bind=True, base=ConversionTask)
def run_conversion(self, job_id: int, request_id: str = "") -> str:
    # Bound for the whole task: its log lines, and a retry it sends, keep the id of the
    # request that queued the job (the sweep resends lost jobs without one).
    with request_id_bound(request_id):
        started = time.monotonic()
        # A fresh pool process builds its services first, which needs storage and the
        # database: while they are down the job waits here, still queued.
        window = settings().job_retry_window_seconds
        ran = when_reachable(runner, window).run(job_id, task_id=self.request.id or "")
        log_job(job_id, ran, time.monotonic() - started, request_id)
    return ran.outcome


@app.task(
    name="workers.tasks.deliver_webhook",
    soft_time_limit=webhook_sending.attempt_time_limit(settings()),
    time_limit=webhook_sending.attempt_time_limit(settings()) + 10,
)
def deliver_webhook(delivery_id: int, request_id: str = "") -> str:
    with request_id_bound(request_id):
        return webhook_sending.deliver(services(), delivery_id)


def log_job(job_id: int, ran: JobRun, seconds: float, request_id: str) -> None:
    """One JSON line per job run: which version and target, how it ended, how long it took."""
    summary = ran.summary
    if summary is None:  # a delivery that found its job taken or ended: as the job stands
        with services().sessions() as session:
            summary = jobs.job_summary(session, job_id)
    outcome = ran.outcome
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


@signals.worker_process_init.connect
def _drop_inherited_connections(**_kwargs) -> None:
    # A pool process forked after the main process used the database (its sweep, a released
    # job) inherits the main process's pooled connections; two processes on one connection
    # corrupt each other's conversation. The pool process opens its own instead.
    if services.cache_info().currsize:
        services().engine.dispose(close=False)


@signals.worker_ready.connect
def _start_sweeper(**_kwargs) -> None:
    svc = services()
    sweeper = Sweeper(svc)
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(svc.settings.sweep_interval_seconds):
            try:
                resent = sweeper.sweep()
                if resent:
                    log.info("sweep resent jobs %s", resent)
            except Exception:  # the sweeper must outlive a database or broker outage
                log.exception("job sweep failed; retrying next interval")

    threading.Thread(target=loop, name="job-sweeper", daemon=True).start()
