"""What an alias named over time, read back from the audit log: its moves and refusals, the
version it named before its current one, and the version it named at a given time.

Every change of an alias is an audit event whose subject names the alias; the index on
(subject, time) makes each of these a look-up of that alias's events, never a scan of the log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from registry.db.models import AuditEvent, Model, ModelVersion
from registry.domain.catalog import models as catalog
from registry.domain.ledger import audit
from registry.domain.ledger.cursors import decode_cursor, encode_cursor
from registry.errors import InvalidRequest, MalformedTime, VersionNotFound
from registry.vocabulary import validate_name

MOVES = ("alias.set", "alias.moved")
# The events after which the alias names another version (or none).
RETARGETS = (*MOVES, "alias.removed")
PAGE_SIZE = 100


def _events_of(model: str, alias: str) -> Select:
    return select(AuditEvent).where(AuditEvent.subject == audit.alias_subject(model, alias))


def alias_history(
    session: Session, model: Model, alias: str, *, cursor: str = "", limit: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the alias's changes, oldest first (set, moved, removed, refused; a forced
    move is a set or moved event that says `forced`), and the cursor of the next page."""
    validate_name("alias", alias)
    statement = _events_of(model.name, alias).order_by(AuditEvent.seq)
    if cursor:
        statement = statement.where(AuditEvent.seq > int(decode_cursor(cursor)))
    limit = max(1, min(limit, 1000))
    rows = list(session.scalars(statement.limit(limit + 1)))
    if not rows and not cursor:
        raise VersionNotFound(f"model {model.name!r} has never had an alias {alias!r}")
    entries = [_change(row) for row in rows[:limit]]
    next_cursor = encode_cursor(entries[-1]["seq"]) if len(rows) > limit else None
    return entries, next_cursor


def _change(row: AuditEvent) -> dict[str, Any]:
    """An alias event as history shows it: who, when, from which version to which (for a
    refusal: the version it was asked to go to), and the gates' figures."""
    details = row.details
    if row.action == "alias.removed":
        from_version, to_version = details.get("version"), None
    else:
        from_version, to_version = details.get("previous_version"), details.get("version")
    return {
        "seq": row.seq,
        "time": audit.iso_time(row.time),
        "actor": row.actor,
        "action": row.action,
        "from_version": from_version,
        "to_version": to_version,
        "forced": bool(details.get("forced")),
        "rollback": bool(details.get("rollback")),
        "failures": details.get("failures", []),
        "breaking": details.get("breaking", []),
        "signature": details.get("signature"),
    }


def _last_retarget(session: Session, statement: Select) -> AuditEvent | None:
    """The newest event of `statement`'s alias that changed what it names."""
    return session.scalar(
        statement.where(AuditEvent.action.in_(RETARGETS))
        .order_by(AuditEvent.time.desc(), AuditEvent.seq.desc())
        .limit(1)
    )


def version_before(session: Session, model: str, alias: str) -> int | None:
    """The version the alias named before its current one; None when it has named only this
    one since it was (last) set."""
    last = _last_retarget(session, _events_of(model, alias))
    if last is None or last.action != "alias.moved":
        return None
    return last.details.get("previous_version")


def version_at(session: Session, model: Model, alias: str, at: str) -> ModelVersion:
    """The version `alias` named at the ISO 8601 time `at`; not found if it named none then."""
    if alias == "latest" or catalog.VERSION_NUMBER.fullmatch(alias):
        raise InvalidRequest(
            f"`at` asks what an alias named at a time; {alias!r} names the same version at "
            "any time: leave `at` out"
        )
    validate_name("alias", alias)
    try:
        moment = audit.parse_iso_time(at)
    except ValueError as error:
        raise MalformedTime(
            f"at must be an ISO 8601 time such as 2026-11-20T10:00:00Z, got {at!r}"
        ) from error
    last = _last_retarget(session, _events_of(model.name, alias).where(AuditEvent.time <= moment))
    if last is None or last.action == "alias.removed":
        raise VersionNotFound(
            f"alias {alias!r} of {model.name!r} named no version at {audit.iso_time(moment)}"
        )
    return catalog.resolve_version(session, model, str(last.details["version"]))
