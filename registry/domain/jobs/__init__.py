"""Conversion jobs: the database's record of what must run, claimed under leases, and the
status a version takes from its jobs.

- `queue`: the job lifecycle (`queue_job`, `claim`, `renew_lease`, `held_attempt`,
  `finish`, `fail`, `defer`, `requeue`, `stranded`), jobs sent after commit, and a version's status
  (`refresh_version_status`, `version_problems`);
- `found_outputs`: a graph uploaded without output_nodes is described once to find them,
  then converted with them (`outputs_to_find`);
- `variants`: what a finished job made (`record_variant`, `find_reusable`, `reuse_variant`),
  and what the profile job measured (`record_profile`);
- `profiles`: what a profile job measures, less what the same bytes were measured with
  before (`adopt_known_profiles`);
- `statistics`: figures about jobs for `/metrics` and the job log lines.
"""

from registry.domain.jobs.found_outputs import outputs_to_find
from registry.domain.jobs.profiles import adopt_known_profiles
from registry.domain.jobs.queue import (
    claim,
    defer,
    fail,
    finish,
    held_attempt,
    latest_jobs,
    mark_dispatched,
    queue_job,
    record_job_event,
    refresh_version_status,
    renew_lease,
    requeue,
    send_after_commit,
    stranded,
    take_jobs_to_send,
    unsettled_versions,
    version_problems,
)
from registry.domain.jobs.statistics import job_statistics, job_summary
from registry.domain.jobs.variants import (
    find_reusable,
    record_profile,
    record_signature,
    record_variant,
    reuse_variant,
)

__all__ = [
    "adopt_known_profiles",
    "claim",
    "defer",
    "fail",
    "find_reusable",
    "finish",
    "held_attempt",
    "job_statistics",
    "job_summary",
    "latest_jobs",
    "renew_lease",
    "send_after_commit",
    "take_jobs_to_send",
    "mark_dispatched",
    "outputs_to_find",
    "queue_job",
    "record_job_event",
    "record_profile",
    "record_signature",
    "record_variant",
    "refresh_version_status",
    "requeue",
    "reuse_variant",
    "stranded",
    "unsettled_versions",
    "version_problems",
]
