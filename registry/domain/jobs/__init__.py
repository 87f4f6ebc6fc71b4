"""Conversion jobs: the database's record of what must run, claimed under leases, and the
status a version takes from its jobs.

`queue` holds the job lifecycle (`queue_job`, `claim`, `lease_kept`, `finish`, `fail`,
`requeue`, `stranded`) and a version's status (`refresh_version_status`, `version_problems`);
`statistics` reads figures about jobs for `/metrics` and the job log lines.
"""

from registry.domain.jobs.queue import (
    claim,
    fail,
    finish,
    latest_jobs,
    lease_kept,
    mark_dispatched,
    queue_job,
    record_job_event,
    refresh_version_status,
    requeue,
    stranded,
    unsettled_versions,
    version_problems,
)
from registry.domain.jobs.statistics import job_statistics, job_summary

__all__ = [
    "claim",
    "fail",
    "finish",
    "job_statistics",
    "job_summary",
    "latest_jobs",
    "lease_kept",
    "mark_dispatched",
    "queue_job",
    "record_job_event",
    "refresh_version_status",
    "requeue",
    "stranded",
    "unsettled_versions",
    "version_problems",
]
