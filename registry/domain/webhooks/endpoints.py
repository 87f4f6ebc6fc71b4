"""Webhook endpoints: registered, listed and removed by admins; each change audited."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.db.models import WebhookDelivery, WebhookEndpoint, utcnow
from registry.domain.ledger import audit
from registry.domain.webhooks import addresses, signing
from registry.errors import InvalidRequest, WebhookNotFound
from registry.vocabulary import WEBHOOK_EVENTS as EVENTS


@dataclass(frozen=True)
class IssuedEndpoint:
    """A new endpoint, and its secret, which the registry shows this once."""

    record: WebhookEndpoint
    secret: str


def register_endpoint(
    session: Session,
    url: str,
    events: Iterable[str],
    actor: str,
    *,
    secret: str | None = None,
    allow_private: bool = False,
) -> IssuedEndpoint:
    """Register `url` for `events`, signing with `secret` (a new one when None).

    A URL whose host is not public is refused (UnsafeAddress) unless `allow_private`.
    """
    target = addresses.parse_url(url)
    if not allow_private:
        addresses.checked_addresses(target, allow_private=False)
    wanted = sorted(set(events))
    unknown = [event for event in wanted if event not in EVENTS]
    if not wanted or unknown:
        raise InvalidRequest(
            f"events: choose one or more of {', '.join(EVENTS)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    secret = secret or signing.new_secret()
    signing.signing_key(secret)
    endpoint = WebhookEndpoint(url=target.url, secret=secret, events=wanted, created_by=actor)
    session.add(endpoint)
    session.flush()
    # The host, not the URL: a URL may carry a receiver's token, and audit events are readable
    # by every reader while endpoints are listed to admins only.
    details = {"host": target.host, "events": wanted}
    subject = audit.webhook_subject(endpoint.id)
    audit.record(session, actor, "webhook.created", subject, details=details)
    return IssuedEndpoint(endpoint, secret)


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    """The endpoints not removed, oldest first."""
    statement = select(WebhookEndpoint).where(WebhookEndpoint.removed_at.is_(None))
    return list(session.scalars(statement.order_by(WebhookEndpoint.id)))


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    """The endpoint, removed or not (its delivery log stays readable); WebhookNotFound if none."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise WebhookNotFound(f"no webhook {endpoint_id}; `registry webhook list` shows them")
    return endpoint


def remove_endpoint(
    session: Session, endpoint_id: int, actor: str, *, reason: str = ""
) -> WebhookEndpoint:
    """Stop telling the endpoint anything: deliveries still waiting are cancelled."""
    endpoint = get_endpoint(session, endpoint_id)
    if endpoint.removed_at is not None:
        raise WebhookNotFound(f"webhook {endpoint_id} was removed already")
    now = utcnow()
    endpoint.removed_at, endpoint.removed_by = now, actor
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "pending")
        .values(status="cancelled", last_error="the endpoint was removed", finished_at=now)
    )
    details = {"reason": reason} if reason else {}
    subject = audit.webhook_subject(endpoint.id)
    audit.record(session, actor, "webhook.removed", subject, details=details)
    return endpoint
