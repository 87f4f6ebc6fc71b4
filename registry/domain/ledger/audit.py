"""The append-only audit log: one hash-chained event per state change, and checking the chain.

Domain functions call `record()` inside the transaction that makes the change. The event is
appended when that transaction commits, as its last statements: the chain head row is locked
(`SELECT ... FOR UPDATE`), the event takes the next sequence number and chains from the head's
hash, and the head moves on. Locking the head last, just before COMMIT, keeps it held for
microseconds and outside every other lock order, so concurrent requests and workers neither
fork the chain nor deadlock on it. On SQLite, `BEGIN IMMEDIATE` already serializes writers.

Each event's hash is `sha256(prev_hash || canonical JSON of seq, time, actor, action, subject,
model, details)`, hex-encoded, `prev_hash` being the previous event's hash (64 zeros for the
first). Altering, inserting or removing any row breaks the chain from that row on.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from registry.db.models import AuditChainHead, AuditEvent, utcnow
from registry.domain.ledger.cursors import decode_cursor, encode_cursor
from registry.errors import InvalidRequest

GENESIS_HASH = "0" * 64
HEAD_ID = 1
PAGE_SIZE = 100
_PENDING = "registry.audit.pending"


@dataclass(frozen=True)
class PendingEvent:
    actor: str
    action: str
    subject: str
    model: str | None
    details: dict[str, Any]


def record(
    session: Session,
    actor: str,
    action: str,
    subject: str,
    *,
    model: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an event to the session's transaction; it is written when the transaction commits.

    Not for use inside a savepoint that may roll back on its own: the event would outlive it.
    """
    pending = session.info.setdefault(_PENDING, [])
    pending.append(PendingEvent(actor, action, subject, model, json_native(details or {})))


# Sees a transaction's events just before they are appended, in that transaction.
EventObserver = Callable[[Session, list[PendingEvent]], None]


def install(sessions: sessionmaker[Session], observers: Sequence[EventObserver] = ()) -> None:
    """Append recorded events when the sessions of `sessions` commit (only those: a Session of
    anyone else's in the process is left alone).

    Each observer is called with the events first, so that what it writes (webhook deliveries)
    commits or rolls back with the change the events record.
    """

    def append_pending(session: Session) -> None:
        pending = session.info.pop(_PENDING, None)
        if pending:
            for observe in observers:
                observe(session, pending)
            _append(session, pending)

    event.listen(sessions, "before_commit", append_pending)
    event.listen(sessions, "after_transaction_end", _discard_pending)


def _discard_pending(session: Session, transaction) -> None:
    # A rolled-back transaction takes its events with it; a savepoint's end is not the end.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def _append(session: Session, pending: list[PendingEvent]) -> None:
    session.flush()  # the change's own row locks come first; the head's lock is taken last
    # Plain statements on the transaction's connection: nothing here is an ORM object, and the
    # ORM's bulk paths cost more than the statements (every commit of every change runs these).
    connection = session.connection()
    head = AuditChainHead.__table__
    seq, prev_hash = connection.execute(
        select(head.c.seq, head.c.hash).where(head.c.id == HEAD_ID).with_for_update()
    ).one()
    rows = []
    for item in pending:
        seq += 1
        row = {
            "seq": seq,
            "time": utcnow(),
            "actor": item.actor,
            "action": item.action,
            "subject": item.subject,
            "model": item.model,
            "details": item.details,
        }
        row["prev_hash"] = prev_hash
        row["hash"] = prev_hash = event_hash(prev_hash, row)
        rows.append(row)
    connection.execute(insert(AuditEvent.__table__), rows)
    connection.execute(update(head).where(head.c.id == HEAD_ID).values(seq=seq, hash=prev_hash))


