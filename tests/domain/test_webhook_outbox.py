"""The webhook outbox on a real (SQLite) registry database: deliveries exist exactly when the
change they tell about commits, stop after the last attempt, and end with their endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from registry.db import make_engine, upgrade
from registry.db.models import WebhookDelivery, utcnow
from registry.domain import webhooks
from registry.domain.ledger import audit
from registry.services import open_sessions

MAX_ATTEMPTS = 3
GRACE = timedelta(seconds=10)


@pytest.fixture
def sessions(tmp_path) -> Iterator:
    url = f"sqlite:///{tmp_path}/registry.sqlite"
    upgrade(url)
    engine = make_engine(url)
    yield open_sessions(engine)
    engine.dispose()


def register(sessions, events=("alias.moved",)) -> int:
    with sessions.begin() as session:
        issued = webhooks.register_endpoint(
            session, "http://127.0.0.1:9/hooks", events, "tests", allow_private=True
        )
        return issued.record.id


def move_alias(session, model: str = "m") -> None:
    """The audit event an alias move records (the outbox listens to events, not to aliases)."""
    details = {"version": 2, "previous_version": 1}
    audit.record(
        session,
        "tests",
        "alias.moved",
        audit.alias_subject(model, "prod"),
        model=model,
        details=details,
    )


def deliveries(sessions) -> list[WebhookDelivery]:
    with sessions() as session:
        rows = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        session.expunge_all()
        return list(rows)


def make_due(sessions) -> None:
    """As if the retry delay had passed."""
    with sessions.begin() as session:
        session.execute(update(WebhookDelivery).values(next_attempt_at=WebhookDelivery.created_at))


def test_a_change_that_rolls_back_leaves_no_delivery_and_one_that_commits_leaves_one_per_endpoint(
    sessions,
):
    wanting, other = register(sessions), register(sessions, ("version.ready",))
    with pytest.raises(RuntimeError), sessions.begin() as session:
        move_alias(session)
        raise RuntimeError("the change fails")
    with sessions.begin() as session:
        move_alias(session)

    [delivery] = deliveries(sessions)
    assert delivery.endpoint_id == wanting and delivery.endpoint_id != other
    assert (delivery.event, delivery.status, delivery.attempts) == ("alias.moved", "pending", 0)


def test_a_delivery_failing_every_attempt_stops_after_the_last_saying_so(sessions):
    register(sessions)
    with sessions.begin() as session:
        move_alias(session)
    [delivery] = deliveries(sessions)

    outcomes = []
    for _ in range(MAX_ATTEMPTS):
        make_due(sessions)
        with sessions.begin() as session:
            attempt = webhooks.claim_attempt(session, delivery.id, lease_seconds=60)
        with sessions.begin() as session:
            outcomes.append(
                webhooks.record_attempt(
                    session, attempt, 500, "the endpoint answered 500", max_attempts=MAX_ATTEMPTS
                )
            )
    make_due(sessions)
    with sessions.begin() as session:
        after_the_last = webhooks.claim_attempt(session, delivery.id, lease_seconds=60)

    assert outcomes == ["pending", "pending", "failed"]
    assert after_the_last is None
    [failed] = deliveries(sessions)
    assert failed.attempts == MAX_ATTEMPTS and failed.status_code == 500
    assert failed.last_error == f"gave up after {MAX_ATTEMPTS} attempts: the endpoint answered 500"


def test_an_attempt_under_way_is_not_claimed_twice_and_a_retry_waits_its_delay(sessions):
    register(sessions)
    with sessions.begin() as session:
        move_alias(session)
    [delivery] = deliveries(sessions)

    with sessions.begin() as session:
        first = webhooks.claim_attempt(session, delivery.id, lease_seconds=60)
        duplicate = webhooks.claim_attempt(session, delivery.id, lease_seconds=60)
    with sessions.begin() as session:
        webhooks.record_attempt(session, first, None, "ConnectError", max_attempts=MAX_ATTEMPTS)
        too_early = webhooks.claim_attempt(session, delivery.id, lease_seconds=60)
        due_now = webhooks.due_deliveries(session, send_grace=GRACE)

    assert first is not None and first.number == 1
    assert duplicate is None and too_early is None
    assert due_now == []


def test_an_endpoint_answering_410_gone_is_removed_and_its_other_deliveries_cancelled(sessions):
    endpoint_id = register(sessions)
    with sessions.begin() as session:
        move_alias(session)
        move_alias(session, "other")
    first, second = deliveries(sessions)
    with sessions.begin() as session:
        attempt = webhooks.claim_attempt(session, first.id, lease_seconds=60)
    with sessions.begin() as session:
        error = "the endpoint answered 410"
        status = webhooks.record_attempt(session, attempt, 410, error, max_attempts=MAX_ATTEMPTS)
    with sessions() as session:
        listed = webhooks.list_endpoints(session)
        [removal] = [
            event for event in audit.all_events(session) if event["action"] == "webhook.removed"
        ]

    assert status == "failed"
    assert endpoint_id not in [endpoint.id for endpoint in listed]
    assert [d.status for d in deliveries(sessions)] == ["failed", "cancelled"]
    assert removal["actor"] == "registry:webhooks" and "410 Gone" in removal["details"]["reason"]


def test_removing_an_endpoint_cancels_what_waits_for_it(sessions):
    endpoint_id = register(sessions)
    with sessions.begin() as session:
        move_alias(session)
    with sessions.begin() as session:
        webhooks.remove_endpoint(session, endpoint_id, "tests")
        due = webhooks.due_deliveries(session, send_grace=GRACE)
    with sessions.begin() as session:
        move_alias(session)

    [cancelled] = deliveries(sessions)
    assert (cancelled.status, cancelled.last_error) == ("cancelled", "the endpoint was removed")
    assert due == []


def test_the_sweep_sends_a_delivery_again_only_when_the_broker_cannot_deliver_it(sessions):
    register(sessions)
    with sessions.begin() as session:
        move_alias(session)
    [delivery] = deliveries(sessions)

    def due(created_ago: timedelta, sent_ago: timedelta | None, emptied_ago=None) -> bool:
        now = utcnow()
        with sessions.begin() as session:
            session.execute(
                update(WebhookDelivery).values(
                    created_at=now - created_ago,
                    next_attempt_at=now - created_ago,
                    dispatched_at=None if sent_ago is None else now - sent_ago,
                )
            )
        with sessions.begin() as session:
            emptied_at = None if emptied_ago is None else now - emptied_ago
            found = webhooks.due_deliveries(session, send_grace=GRACE, broker_emptied_at=emptied_at)
            return found == [delivery.id]

    hour, minute = timedelta(hours=1), timedelta(minutes=1)
    # Committed a moment ago, its after-commit sender not done yet: left to it.
    assert not due(created_ago=timedelta(0), sent_ago=None)
    # Never handed to the broker, past the grace: sent.
    assert due(created_ago=minute, sent_ago=None)
    # Waiting in a long queue for an hour: not lost, however long it waits.
    assert not due(created_ago=hour, sent_ago=hour)
    # The broker's queue was seen empty after it was sent, and nothing took it: lost.
    assert due(created_ago=hour, sent_ago=hour, emptied_ago=minute)
    # Sent after the queue was seen empty: still on its way.
    assert not due(created_ago=hour, sent_ago=timedelta(seconds=1), emptied_ago=minute)

    # A worker claimed an attempt and stopped with it: sent again once its lease ran out.
    with sessions.begin() as session:
        attempt = webhooks.claim_attempt(session, delivery.id, lease_seconds=60)
    assert attempt is not None
    with sessions.begin() as session:
        held = webhooks.due_deliveries(session, send_grace=GRACE)
        session.execute(
            update(WebhookDelivery).values(
                dispatched_at=utcnow() - hour, lease_expires_at=utcnow() - minute
            )
        )
    with sessions.begin() as session:
        after_the_lease = webhooks.due_deliveries(session, send_grace=GRACE)
    assert held == [] and after_the_lease == [delivery.id]
