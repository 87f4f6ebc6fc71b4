"""Watching each request: its id, one JSON log line, and the HTTP metrics.

It wraps the WSGI app rather than using Flask's request hooks alone: a download's bytes are
streamed after the view returns, so only the WSGI layer sees when the last byte went out and
how many there were. Flask still names the route (its url_rule, e.g.
`/api/v1/models/<name>/versions`, never the raw path, which would make a metric per model).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Flask, g, request

from registry.api.metrics import record_request
from registry.logs import accepted_request_id, request_id_bound

log = logging.getLogger("registry.requests")

REQUEST_ID_HEADER = "X-Request-ID"
UNMATCHED_ROUTE = "<unmatched>"
# Polled every few seconds by probes and scrapers: counted, but logged only at DEBUG.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
_ROUTE_KEY = "registry.route"
_ACTOR_KEY = "registry.actor"


def observe_requests(app: Flask) -> None:
    """Wrap the app so every request gets an id, a log line and its metrics."""

    @app.after_request
    def note_route_and_actor(response):
        # The request context is gone by the time the WSGI wrapper finishes; leave what only
        # Flask knows in the environ for it. Access control sets `g.actor` when it knows one.
        rule = request.url_rule
        request.environ[_ROUTE_KEY] = rule.rule if rule is not None else UNMATCHED_ROUTE
        request.environ[_ACTOR_KEY] = g.get("actor")
        return response

    app.wsgi_app = RequestObserver(app.wsgi_app)


class RequestObserver:
    """WSGI middleware: request id in and out, byte counts both ways, timing to the last byte."""

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = accepted_request_id(environ.get("HTTP_X_REQUEST_ID"))
        body_in = _CountingInput(environ["wsgi.input"])
        environ["wsgi.input"] = body_in
        status: list[int] = [500]

        def start_with_id(status_line: str, headers: list, exc_info=None):
            status[0] = int(status_line.split(" ", 1)[0])
            headers = [(k, v) for k, v in headers if k.lower() != REQUEST_ID_HEADER.lower()]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status_line, headers, exc_info)

        def finished(sent: int) -> None:
            self._record(environ, request_id, status[0], started, body_in.count, sent)

        with request_id_bound(request_id):
            try:
                body = self.wsgi_app(environ, start_with_id)
            except BaseException:
                finished(0)
                raise
        return _ObservedBody(body, finished)

    @staticmethod
    def _record(
        environ: dict[str, Any],
        request_id: str,
        status: int,
        started: float,
        received: int,
        sent: int,
    ) -> None:
        seconds = time.perf_counter() - started
        method = environ.get("REQUEST_METHOD", "")
        route = environ.get(_ROUTE_KEY, UNMATCHED_ROUTE)
        record_request(method, route, status, seconds, received, sent)
        level = logging.DEBUG if route in QUIET_ROUTES else logging.INFO
        log.log(
            level,
            "%s %s %s",
            method,
            environ.get("PATH_INFO", ""),
            status,
            extra={
                "method": method,
                "route": route,
                "path": environ.get("PATH_INFO", ""),
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
                "bytes_received": received,
                "bytes_sent": sent,
                "request_id": request_id,
                "actor": environ.get(_ACTOR_KEY),
            },
        )


class _CountingInput:
    """The request body stream, counting the bytes the app reads from it."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.count += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._stream.readline(size)
        self.count += len(data)
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines = self._stream.readlines(hint)
        self.count += sum(map(len, lines))
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


class _ObservedBody:
    """The response body, counting bytes as the server sends them; reports when closed."""

    def __init__(self, body: Iterable[bytes], finished: Callable) -> None:
        self._body = body
        self._finished = finished
        self._sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            self._sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finished(self._sent)
