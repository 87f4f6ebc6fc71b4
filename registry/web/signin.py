"""Who is looking at the pages: a signed sign-in cookie holding an API token, and CSRF tokens.

The cookie holds the token's secret, signed with the web key; every request checks the token
again (a revoked token signs its holder out). Every form that changes something carries a CSRF
token: an HMAC of a random per-browser seed kept in its own cookie, so a page of another site
can neither read nor forge it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import Response, current_app, g, request
from itsdangerous import BadSignature, URLSafeSerializer

from registry.api import services
from registry.domain.ledger import tokens
from registry.errors import Forbidden, Unauthorized
from registry.settings import Settings

SIGN_IN_COOKIE = "registry_signin"
CSRF_COOKIE = "registry_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
KEY_FILE = "web.key"


@dataclass(frozen=True)
class Viewer:
    """The token a browser signed in with."""

    name: str
    scope: str

    def may(self, scope: str) -> bool:
        return tokens.SCOPES.index(self.scope) >= tokens.SCOPES.index(scope)


def web_key(settings: Settings) -> str:
    """The key signing cookies: the setting, else one kept (0600) in the data directory."""
    if settings.web_secret_key:
        return settings.web_secret_key
    path = Path(settings.data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole, then linked into place: processes starting together (gunicorn's
        # workers) all end up reading the one key that won, never a half-written file.
        draft = path.with_name(f"{KEY_FILE}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(secrets.token_urlsafe(32))
        try:
            # A FileExistsError means another process's key won: that one is read below.
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink()
    return path.read_text().strip()


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["REGISTRY_WEB_KEY"], salt="sign-in")


def identify() -> None:
    """Before each page: who signed in (if anyone), and the browser's CSRF seed."""
    g.csrf_seed = request.cookies.get(CSRF_COOKIE) or ""
    g.viewer = None
    secret = _signed_in_secret()
    if secret:
        with services().sessions() as session:
            try:
                token = tokens.authenticate(session, secret)
            except Unauthorized:
                return
        g.viewer = Viewer(token.name, token.scope)
        g.actor = token.name  # the actor the domain's audit events name


def _signed_in_secret() -> str | None:
    cookie = request.cookies.get(SIGN_IN_COOKIE)
    if not cookie:
        return None
    try:
        return _serializer().loads(cookie)
    except BadSignature:
        return None


def viewer() -> Viewer | None:
    return g.get("viewer")


def require(scope: str) -> None:
    """Refuse the page unless the viewer's token has `scope` (reading may be anonymous)."""
    who = viewer()
    if who is None:
        if scope == "read" and services().settings.anonymous_read:
            return
        raise Unauthorized("sign in with a token to see this page")
    if not who.may(scope):
        raise Forbidden(f"token {who.name!r} has scope {who.scope!r}; this needs {scope!r}")


def may(scope: str) -> bool:
    """Whether to show the controls needing `scope`."""
    who = viewer()
    return who is not None and who.may(scope)


def sign_in(response: Response, secret: str) -> Viewer:
    """Check the token and keep it in the browser's sign-in cookie."""
    with services().sessions() as session:
        token = tokens.authenticate(session, secret)
    response.set_cookie(SIGN_IN_COOKIE, _serializer().dumps(secret), **_cookie_flags())
    return Viewer(token.name, token.scope)


def sign_out(response: Response) -> None:
    response.delete_cookie(SIGN_IN_COOKIE, **_cookie_flags())


def _cookie_flags() -> dict:
    return {"httponly": True, "samesite": "Strict", "secure": request.is_secure, "path": "/"}


def csrf_token() -> str:
    """This browser's CSRF token, for a form's hidden field."""
    if not g.get("csrf_seed"):
        g.csrf_seed = g.new_csrf_seed = secrets.token_urlsafe(32)
    return _csrf_for(g.csrf_seed)


def _csrf_for(seed: str) -> str:
    key = current_app.config["REGISTRY_WEB_KEY"].encode()
    return hmac.new(key, b"csrf:" + seed.encode(), hashlib.sha256).hexdigest()


def check_csrf() -> None:
    """Refuse a form post whose CSRF token is missing or not this browser's.

    The token comes in a header (scripts), the query (the upload form, whose body is streamed
    and not read before the view) or the form's field.
    """
    seed = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER) or request.args.get("csrf") or ""
    if not sent and request.mimetype == "application/x-www-form-urlencoded":
        sent = request.form.get(CSRF_FIELD, "")
    if not seed or not sent or not hmac.compare_digest(sent, _csrf_for(seed)):
        raise Forbidden(
            "the form's CSRF token is missing or stale: reload the page and send it again"
        )


def keep_csrf_seed(response: Response) -> Response:
    """After each page: store a CSRF seed made while rendering it."""
    seed = g.pop("new_csrf_seed", None)
    if seed:
        response.set_cookie(CSRF_COOKIE, seed, **_cookie_flags())
    return response