def iso_time(value: datetime | str) -> str:
    """One spelling of an event's time, the same after a round trip through either database."""
    if isinstance(value, str):
        return value
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_utc(value: datetime) -> datetime:
    """Aware and in UTC. SQLite hands back naive datetimes (they were stored as UTC), and keeps
    only the wall-clock time of what it is given, so times go in and come out as UTC."""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def parse_iso_time(text: str) -> datetime:
    """An ISO 8601 time (`Z` or an offset; none means UTC) as UTC; ValueError if it is not one."""
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def canonical(event_fields: Mapping[str, Any]) -> str:
    """The canonical JSON of an event's hashed fields."""
    return json.dumps(
        {
            "seq": event_fields["seq"],
            "time": iso_time(event_fields["time"]),
            "actor": event_fields["actor"],
            "action": event_fields["action"],
            "subject": event_fields["subject"],
            "model": event_fields.get("model"),
            "details": event_fields["details"],
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def event_hash(prev_hash: str, event_fields: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(event_fields)).encode()).hexdigest()


def json_native(value: Any) -> Any:
    """Details as plain JSON, so they hash the same before and after storage.

    Non-finite floats (a parity figure on NaN outputs) become strings: PostgreSQL's JSON has no
    NaN, and an event that cannot be stored would fail the change it records.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_native(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_native(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def event_record(row: AuditEvent) -> dict[str, Any]:
    """An event as the API and the export show it: everything needed to re-check its hash."""
    return {
        "seq": row.seq,
        "time": iso_time(row.time),
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
        "model": row.model,
        "details": row.details,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


@dataclass
class EventFilter:
    model: str = ""
    actor: str = ""
    # An exact action (`alias.moved`) or a family (`job.*`).
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> EventFilter:
        return cls(
            model=args.get("model", ""),
            actor=args.get("actor", ""),
            action=args.get("action", ""),
            since=_parse_time("since", args.get("since", "")),
            until=_parse_time("until", args.get("until", "")),
        )


def _parse_time(what: str, text: str) -> datetime | None:
    if not text:
        return None
    try:
        return parse_iso_time(text)
    except ValueError as error:
        raise InvalidRequest(
            f"{what} must be an ISO 8601 time such as 2026-01-31T12:00:00Z, got {text!r}"
        ) from error


def list_events(
    session: Session, where: EventFilter, *, cursor: str = "", limit: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of events in sequence order, and the cursor of the next page."""
    statement = select(AuditEvent).order_by(AuditEvent.seq)
    if where.model:
        statement = statement.where(AuditEvent.model == where.model)
    if where.actor:
        statement = statement.where(AuditEvent.actor == where.actor)
    if where.action.endswith(".*"):
        family = where.action[:-1]
        statement = statement.where(AuditEvent.action.startswith(family, autoescape=True))
    elif where.action:
        statement = statement.where(AuditEvent.action == where.action)
    if where.since:
        statement = statement.where(AuditEvent.time >= where.since)
    if where.until:
        statement = statement.where(AuditEvent.time < where.until)
    if cursor:
        statement = statement.where(AuditEvent.seq > int(decode_cursor(cursor)))
    limit = max(1, min(limit, 1000))
    rows = list(session.scalars(statement.limit(limit + 1)))
    events = [event_record(row) for row in rows[:limit]]
    next_cursor = encode_cursor(events[-1]["seq"]) if len(rows) > limit else None
    return events, next_cursor


def all_events(session: Session, up_to_seq: int | None = None) -> Iterator[dict[str, Any]]:
    """Every event in order, streamed (for verifying and exporting a long log)."""
    statement = select(AuditEvent).order_by(AuditEvent.seq)
    if up_to_seq is not None:
        statement = statement.where(AuditEvent.seq <= up_to_seq)
    for row in session.scalars(statement.execution_options(yield_per=1000)):
        yield event_record(row)


def verify_events(
    events: Iterable[Mapping[str, Any]], *, head: tuple[int, str] | None = None
) -> dict[str, Any]:
    """Recompute the chain: `{"ok": true, "events": N}` or the first event that is wrong.

    `head` is the (seq, hash) the database says the chain ends at; without it (an export
    checked offline) a chain cut short at its end cannot be told from a shorter one.
    """
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for item in events:
        seq = item.get("seq")
        if seq != expected_seq:
            return _broken(expected_seq, checked, f"event {expected_seq} is missing (found {seq})")
        if item.get("prev_hash") != prev_hash:
            return _broken(seq, checked, f"prev_hash does not chain from event {seq - 1}")
        try:
            computed = event_hash(prev_hash, item)
        except (KeyError, TypeError) as error:
            return _broken(seq, checked, f"event is malformed: {error}")
        if computed != item.get("hash"):
            return _broken(seq, checked, "hash does not match the event's contents")
        expected_seq, prev_hash, checked = seq + 1, computed, checked + 1
    if head is not None:
        head_seq, head_hash = head
        if checked < head_seq:
            return _broken(checked + 1, checked, f"events {checked + 1}..{head_seq} are missing")
        if head_hash != prev_hash:
            return _broken(head_seq, checked, "the chain head does not match the last event")
    return {"ok": True, "events": checked, "head_hash": prev_hash}


def _broken(seq: int, checked: int, reason: str) -> dict[str, Any]:
    return {"ok": False, "first_bad_seq": seq, "reason": reason, "events": checked}


def verify_chain(session: Session) -> dict[str, Any]:
    """Check the stored chain up to the head as it is now; later appends are left for later."""
    head = session.execute(
        select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == HEAD_ID)
    ).one()
    return verify_events(all_events(session, up_to_seq=head.seq), head=(head.seq, head.hash))


def read_export(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Events from an export's JSON lines (blank lines skipped)."""
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                yield json.loads(line)
            except ValueError as error:
                raise InvalidRequest(f"line {number} of the export is not JSON: {error}") from error


# Subjects name what an event is about, in one path-like spelling.
def model_subject(model: str) -> str:
    return f"model/{model}"


def version_subject(model: str, number: int) -> str:
    return f"model/{model}/version/{number}"


def job_subject(model: str, number: int, job_id: int) -> str:
    return f"model/{model}/version/{number}/job/{job_id}"


def alias_subject(model: str, alias: str) -> str:
    return f"model/{model}/alias/{alias}"


def token_subject(name: str) -> str:
    return f"token/{name}"


def webhook_subject(endpoint_id: int) -> str:
    return f"webhook/{endpoint_id}"
