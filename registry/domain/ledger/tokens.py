"""Access tokens: scoped, named, optionally expiring, revocable; only their sha256 is stored.

A token is 32 random bytes (URL-safe base64) behind a `tfr_` prefix. The registry keeps the
sha256 of it and looks a presented token up by that hash: the lookup's timing can only reveal
something about a hash, which says nothing usable about a 256-bit secret, and the final
comparison is constant-time anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from registry.db import find_named
from registry.db.models import ApiToken, utcnow
from registry.domain.ledger import audit
from registry.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unauthorized
from registry.vocabulary import validate_name

# Each scope includes the ones before it: admin can write, write can read.
SCOPES = ("read", "write", "admin")
TOKEN_PREFIX = "tfr_"
DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class TokenExists(Conflict):
    title = "Token already exists"


class TokenNotFound(NotFound):
    title = "Token not found"


@dataclass(frozen=True)
class IssuedToken:
    """A new token: its record, and the secret, which is shown this once and never stored."""

    record: ApiToken
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_expiry(text: str, now: datetime | None = None) -> datetime | None:
    """`30d`, `12h`, `2w`… from now, or an ISO 8601 date/time; empty means never."""
    if not text:
        return None
    now = now or utcnow()
    if match := DURATION.match(text):
        amount, unit = int(match.group(1)), DURATION_UNITS[match.group(2)]
        return now + timedelta(**{unit: amount})
    try:
        return audit.parse_iso_time(text)
    except ValueError as error:
        raise InvalidRequest(
            f"expiry {text!r} is neither a duration (30d, 12h, 2w) nor an ISO 8601 time"
        ) from error


def create_token(
    session: Session,
    name: str,
    scope: str,
    actor: str,
    *,
    expires_at: datetime | None = None,
) -> IssuedToken:
    validate_name("token", name)
    if scope not in SCOPES:
        raise InvalidRequest(f"unknown scope {scope!r}: choose read, write or admin")
    if session.scalar(select(ApiToken).where(ApiToken.name == name)) is not None:
        raise TokenExists(
            f"a token named {name!r} exists (or existed: names are never reused, so the audit "
            f"log's actors stay unambiguous); choose another name"
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        token_hash=hash_secret(secret),
        prefix=secret[: len(TOKEN_PREFIX) + 4],
        scope=scope,
        created_by=actor,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor,
        "token.created",
        audit.token_subject(name),
        details={"scope": scope, "expires_at": _iso(expires_at)},
    )
    return IssuedToken(token, secret)


def issue_first_admin(session: Session, actor: str) -> IssuedToken | None:
    """An `admin` token for a registry that has no tokens yet (its first start); else None."""
    if session.scalar(select(func.count()).select_from(ApiToken)):
        return None
    return create_token(session, "admin", "admin", actor)


def revoke_token(session: Session, name: str, actor: str) -> ApiToken:
    token = find_named(session, ApiToken, name)
    if token is None:
        raise TokenNotFound(f"no token named {name!r}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        token.revoked_by = actor
        audit.record(session, actor, "token.revoked", audit.token_subject(name))
    return token


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.name)))


def authenticate(session: Session, secret: str, now: datetime | None = None) -> ApiToken:
    """The token a request presents, if the registry accepts it; otherwise Unauthorized."""
    presented = hash_secret(secret)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == presented))
    if token is None or not hmac.compare_digest(token.token_hash, presented):
        raise Unauthorized("the token is not one this registry issued")
    status = status_of(token, now)
    if status == "revoked":
        raise Unauthorized(f"token {token.name!r} was revoked; ask an admin for a new one")
    if status == "expired":
        raise Unauthorized(f"token {token.name!r} expired at {audit.iso_time(token.expires_at)}")
    return token


@dataclass(frozen=True)
class Accepted:
    """A token accepted a moment ago: what a request needs of it, and until when to trust it."""

    name: str
    scope: str
    trusted_until: float  # time.monotonic()


class AcceptedTokens:
    """Tokens an API process accepted in the last `seconds`, keyed by their sha256.

    A request presenting one of them skips the database; so a revocation (or a token's expiry)
    takes effect in this process within `seconds`. Refusals are never remembered.
    """

    def __init__(self, seconds: float, max_entries: int = 10_000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._accepted: dict[str, Accepted] = {}
        self._lock = threading.Lock()

    def authenticate(self, sessions: sessionmaker[Session], secret: str) -> Accepted:
        digest = hash_secret(secret)
        now = time.monotonic()
        known = self._accepted.get(digest)
        if known is not None and now < known.trusted_until:
            return known
        with sessions() as session:
            token = authenticate(session, secret)
        trusted_until = now + self.seconds
        if token.expires_at is not None:
            left = (audit.as_utc(token.expires_at) - utcnow()).total_seconds()
            trusted_until = min(trusted_until, now + left)
        accepted = Accepted(token.name, token.scope, trusted_until)
        if self.seconds > 0:
            with self._lock:
                if len(self._accepted) >= self.max_entries:
                    self._accepted.clear()
                self._accepted[digest] = accepted
        return accepted

    def forget(self, name: str) -> None:
        """Stop trusting the token called `name` here at once (it was just revoked)."""
        with self._lock:
            self._accepted = {k: v for k, v in self._accepted.items() if v.name != name}


def require_scope(token_name: str, scope: str, needed: str) -> None:
    if SCOPES.index(scope) < SCOPES.index(needed):
        raise Forbidden(f"token {token_name!r} has scope {scope!r}; this needs {needed!r}")


def describe(token: ApiToken) -> dict[str, Any]:
    """A token as listed: never its secret (the registry does not have it)."""
    return {
        "name": token.name,
        "scope": token.scope,
        "prefix": token.prefix,
        "status": status_of(token),
        "created_at": _iso(token.created_at),
        "created_by": token.created_by,
        "expires_at": _iso(token.expires_at),
        "revoked_at": _iso(token.revoked_at),
        "revoked_by": token.revoked_by,
    }


def _iso(moment: datetime | None) -> str | None:
    return audit.iso_time(moment) if moment else None


def status_of(token: ApiToken, now: datetime | None = None) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and audit.as_utc(token.expires_at) <= (now or utcnow()):
        return "expired"
    return "active"
