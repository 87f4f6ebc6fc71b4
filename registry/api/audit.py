"""The audit log over HTTP: filtered pages of events, and checking the hash chain."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from registry.api import services
from registry.domain import audit
from registry.domain.errors import InvalidRequest

blueprint = Blueprint("audit", __name__, url_prefix="/api/v1/audit")


@blueprint.get("")
def list_events():
    """Events in sequence order; `?model= &actor= &action= &since= &until= &cursor= &limit=`."""
    try:
        limit = int(request.args.get("limit", audit.PAGE_SIZE))
    except ValueError as error:
        raise InvalidRequest("limit must be a whole number of events") from error
    where = audit.EventFilter.from_query(request.args)
    with services().sessions() as session:
        events, cursor = audit.list_events(
            session, where, cursor=request.args.get("cursor", ""), limit=limit
        )
    return jsonify(events=events, next_cursor=cursor)


@blueprint.get("/verify")
def verify():
    """Recompute the chain: `{"ok": true, "events": N}` or the first bad sequence number."""
    with services().sessions() as session:
        return jsonify(audit.verify_chain(session))
