"""Access tokens over HTTP: an admin creates, lists and revokes them."""

from __future__ import annotations

from flask import Blueprint, jsonify

from registry.api import bodies, shapes
from registry.api.auth import actor, forget_revoked, requires
from registry.api.unit_of_work import db
from registry.domain.ledger import tokens

blueprint = Blueprint("tokens", __name__, url_prefix="/api/v1/tokens")


@blueprint.post("")
@requires("admin")
def create_token():
    """Create an access token; its secret is in the answer, this once.
    ---
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: NewToken
      responses:
        201:
          description: The token and its secret.
          content:
            application/json:
              schema: IssuedToken
        409: Conflict
        422: Invalid
    """
    body = bodies.json_body(bodies.NewToken())
    session = db()
    issued = tokens.create_token(
        session,
        body["name"],
        body["scope"],
        actor(),
        expires_at=tokens.parse_expiry(body["expires"]),
    )
    described = tokens.describe(issued.record)
    return jsonify(shapes.dump(shapes.IssuedToken, {**described, "token": issued.secret})), 201


@blueprint.get("")
@requires("admin")
def list_tokens():
    """List every token, revoked and expired ones too, never their secrets.
    ---
    get:
      responses:
        200:
          description: The tokens.
          content:
            application/json:
              schema: TokenList
    """
    session = db()
    listed = [tokens.describe(t) for t in tokens.list_tokens(session)]
    return jsonify(shapes.dump(shapes.TokenList, {"tokens": listed}))


@blueprint.delete("/<name>")
@requires("admin")
def revoke_token(name: str):
    """Revoke a token; its name is never given to another.
    ---
    delete:
      responses:
        204:
          description: Revoked.
        404: NotFound
    """
    session = db()
    tokens.revoke_token(session, name, actor())
    forget_revoked(name)
    return "", 204
