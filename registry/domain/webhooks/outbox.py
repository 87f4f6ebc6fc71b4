"""Deliveries: what must be sent, written with the change it tells about, and each attempt.

An audit event whose action tells about a webhook event (`version.ready`, `version.failed`,
`alias.set` / `alias.moved`) adds one delivery row per endpoint that wants it, in the same
transaction (the audit log's observer, `queue_deliveries`): a change that commits has its
deliveries recorded, one that rolls back has none. After the commit the deliveries are sent to
the workers (`take_deliveries_to_send`); a delivery the broker did not take or lost, or whose
next attempt is due, is sent again by the workers' sweep (`due_deliveries`). A worker claims one
attempt at a time under a lease (`claim_attempt`), sends it outside any transaction, and
records how it went (`record_attempt`): delivered on a 2xx answer, otherwise tried again on
the retry schedule until `max_attempts`, then failed; a 410 Gone answer removes the endpoint.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from registry.db.models import WebhookDelivery, WebhookEndpoint, utcnow
from registry.domain.ledger import audit
from registry.domain.ledger.cursors import decode_cursor, encode_cursor
from registry.domain.webhooks import endpoints
from registry.errors import InvalidRequest

# The audit actions that tell about each webhook event.
EVENT_OF_ACTION = {
    "version.ready": "version.ready",
    "version.failed": "version.failed",
    "alias.set": "alias.moved",
    "alias.moved": "alias.moved",
}
# Waits after the 1st, 2nd... failed attempt: the Standard Webhooks example schedule, each
# with up to 10% jitter so that deliveries failed together do not come back together.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
# An answer by which a receiver asks for no more deliveries; the endpoint is removed.
GONE = 410
# The actor of that removal: not a token name (those hold no `:`), so never mistaken for one.
REGISTRY_ACTOR = "registry:webhooks"
PAGE_SIZE = 100
_TO_SEND = "registry.webhooks.to_send"


@dataclass(frozen=True)
class Attempt:
    """One claimed attempt of a delivery: everything needed to send it, outside a session."""

    delivery_id: int
    number: int
    url: str
    secret: str
    message_id: str
    body: str


def queue_deliveries(session: Session, events: list[audit.PendingEvent]) -> None:
    """The audit log's observer: a delivery per event and endpoint that wants it."""
    told = [(EVENT_OF_ACTION[e.action], e) for e in events if e.action in EVENT_OF_ACTION]
    if not told:
        return
    endpoints = session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.removed_at.is_(None))
    ).all()
    deliveries = []
    for event, item in told:
        wanting = [endpoint for endpoint in endpoints if event in endpoint.events]
        if not wanting:
            continue
        message_id = f"msg_{uuid.uuid4().hex}"
        body = payload(message_id, event, item)
        deliveries += [
            WebhookDelivery(endpoint_id=endpoint.id, message_id=message_id, event=event, body=body)
            for endpoint in wanting
        ]
    if deliveries:
        session.add_all(deliveries)
        session.flush()
        session.info.setdefault(_TO_SEND, []).extend(delivery.id for delivery in deliveries)


def payload(message_id: str, event: str, item: audit.PendingEvent) -> str:
    """The body of every attempt: `id`, `type`, `timestamp` (when it happened) and `data`
    (the model, who did it, and the audit event's details: version, previous version...)."""
    data = {"model": item.model, "actor": item.actor}
    if event == "alias.moved":
        # The subject is `model/<model>/alias/<alias>`; names hold no `/`.
        data["alias"] = item.subject.rsplit("/", 1)[1]
    document = {
        "id": message_id,
        "type": event,
        "timestamp": audit.iso_time(utcnow()),
        "data": {**data, **item.details},
    }
    return json.dumps(document, separators=(",", ":"))


def take_deliveries_to_send(session: Session) -> list[int]:
    """The deliveries a just-committed transaction recorded, for its after-commit hook."""
    return session.info.pop(_TO_SEND, [])


def mark_dispatched(session: Session, delivery_ids: list[int]) -> None:
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(delivery_ids))
        .values(dispatched_at=utcnow())
    )


def _unleased(now):
    return WebhookDelivery.lease_expires_at.is_(None) | (WebhookDelivery.lease_expires_at < now)


