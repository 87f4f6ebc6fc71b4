"""One unit of work per request: the request's session, committed once the view has answered.

A view (and the token check before it) gets the session from `db()`; nothing in a request
commits on its own. After the view, a success commits and an error rolls back, except a
refusal that is itself on the record (an audited refusal to move an alias), which commits its
audit event; a read-only session (`db(read_only=True)`) has nothing to commit and is closed.
Jobs queued by the request are sent to the broker by the services' after-commit hook, so no
worker is ever sent a job whose row it cannot see yet.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from registry.api import services
from registry.api.problems import database_unavailable

log = logging.getLogger(__name__)


def db(*, read_only: bool = False) -> Session:
    """This request's session, opened on first use. A view that only reads may ask for a
    `read_only` one: on PostgreSQL its statements run without a transaction around them,
    which spares a request two round trips (BEGIN, COMMIT) and cannot write."""
    session = g.get("db_session")
    if session is None:
        svc = services()
        session = g.db_session = svc.read_sessions() if read_only else svc.sessions()
        g.db_read_only = read_only
    return session


def install(app: Flask) -> None:
    @app.after_request
    def end_unit_of_work(response: Response) -> Response:
        session = g.pop("db_session", None)
        if session is None:
            return response
        if g.pop("db_read_only", False):
            # Nothing to commit: closing ends what SQLite began, without a commit's work.
            session.close()
            return response
        try:
            if response.status_code < 400 or g.pop("keep_on_record", False):
                session.commit()
            else:
                session.rollback()
        except (OperationalError, PoolTimeout) as error:
            session.rollback()
            return database_unavailable(error)
        finally:
            session.close()
        return response

    @app.teardown_request
    def close_abandoned_session(_error: BaseException | None) -> None:
        # Reached with a session still open only when the answer itself failed.
        session = g.pop("db_session", None)
        if session is not None:
            session.close()
