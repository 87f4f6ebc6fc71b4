"""The audit log over HTTP: filtered pages of events, and checking the hash chain."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from registry.api.unit_of_work import db
from registry.domain.ledger import audit
from registry.errors import InvalidRequest

blueprint = Blueprint("audit", __name__, url_prefix="/api/v1/audit")


@blueprint.get("")
def list_events():
    """Audit events in sequence order, filtered and a page at a time.
    ---
    get:
      parameters:
        - name: model
          in: query
          schema: {type: string}
        - name: actor
          in: query
          description: a token name
          schema: {type: string}
        - name: action
          in: query
          description: an action (`alias.moved`) or a family (`job.*`)
          schema: {type: string}
        - name: since
          in: query
          description: events at or after this time
          schema: {type: string, format: date-time}
        - name: until
          in: query
          description: events before this time
          schema: {type: string, format: date-time}
        - Cursor
        - name: limit
          in: query
          description: events per page, clamped to 1-1000
          schema: {type: integer}
      responses:
        200:
          description: A page of events.
          content:
            application/json:
              schema: AuditPage
        422: Invalid
    """
    try:
        limit = int(request.args.get("limit", audit.PAGE_SIZE))
    except ValueError as error:
        raise InvalidRequest("limit must be a whole number of events") from error
    where = audit.EventFilter.from_query(request.args)
    session = db()
    events, cursor = audit.list_events(
        session, where, cursor=request.args.get("cursor", ""), limit=limit
    )
    return jsonify(events=events, next_cursor=cursor)


@blueprint.get("/verify")
def verify():
    """Recompute the audit hash chain: `{"ok": true, "events": N}` or the first bad event.
    ---
    get:
      responses:
        200:
          description: The verdict.
          content:
            application/json:
              schema: ChainVerification
    """
    session = db()
    return jsonify(audit.verify_chain(session))