def due_deliveries(
    session: Session,
    *,
    send_grace: timedelta,
    broker_emptied_at: datetime | None = None,
    limit: int = 500,
) -> list[int]:
    """Up to `limit` deliveries the broker can no longer deliver, locked for the sweep to send
    (again) and mark dispatched in this transaction, by the rules of `jobs.stranded`:

    - never handed to the broker for longer than `send_grace` (the after-commit sender had
      its chance);
    - due for a retry since their last message (nobody else sends those);
    - claimed under a lease that ran out (the worker stopped with it) and not sent since;
    - taken by the broker before `broker_emptied_at`, a moment its queue was seen empty, and
      still due with no attempt under way: their messages are gone.

    A delivery whose message still waits in the broker's queue is not lost, however long the
    queue.
    """
    now = utcnow()
    sent_at = WebhookDelivery.dispatched_at
    lease_ended = WebhookDelivery.lease_expires_at < now
    lost = [
        sent_at.is_(None) & (WebhookDelivery.created_at < now - send_grace),
        sent_at < WebhookDelivery.next_attempt_at,
        lease_ended & (sent_at.is_(None) | (sent_at < WebhookDelivery.lease_expires_at)),
    ]
    if broker_emptied_at is not None:
        lost.append(sent_at < broker_emptied_at)
    statement = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            _unleased(now),
            or_(*lost),
        )
        .order_by(WebhookDelivery.id)
        .limit(limit)
    )
    return list(session.scalars(statement.with_for_update(skip_locked=True)))


def claim_attempt(session: Session, delivery_id: int, lease_seconds: float) -> Attempt | None:
    """Take the delivery's next attempt if it is due and no attempt is under way; None if not
    (it was delivered, or a duplicate message came, or it is not due yet).

    The conditional UPDATE is the lock: of two messages of one delivery, one attempt runs.
    """
    now = utcnow()
    claimed = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            _unleased(now),
        )
        .values(
            attempts=WebhookDelivery.attempts + 1,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
        )
    ).rowcount
    if not claimed:
        return None
    delivery = session.get(WebhookDelivery, delivery_id)
    return Attempt(
        delivery_id=delivery.id,
        number=delivery.attempts,
        url=delivery.endpoint.url,
        secret=delivery.endpoint.secret,
        message_id=delivery.message_id,
        body=delivery.body,
    )


def record_attempt(
    session: Session,
    attempt: Attempt,
    status_code: int | None,
    error: str,
    *,
    max_attempts: int,
) -> str:
    """How an attempt went (`error` empty for a 2xx answer); returns the delivery's status."""
    delivery = session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == attempt.delivery_id).with_for_update()
    )
    if delivery.status != "pending":  # its endpoint was removed meanwhile
        return delivery.status
    now = utcnow()
    delivery.status_code, delivery.last_error = status_code, error
    delivery.lease_expires_at = None
    if not error:
        delivery.status, delivery.finished_at = "delivered", now
    elif status_code == GONE:
        delivery.status, delivery.finished_at = "failed", now
        session.flush()
        reason = "it answered 410 Gone, asking for no more deliveries"
        endpoints.remove_endpoint(session, delivery.endpoint_id, REGISTRY_ACTOR, reason=reason)
    elif delivery.attempts >= max_attempts:
        delivery.status, delivery.finished_at = "failed", now
        delivery.last_error = f"gave up after {delivery.attempts} attempts: {error}"
    else:
        delivery.next_attempt_at = now + retry_delay(delivery.attempts)
    return delivery.status


def retry_delay(failed_attempts: int) -> timedelta:
    """How long to wait after that many failed attempts."""
    delay = RETRY_DELAYS[min(failed_attempts, len(RETRY_DELAYS)) - 1]
    return delay * random.uniform(1.0, 1.1)


def list_deliveries(
    session: Session, endpoint_id: int, *, cursor: str = "", limit: int = PAGE_SIZE
) -> tuple[list[WebhookDelivery], str | None]:
    """A page of an endpoint's deliveries, newest first, and the cursor of the next page."""
    statement = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if cursor:
        statement = statement.where(WebhookDelivery.id < _position(cursor))
    limit = max(1, min(limit, 1000))
    rows = list(session.scalars(statement.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _position(cursor: str) -> int:
    after = decode_cursor(cursor)
    if not isinstance(after, int) or isinstance(after, bool):
        raise InvalidRequest(f"invalid cursor {cursor!r}: pass back the one a page gave")
    return after
