"""The workers' sweep: what the broker can no longer deliver is sent again, versions whose
status missed their jobs' end are settled, and webhook deliveries due are sent (again). Each
worker's main process runs one, every `sweep_interval_seconds`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from registry.db.models import utcnow
from registry.domain import jobs, webhooks
from registry.services import Services

# How long the after-commit sender has to hand a new job to the broker before the sweep does.
SEND_GRACE = timedelta(seconds=10)
# Jobs (or deliveries) the sweep sends per transaction.
SWEEP_BATCH = 500


class Sweeper:
    """Sends what the broker can no longer deliver (`jobs.stranded`, `webhooks.due_deliveries`),
    and settles versions whose status missed their jobs' end. Remembers whether the broker's
    queue was empty at its previous sweep: a job or delivery the broker took before then that
    no worker has taken up since is lost.
    """

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self._emptied_at: datetime | None = None

    def sweep(self) -> list[int]:
        """One sweep; returns the jobs it sent (again)."""
        checked_at = utcnow()
        emptied = self.svc.job_queue.waiting() == 0
        with self.svc.sessions.begin() as session:
            for version in jobs.unsettled_versions(session):
                jobs.refresh_version_status(session, version)
        queue = self.svc.job_queue
        resent = self._send_lost(jobs.stranded, queue.send, jobs.mark_dispatched)
        self._send_lost(webhooks.due_deliveries, queue.send_deliveries, webhooks.mark_dispatched)
        self._emptied_at = checked_at if emptied else None
        return resent

    def _send_lost(
        self,
        lost: Callable[..., list[int]],
        publish: Callable[[list[int]], list[int]],
        mark_dispatched: Callable[[Session, list[int]], None],
    ) -> list[int]:
        """Sends what `lost` finds (jobs or webhook deliveries), a batch per transaction."""
        resent: list[int] = []
        while True:
            # Selected, sent and marked dispatched under the rows' locks: another worker's sweep
            # running at the same moment skips them instead of sending them too.
            with self.svc.sessions.begin() as session:
                batch = lost(
                    session,
                    send_grace=SEND_GRACE,
                    broker_emptied_at=self._emptied_at,
                    limit=SWEEP_BATCH,
                )
                sent = publish(batch) if batch else []
                if sent:
                    mark_dispatched(session, sent)
            resent += sent
            if len(sent) < SWEEP_BATCH:
                return resent
