"""RFC 9457 problem+json responses for every error the API returns."""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import Flask, Response, g, json, request
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from registry.api import shapes
from registry.errors import RegistryError, ServiceUnavailable
from registry.storage import DigestMismatch, StorageError, StorageFull

log = logging.getLogger(__name__)
PROBLEM_TYPE_BASE = "https://tf-registry.dev/problems/"
# What a URI path may hold as it is (RFC 3986 pchar and "/"); the rest is percent-encoded.
PATH_CHARACTERS = "/!$&'()*+,;=:@-._~"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    retry_after: int | None = None,
    extra: dict | None = None,
    headers: dict | None = None,
) -> Response:
    slug = title.lower().replace(" ", "-")
    body = {
        **(extra or {}),
        **shapes.dump(
            shapes.Problem,
            {
                "type": PROBLEM_TYPE_BASE + slug,
                "title": title,
                "status": status,
                "detail": detail,
                # The path as received, decoded: encoded again so it is a URI reference.
                "instance": quote(request.path, safe=PATH_CHARACTERS),
            },
        ),
    }
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    response.headers.update(headers or {})
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


# PostgreSQL's codes for a request that met concurrent work rather than a database that is
# gone: worth retrying at once, and worth telling apart in the logs.
CONTENTION = {
    "40P01": "a deadlock with a concurrent change",
    "55P03": "a row lock held too long by a concurrent change",
    "40001": "a conflict with a concurrent transaction",
    "57014": "a statement over the time limit",
}
CONTENTION_RETRY_AFTER_SECONDS = 1


def database_unavailable(error: Exception) -> Response:
    """503 for any database failure; a lock or deadlock says so, an outage says that."""
    cause = database_contention(error)
    if cause is not None:
        log.warning(
            "database contention (%s) on %s %s: %s", cause, request.method, request.path, error
        )
        return problem(
            503,
            "Database busy",
            f"the request was stopped by {cause}; nothing was changed, send it again",
            retry_after=CONTENTION_RETRY_AFTER_SECONDS,
        )
    log.warning("database unavailable: %s", error)
    return problem(
        503,
        "Database unavailable",
        "the registry database cannot be reached right now; retry shortly",
        retry_after=ServiceUnavailable.retry_after_seconds,
    )


def database_contention(error: Exception) -> str | None:
    """What a database error says about contention, or None when it is not contention."""
    original = getattr(error, "orig", None)
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate in CONTENTION:
        return CONTENTION[sqlstate]
    if "database is locked" in str(original):  # SQLite past its busy_timeout
        return "the database file locked by a concurrent change"
    return None


def register_problem_handlers(app: Flask) -> None:
    @app.errorhandler(RegistryError)
    def domain_error(error: RegistryError) -> Response:
        if error.on_record:
            g.keep_on_record = True
        retry = getattr(error, "retry_after_seconds", None)
        return problem(
            error.status,
            error.title,
            str(error),
            retry_after=retry,
            extra=error.extra,
            headers=error.headers,
        )

    @app.errorhandler(DigestMismatch)
    def digest_mismatch(error: DigestMismatch) -> Response:
        return problem(422, "Digest mismatch", f"{error}; nothing was stored, send it again")

    @app.errorhandler(StorageFull)
    def storage_full(error: StorageFull) -> Response:
        log.error("artifact storage is full: %s", error)
        return problem(
            507,
            "Storage full",
            "artifact storage is full; nothing was stored: free space (`registry gc`) or grow "
            "the disk, then send it again",
        )

    @app.errorhandler(StorageError)
    def storage_down(error: StorageError) -> Response:
        log.warning("storage unavailable: %s", error)
        return problem(
            503,
            "Storage unavailable",
            "artifact storage cannot be reached right now; retry shortly",
            retry_after=ServiceUnavailable.retry_after_seconds,
        )

    app.register_error_handler(OperationalError, database_unavailable)
    app.register_error_handler(PoolTimeout, database_unavailable)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge) -> Response:
        return problem(413, "Upload too large", error.description or "request body too large")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        # Keep what the exception says in headers: `Allow` on 405, `Content-Range` on 416.
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        return problem(
            error.code or 500, error.name, error.description or error.name, headers=headers
        )

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "Internal error", "the registry failed unexpectedly; it is logged")
