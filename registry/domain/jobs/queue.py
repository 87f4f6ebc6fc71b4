"""Conversion jobs: the database's record of what must run, claimed under leases."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, or_, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from registry.db.models import Artifact, ConversionJob, ModelVersion, utcnow
from registry.domain.jobs.profiles import adopt_known_profiles
from registry.domain.ledger import audit
from registry.vocabulary import PROFILE

_JOBS_TO_SEND = "registry.jobs.to_send"
# Waits between attempts of a job that cannot reach a service: as long as the outage has
# lasted so far (so they double), at least the first and at most the last of these.
FIRST_RETRY_DELAY = timedelta(seconds=1)
LONGEST_RETRY_DELAY = timedelta(seconds=60)


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
        options=dict(conversion_options(version) if options is None else options),
        created_by=actor,
    )
    session.add(job)
    session.flush()
    record_job_event(session, job, "job.queued", {"options": job.options})
    send_after_commit(session, job)
    return job


def conversion_options(version: ModelVersion) -> dict:
    """The version's options, with the output nodes found in its graph when none were given."""
    found = version.inferred_outputs
    return {**version.options, "output_nodes": found["output_nodes"]} if found else version.options


def send_after_commit(session: Session, job: ConversionJob) -> None:
    """Have the job published to the workers once this transaction commits (never before:
    a worker must find the row it is sent)."""
    session.info.setdefault(_JOBS_TO_SEND, []).append(job.id)


def take_jobs_to_send(session: Session) -> list[int]:
    """The jobs a just-committed transaction queued, for its after-commit hook to publish."""
    return session.info.pop(_JOBS_TO_SEND, [])


def record_job_event(session: Session, job: ConversionJob, action: str, details: dict) -> None:
    """A job's event; its actor is whoever caused the job (the uploader, or who re-ran it)."""
    version = job.version
    audit.record(
        session,
        job.created_by,
        action,
        audit.job_subject(version.model.name, version.number, job.id),
        model=version.model.name,
        details={"job_id": job.id, "target": job.target_kind, **details},
    )


def mark_dispatched(session: Session, job_ids: list[int]) -> None:
    session.execute(
        update(ConversionJob).where(ConversionJob.id.in_(job_ids)).values(dispatched_at=utcnow())
    )


