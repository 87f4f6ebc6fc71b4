"""Access tokens over HTTP: an admin creates, lists and revokes them."""

from __future__ import annotations

from flask import Blueprint, jsonify

from registry.api import services
from registry.api.auth import actor, requires
from registry.api.models import json_body
from registry.domain import tokens

blueprint = Blueprint("tokens", __name__, url_prefix="/api/v1/tokens")


@blueprint.post("")
@requires("admin")
def create_token():
    """`{name, scope, expires?}` (expires: `30d`, `12h` or an ISO time); the secret is in the
    answer, this once."""
    body = json_body()
    with services().sessions.begin() as session:
        issued = tokens.create_token(
            session,
            str(body.get("name", "")),
            str(body.get("scope", "read")),
            actor(),
            expires_at=tokens.parse_expiry(str(body.get("expires") or "")),
        )
        described = tokens.describe(issued.record)
    return jsonify({**described, "token": issued.secret}), 201


@blueprint.get("")
@requires("admin")
def list_tokens():
    with services().sessions() as session:
        listed = [tokens.describe(t) for t in tokens.list_tokens(session)]
    return jsonify(tokens=listed)


@blueprint.delete("/<name>")
@requires("admin")
def revoke_token(name: str):
    with services().sessions.begin() as session:
        tokens.revoke_token(session, name, actor())
    return "", 204
