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
from registry.storage import DigestMismatch, StorageError

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
        **shapes.Problem().dump(
            {
                "type": PROBLEM_TYPE_BASE + slug,
                "title": title,
                "status": status,
                "detail": detail,
                # The path as received, decoded: encoded again so it is a URI reference.
                "instance": quote(request.path, safe=PATH_CHARACTERS),
            }
        ),
    }
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    response.headers.update(headers or {})
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def database_unavailable(error: Exception) -> Response:
    log.warning("database unavailable: %s", error)
    return problem(
        503,
        "Database unavailable",
        "the registry database cannot be reached right now; retry shortly",
        retry_after=ServiceUnavailable.retry_after_seconds,
    )


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
