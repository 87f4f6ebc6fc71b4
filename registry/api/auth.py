"""Who is calling, checked once per request before any handler runs.

Everything under /api/ needs a bearer token: `read` for GET and HEAD (unless anonymous reads
are on), `write` for the other methods; a view marked `@requires("admin")` needs `admin`, and
one marked `@public` needs nothing. Paths outside /api/ (health, metrics) are public.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, g, request

from registry.api import services
from registry.domain.ledger import tokens
from registry.errors import Unauthorized

ANONYMOUS = "anonymous"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SCOPE_ATTRIBUTE = "registry_required_scope"
_ACCEPTED_TOKENS = "registry.accepted_tokens"

View = TypeVar("View", bound=Callable)


def requires(scope: str | None) -> Callable[[View], View]:
    """Mark a view as needing `scope` (None: no token at all) instead of its method's default."""

    def mark(view: View) -> View:
        setattr(view, _SCOPE_ATTRIBUTE, scope)
        return view

    return mark


public = requires(None)


def install(app: Flask) -> None:
    seconds = app.extensions["registry"].settings.token_cache_seconds
    app.extensions[_ACCEPTED_TOKENS] = tokens.AcceptedTokens(seconds)
    app.before_request(authenticate)


def actor() -> str:
    """The name of the token behind this request: the actor its audit events name."""
    return g.get("actor", ANONYMOUS)


def forget_revoked(name: str) -> None:
    """A token revoked through this process stops working here at once, not after the cache's
    seconds (other API processes notice within them)."""
    current_app.extensions[_ACCEPTED_TOKENS].forget(name)


def needed_scope() -> str | None:
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and hasattr(view, _SCOPE_ATTRIBUTE):
        return getattr(view, _SCOPE_ATTRIBUTE)
    if not request.path.startswith("/api/"):
        return None
    return "read" if request.method in READ_METHODS else "write"


def authenticate() -> None:
    needed = needed_scope()
    if needed is None:
        return
    header = request.headers.get("Authorization", "")
    svc = services()
    if not header:
        if needed == "read" and svc.settings.anonymous_read:
            return
        raise Unauthorized(
            "this needs a token: send `Authorization: Bearer <token>` "
            "(an admin makes one with `registry token create`)"
        )
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("send the token as `Authorization: Bearer <token>`")
    # Remembered for a few seconds; else its own short read, not the request's unit of work: an
    # upload streams for minutes after this check, and no transaction may stay open meanwhile.
    token = current_app.extensions[_ACCEPTED_TOKENS].authenticate(svc.sessions, secret.strip())
    tokens.require_scope(token.name, token.scope, needed)
    g.actor = token.name
