"""Figures about conversion jobs, read from the jobs table: queue depth, outcomes, durations.

The jobs table is the one record every worker writes, on whichever machine it runs, so these
figures need no metrics plumbing between workers and the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, case, extract, func, select
from sqlalchemy.orm import Session

from registry.db.models import ConversionJob, Model, ModelVersion

# Upper bounds (seconds) of the conversion-duration buckets: describe jobs take well under a
# second, a large checkpoint's TFLite conversion with parity minutes.
DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


@dataclass
class DurationHistogram:
    """Finished jobs of one target kind: cumulative counts per bucket bound, count and sum."""

    cumulative: list[tuple[float, int]]
    count: int
    total_seconds: float


@dataclass
class JobStatistics:
    # (target kind, status) -> jobs, and the attempts they took.
    jobs: dict[tuple[str, str], int] = field(default_factory=dict)
    attempts: dict[tuple[str, str], int] = field(default_factory=dict)
    # target kind -> durations of its succeeded jobs (their last attempt).
    durations: dict[str, DurationHistogram] = field(default_factory=dict)

    def queue_depth(self, status: str) -> int:
        return sum(n for (_, job_status), n in self.jobs.items() if job_status == status)


def job_statistics(session: Session) -> JobStatistics:
    """Two grouped queries over the jobs table: only aggregates leave the database."""
    stats = JobStatistics()
    by_kind = session.execute(
        select(
            ConversionJob.target_kind,
            ConversionJob.status,
            func.count(),
            func.coalesce(func.sum(ConversionJob.attempts), 0),
        ).group_by(ConversionJob.target_kind, ConversionJob.status)
    )
    for target, status, count, attempts in by_kind:
        stats.jobs[(target, status)] = count
        stats.attempts[(target, status)] = int(attempts)

    seconds = _duration_seconds(session)
    finished = (ConversionJob.status == "succeeded") & ConversionJob.started_at.is_not(None)
    buckets = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
    rows = session.execute(
        select(ConversionJob.target_kind, func.count(), func.sum(seconds), *buckets)
        .where(finished)
        .group_by(ConversionJob.target_kind)
    )
    for target, count, total, *cumulative in rows:
        stats.durations[target] = DurationHistogram(
            cumulative=[
                (b, int(n or 0)) for b, n in zip(DURATION_BUCKETS, cumulative, strict=True)
            ],
            count=count,
            total_seconds=float(total or 0.0),
        )
    return stats


def _duration_seconds(session: Session) -> ColumnElement[float]:
    """finished_at - started_at in seconds, in the SQL of the database at hand."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite keeps timestamps as ISO text; julianday() turns them into fractional days.
        return (
            func.julianday(ConversionJob.finished_at) - func.julianday(ConversionJob.started_at)
        ) * 86400.0
    return extract("epoch", ConversionJob.finished_at - ConversionJob.started_at)


@dataclass
class JobSummary:
    """What a job log line names besides the outcome: which version and target, how often."""

    model: str
    version: int
    target: str
    attempts: int
    worker: str


def job_summary(session: Session, job_id: int) -> JobSummary | None:
    row = session.execute(
        select(
            Model.name,
            ModelVersion.number,
            ConversionJob.target_kind,
            ConversionJob.attempts,
            ConversionJob.worker,
        )
        .join(ModelVersion, ConversionJob.version_id == ModelVersion.id)
        .join(Model, ModelVersion.model_id == Model.id)
        .where(ConversionJob.id == job_id)
    ).one_or_none()
    return JobSummary(*row) if row else None
