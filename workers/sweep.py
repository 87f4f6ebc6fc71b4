"""The workers' sweep: what the broker can no longer deliver is sent again, versions whose
status missed their jobs' end are settled, and webhook deliveries due are sent (again). Each
worker's main process runs one, every `sweep_interval_seconds`."""

from __future__ import annotations

from datetime import datetime, timedelta

from registry.db.models import utcnow
from registry.domain import jobs, webhooks
from registry.services import Services

# How long the after-commit sender has to hand a new job to the broker before the sweep does.
SEND_GRACE = timedelta(seconds=10)
# Jobs the sweep sends per transaction.
SWEEP_BATCH = 500


class Sweeper:
    """Sends what the broker can no longer deliver (see `jobs.stranded`), and settles versions
    whose status missed their jobs' end. Remembers whether the broker's queue was empty at its
    previous sweep: a job the broker took before then and no worker has claimed since is lost.
    """

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self._emptied_at: datetime | None = None

    def sweep(self) -> list[int]:
        checked_at = utcnow()
        emptied = self.svc.job_queue.waiting() == 0
        with self.svc.sessions.begin() as session:
            for version in jobs.unsettled_versions(session):
                jobs.refresh_version_status(session, version)
        resent: list[int] = []
        while True:
            # Selected, sent and marked dispatched under the rows' locks: another worker's sweep
            # running at the same moment skips them instead of sending them too.
            with self.svc.sessions.begin() as session:
                batch = jobs.stranded(
                    session,
                    send_grace=SEND_GRACE,
                    broker_emptied_at=self._emptied_at,
                    limit=SWEEP_BATCH,
                )
                sent = self.svc.job_queue.send(batch) if batch else []
                if sent:
                    jobs.mark_dispatched(session, sent)
            resent += sent
            if len(sent) < SWEEP_BATCH:
                break
        self._emptied_at = checked_at if emptied else None
        with self.svc.sessions.begin() as session:
            deliveries = webhooks.due_deliveries(
                session, redispatch_after_seconds=self.svc.settings.job_lease_seconds
            )
        if deliveries:
            self.svc.send_deliveries(deliveries)
        return resent
