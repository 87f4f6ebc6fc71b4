"""The audit log over HTTP: filtered pages of events, and checking the hash chain."""

from __future__ import annotations

from flask import Blueprint, jsonify

from registry.api import bodies, shapes
from registry.api.unit_of_work import db
from registry.domain.ledger import audit

blueprint = Blueprint("audit", __name__, url_prefix="/api/v1/audit")


@blueprint.get("")
def list_events():
    """Audit events in sequence order, filtered and a page at a time.
    ---
    get:
      parameters:
        - in: query
          schema: AuditQuery
      responses:
        200:
          description: A page of events.
          content:
            application/json:
              schema: AuditPage
        422: Invalid
    """
    asked = bodies.query(bodies.AuditQuery())
    where = audit.EventFilter.from_query(asked)
    session = db()
    events, cursor = audit.list_events(session, where, cursor=asked["cursor"], limit=asked["limit"])
    return jsonify(shapes.dump(shapes.AuditPage, {"events": events, "next_cursor": cursor}))


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
    return jsonify(shapes.dump(shapes.ChainVerification, audit.verify_chain(session)))
