"""Conversion jobs: the database's record of what must run, claimed under leases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from registry.db.models import ConversionJob, ModelVersion, utcnow


def queue_job(
    session: Session,
    version: ModelVersion,
    target_kind: str,
    actor: str,
    options: dict | None = None,
) -> ConversionJob:
    job = ConversionJob(
        version=version,
        target_kind=target_kind,
        options=dict(version.options if options is None else options),
        created_by=actor,
    )
    session.add(job)
    return job


def mark_dispatched(sessions: sessionmaker[Session], job_ids: list[int]) -> None:
    with sessions.begin() as session:
        session.execute(
            update(ConversionJob)
            .where(ConversionJob.id.in_(job_ids))
            .values(dispatched_at=utcnow())
        )


def claim(sessions: sessionmaker[Session], job_id: int, worker: str, lease_seconds: int) -> bool:
    """Take a job for this worker: it must be queued, or running under an expired lease.

    The conditional UPDATE is the lock: of two deliveries of one job, only one claims it.
    """
    now = utcnow()
    with sessions.begin() as session:
        claimed = session.execute(
            update(ConversionJob)
            .where(
                ConversionJob.id == job_id,
                or_(
                    ConversionJob.status == "queued",
                    (ConversionJob.status == "running") & (ConversionJob.lease_expires_at < now),
                ),
            )
            .values(
                status="running",
                attempts=ConversionJob.attempts + 1,
                started_at=now,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                worker=worker,
            )
        ).rowcount
        if claimed:
            job = session.get(ConversionJob, job_id)
            refresh_version_status(session, job.version)
    return bool(claimed)


@contextmanager
def lease_kept(sessions: sessionmaker[Session], job_id: int, lease_seconds: int) -> Iterator[None]:
    """Renew a running job's lease in the background, so only a dead worker's job expires."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease_seconds / 3):
            with sessions.begin() as session:
                session.execute(
                    update(ConversionJob)
                    .where(ConversionJob.id == job_id, ConversionJob.status == "running")
                    .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
                )

    thread = threading.Thread(target=renew, name=f"lease-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def finish(session: Session, job: ConversionJob, outcome: dict) -> None:
    job.status = "succeeded"
    job.error = ""
    job.outcome = outcome
    job.finished_at = utcnow()
    job.lease_expires_at = None
    refresh_version_status(session, job.version)


def fail(
    session: Session, job: ConversionJob, message: str, *, retry: bool, max_attempts: int
) -> bool:
    """Record a failed attempt. Returns True when the job goes back to the queue."""
    requeue = retry and job.attempts < max_attempts
    job.error = message if requeue else _final_message(job, message, retry)
    job.status = "queued" if requeue else "failed"
    job.finished_at = None if requeue else utcnow()
    job.lease_expires_at = None
    refresh_version_status(session, job.version)
    return requeue


def _final_message(job: ConversionJob, message: str, retried: bool) -> str:
    if retried:
        return f"gave up after {job.attempts} attempts: {message}"
    return message


def requeue(session: Session, version: ModelVersion, targets: list[str], actor: str) -> list[int]:
    """Queue the given targets of a version again (a re-run asked for by a person)."""
    job_ids = []
    for target in targets:
        job = queue_job(session, version, target, actor)
        session.flush()
        job_ids.append(job.id)
    refresh_version_status(session, version)
    return job_ids


def stranded(session: Session, redispatch_after_seconds: int) -> list[int]:
    """Jobs whose message may be lost: never dispatched, dispatched long ago, or lease expired."""
    now = utcnow()
    stale = now - timedelta(seconds=redispatch_after_seconds)
    statement = select(ConversionJob.id).where(
        or_(
            (ConversionJob.status == "queued")
            & (ConversionJob.dispatched_at.is_(None) | (ConversionJob.dispatched_at < stale)),
            (ConversionJob.status == "running") & (ConversionJob.lease_expires_at < now),
        )
    )
    return list(session.scalars(statement.order_by(ConversionJob.id)))


def latest_jobs(version: ModelVersion) -> dict[str, ConversionJob]:
    """The most recent job of each target kind (re-runs supersede earlier attempts)."""
    latest: dict[str, ConversionJob] = {}
    for job in sorted(version.jobs, key=lambda j: j.id):
        latest[job.target_kind] = job
    return latest


def refresh_version_status(session: Session, version: ModelVersion) -> None:
    """A version's status follows its jobs and the parity of its variants."""
    session.flush()
    session.refresh(version, ["jobs", "artifacts"])
    jobs = latest_jobs(version).values()
    statuses = {job.status for job in jobs}
    if statuses & {"queued", "running"}:
        version.status = (
            "converting" if "running" in statuses or "succeeded" in statuses else "pending"
        )
        version.status_detail = ""
        return
    problems = [f"{job.target_kind} failed: {job.error}" for job in jobs if job.status == "failed"]
    problems += [
        f"{artifact.kind} failed parity: {artifact.parity.get('summary', '')}".rstrip(": ")
        for artifact in version.artifacts
        if artifact.parity_passed is False
    ]
    version.status = "failed" if problems else "ready"
    version.status_detail = "; ".join(problems)