def claim(
    session: Session, job_id: int, worker: str, lease_seconds: int, task_id: str = ""
) -> ConversionJob | None:
    """Take a job for this worker: it must be queued (and due), or running under an expired
    lease. Returns the claimed job with its version and model, or None.

    The conditional UPDATE is the lock: of two deliveries of one job, only one claims it.
    """
    now = utcnow()
    claimed = session.execute(
        update(ConversionJob)
        .where(
            ConversionJob.id == job_id,
            or_(
                (ConversionJob.status == "queued") & _due(now),
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
    if not claimed:
        return None
    job = session.scalars(
        _with_version(select(ConversionJob)).where(ConversionJob.id == job_id)
    ).one()
    details = {"attempt": job.attempts, "worker": worker, "task_id": task_id}
    record_job_event(session, job, "job.started", details)
    if job.target_kind != PROFILE and not _mark_converting(session, job):
        refresh_version_status(session, job.version)
    return job


def _mark_converting(session: Session, job: ConversionJob) -> bool:
    """A claimed conversion that is the latest job of its target makes its version
    `converting`, whatever its other jobs say: one UPDATE (taking the version's row lock, as
    `refresh_version_status` does) and no reads. False, changing nothing, when a later job of
    that target supersedes the claimed one: then the other jobs decide."""
    superseded = (
        select(ConversionJob.id)
        .where(
            ConversionJob.version_id == job.version_id,
            ConversionJob.target_kind == job.target_kind,
            ConversionJob.id > job.id,
        )
        .exists()
    )
    marked = session.execute(
        update(ModelVersion)
        .where(ModelVersion.id == job.version_id, ~superseded)
        .values(status="converting", status_detail=""),
        execution_options={"synchronize_session": False},
    ).rowcount
    if marked:
        set_committed_value(job.version, "status", "converting")
        set_committed_value(job.version, "status_detail", "")
    return bool(marked)


def renew_lease(session: Session, job_id: int, worker: str, lease_seconds: int) -> None:
    """Push a running job's lease out: only a dead worker's job expires."""
    session.execute(
        update(ConversionJob)
        .where(_held_by(job_id, worker))
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
    )


def held_attempt(session: Session, job_id: int, worker: str) -> ConversionJob | None:
    """The job, locked, while `worker` still runs it; None once it ended or another worker
    took it over (its lease ran out while this one could not reach the database)."""
    return session.scalar(
        _with_version(select(ConversionJob))
        .where(_held_by(job_id, worker))
        .with_for_update(of=ConversionJob)
    )


def _with_version(statement: Select) -> Select:
    """Jobs read with their version and model in the same query: every job step names them."""
    return statement.options(joinedload(ConversionJob.version).joinedload(ModelVersion.model))


def _held_by(job_id: int, worker: str) -> ColumnElement[bool]:
    return (
        (ConversionJob.id == job_id)
        & (ConversionJob.status == "running")
        & (ConversionJob.worker == worker)
    )


def _status_follows(session: Session, job: ConversionJob) -> None:
    """A conversion job's change moves its version's status; a profile job's never does (the
    status, its problems and the profile job queued once ready ignore profile jobs)."""
    if job.target_kind != PROFILE:
        refresh_version_status(session, job.version)


def _due(now: datetime) -> ColumnElement[bool]:
    return ConversionJob.retry_at.is_(None) | (ConversionJob.retry_at <= now)


def finish(session: Session, job: ConversionJob, outcome: dict) -> None:
    job.status = "succeeded"
    job.error = ""
    job.outcome = outcome
    job.finished_at = utcnow()
    job.lease_expires_at = None
    job.retry_at = job.unavailable_since = None
    record_job_event(session, job, "job.succeeded", {"attempt": job.attempts, "outcome": outcome})
    _status_follows(session, job)


def fail(
    session: Session,
    job: ConversionJob,
    message: str,
    *,
    retry: bool,
    max_attempts: int,
    resend: bool = True,
) -> bool:
    """Record a failed attempt. Returns True when the job goes back to the queue.

    A requeued job is sent to the workers after commit, unless `resend` is False: the broker
    still holds its message (a delivery whose worker process died is redelivered).
    """
    requeue = retry and job.attempts < max_attempts
    job.error = message if requeue else _final_message(job, message, retry)
    job.status = "queued" if requeue else "failed"
    job.finished_at = None if requeue else utcnow()
    job.lease_expires_at = None
    job.retry_at = job.unavailable_since = None
    details = {"attempt": job.attempts, "error": message, "requeued": requeue}
    record_job_event(session, job, "job.failed", details)
    _status_follows(session, job)
    if requeue and resend:
        # Waiting for the after-commit sender again; if it fails, the sweep sends it.
        job.dispatched_at, job.queued_at = None, utcnow()
        send_after_commit(session, job)
    elif requeue:
        # The broker holds its message again from now (it redelivers a dead process's job).
        job.dispatched_at = utcnow()
    return requeue


def defer(session: Session, job: ConversionJob, message: str, *, window_seconds: int) -> bool:
    """Record an attempt that could not reach storage or the database. Returns True when
    the job waits to be tried again, False when it failed for good.

    Such an attempt does not count against `max_attempts`: the job is retried with growing
    delays (the sweep sends it once due) until the outage has lasted `window_seconds`, and
    then fails with a message that says so.
    """
    now = utcnow()
    since = job.unavailable_since or now
    unreachable_for = now - since
    window = timedelta(seconds=window_seconds)
    job.lease_expires_at = None
    if unreachable_for >= window:
        job.status, job.finished_at = "failed", now
        job.retry_at = job.unavailable_since = None
        job.error = (
            f"gave up after retrying for {unreachable_for.total_seconds():.0f} s "
            f"(REGISTRY_JOB_RETRY_WINDOW_SECONDS={window_seconds}): {message}"
        )
    else:
        delay = min(max(unreachable_for, FIRST_RETRY_DELAY), LONGEST_RETRY_DELAY)
        job.status, job.attempts = "queued", job.attempts - 1
        job.retry_at, job.unavailable_since = now + delay, since
        # Not dispatched: the sweep sends it once `retry_at` has passed.
        job.dispatched_at = None
        job.error = f"will retry at {job.retry_at.isoformat(timespec='seconds')}: {message}"
    details = {"error": message, "retry_at": job.retry_at and job.retry_at.isoformat()}
    record_job_event(session, job, "job.deferred", details)
    _status_follows(session, job)
    return job.status == "queued"


def _final_message(job: ConversionJob, message: str, retried: bool) -> str:
    if retried:
        return f"gave up after {job.attempts} attempts: {message}"
    return message


def requeue(session: Session, version: ModelVersion, targets: list[str], actor: str) -> list[int]:
    """Queue the given targets of a version again (a re-run asked for by a person)."""
    job_ids = [queue_job(session, version, target, actor).id for target in targets]
    audit.record(
        session,
        actor,
        "conversion.rerun",
        audit.version_subject(version.model.name, version.number),
        model=version.model.name,
        details={"targets": targets, "job_ids": job_ids},
    )
    refresh_version_status(session, version)
    return job_ids


def stranded(
    session: Session,
    *,
    send_grace: timedelta,
    broker_emptied_at: datetime | None = None,
    limit: int = 500,
) -> list[int]:
    """Up to `limit` jobs the broker can no longer deliver, locked for the sweep to send
    (again) and mark dispatched in this transaction; rows another sweep holds are skipped:

    - queued and due, never handed to the broker (it was down, or the sender's process ended)
      for longer than `send_grace`, so the after-commit sender had its chance;
    - deferred and now due (nobody else sends those);
    - running under a lease that ran out (its worker stopped renewing) and not sent since;
    - jobs the broker took before `broker_emptied_at`, a moment (one sweep ago) its queue was
      seen empty, that no worker has claimed since: their messages are gone (a broker
      restarted without persistence), as one still held would have been in that queue.

    A job handed to the broker and still waiting in its queue is not lost, however long the
    queue: sending it again would only lengthen the queue it waits in.
    """
    now = utcnow()
    queued = (ConversionJob.status == "queued") & _due(now)
    lease_ended = (ConversionJob.status == "running") & (ConversionJob.lease_expires_at < now)
    never_sent = ConversionJob.dispatched_at.is_(None) & (
        ConversionJob.retry_at.is_not(None) | (ConversionJob.queued_at < now - send_grace)
    )
    # A lease runs from its claim, after the message that claim came from was sent: a message
    # sent after the lease ran out is the sweep's own, still on its way.
    not_sent_since = ConversionJob.dispatched_at.is_(None) | (
        ConversionJob.dispatched_at < ConversionJob.lease_expires_at
    )
    lost = [queued & never_sent, lease_ended & not_sent_since]
    if broker_emptied_at is not None:
        lost.append((queued | lease_ended) & (ConversionJob.dispatched_at < broker_emptied_at))
    statement = select(ConversionJob.id).where(or_(*lost)).order_by(ConversionJob.id).limit(limit)
    return list(session.scalars(statement.with_for_update(skip_locked=True)))


def unsettled_versions(session: Session) -> list[ModelVersion]:
    """Versions still marked pending or converting although none of their jobs is waiting
    or running: what a lost status update leaves behind, for the sweep to recompute."""
    active = select(ConversionJob.id).where(
        ConversionJob.version_id == ModelVersion.id,
        ConversionJob.status.in_(("queued", "running")),
        ConversionJob.target_kind != PROFILE,
    )
    return list(
        session.scalars(
            select(ModelVersion).where(
                ModelVersion.status.in_(("pending", "converting")), ~active.exists()
            )
        )
    )


def latest_jobs(version: ModelVersion) -> dict[str, ConversionJob]:
    """The most recent conversion job of each target kind (re-runs supersede earlier
    attempts); the profile job is no conversion, and a version's status does not wait for it."""
    latest: dict[str, ConversionJob] = {}
    for job in sorted(version.jobs, key=lambda j: j.id):
        if job.target_kind != PROFILE:
            latest[job.target_kind] = job
    return latest


def _queue_profile_if_due(session: Session, version: ModelVersion) -> None:
    """Once a version is ready, profile its variants, unless a profile job came after its
    latest conversions already, or their bytes were all measured before."""
    conversions = latest_jobs(version).values()
    newest = max(conversions, key=lambda j: j.id, default=None)
    if newest is None or any(j.target_kind == PROFILE and j.id > newest.id for j in version.jobs):
        return
    if adopt_known_profiles(session, version):
        queue_job(session, version, PROFILE, newest.created_by, options={})


def refresh_version_status(session: Session, version: ModelVersion) -> None:
    """A version's status follows its jobs and the parity of its variants.

    Two workers finishing jobs of one version at once would each read the other's job as
    still running and the later commit would leave the version `converting` for good. The
    version's row lock makes them take turns; under READ COMMITTED the statements after it
    see the job rows the other committed.
    """
    session.flush()
    previous = session.scalar(
        select(ModelVersion.status).where(ModelVersion.id == version.id).with_for_update()
    )
    for relation, collection in ((ConversionJob, "jobs"), (Artifact, "artifacts")):
        rows = session.scalars(
            select(relation)
            .where(relation.version_id == version.id)
            .order_by(relation.id)
            .execution_options(populate_existing=True)
        ).all()
        set_committed_value(version, collection, rows)
    jobs = latest_jobs(version).values()
    statuses = {job.status for job in jobs}
    if statuses & {"queued", "running"}:
        version.status = (
            "converting" if "running" in statuses or "succeeded" in statuses else "pending"
        )
        version.status_detail = ""
        return
    problems = version_problems(version)
    version.status = "failed" if problems else "ready"
    version.status_detail = "; ".join(problem["summary"] for problem in problems)
    if version.status != previous:
        _record_settled(session, version, jobs)
    if version.status == "ready":
        _queue_profile_if_due(session, version)


def _record_settled(session: Session, version: ModelVersion, jobs: Iterable[ConversionJob]) -> None:
    """`version.ready` or `version.failed`, once per settling (the previous status is read
    under the row lock, so two workers finishing one version do not both record it); the actor
    is whoever caused its latest conversions."""
    latest = max(jobs, key=lambda job: job.id, default=None)
    audit.record(
        session,
        latest.created_by if latest else version.created_by,
        f"version.{version.status}",
        audit.version_subject(version.model.name, version.number),
        model=version.model.name,
        details={
            "version": version.number,
            "status_detail": version.status_detail,
            "artifacts": [
                {"kind": artifact.kind, "sha256": artifact.sha256, "size": artifact.size}
                for artifact in sorted(version.artifacts, key=lambda artifact: artifact.kind)
            ],
        },
    )


def version_problems(version: ModelVersion) -> list[dict]:
    """What is wrong with a version's variants: failed conversions and failed parity checks,
    each with the figures a person deciding whether to deploy it needs."""
    problems = [
        {
            "kind": job.target_kind,
            "problem": "conversion failed",
            "job_id": job.id,
            "error": job.error,
            "summary": f"{job.target_kind} failed: {job.error}",
        }
        for job in latest_jobs(version).values()
        if job.status == "failed"
    ]
    problems += [
        {
            "kind": artifact.kind,
            "problem": "parity failed",
            "job_id": artifact.job_id,
            "parity": artifact.parity,
            "summary": f"{artifact.kind} failed parity: "
            f"{(artifact.parity or {}).get('reason') or ''}".rstrip(": "),
        }
        for artifact in version.artifacts
        if artifact.parity_passed is False
    ]
    return problems
