"""How JSON answers are encoded (orjson), and the reads a client may revalidate by ETag."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response, jsonify, request
from flask.json.provider import DefaultJSONProvider

# Dates and dataclasses go through Flask's own `default`, so answers read as before.
ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


class FastJSON(DefaultJSONProvider):
    """Flask's JSON provider with `jsonify` answers encoded by orjson, straight to bytes."""

    def response(self, *args: Any, **kwargs: Any) -> Response:
        payload = self._prepare_response_obj(args, kwargs)
        body = orjson.dumps(payload, default=self.default, option=ORJSON_OPTIONS)
        return self._app.response_class(body, mimetype=self.mimetype)


def revalidated(payload: Any) -> Response:
    """A JSON answer with a strong ETag of its bytes: `If-None-Match` with it answers 304.

    The ETag is the answer itself hashed, so anything that changes the answer (a status, an
    alias moved onto or off the version, a job's progress) changes it; `no-cache` makes caches
    ask again each time rather than serve a stale alias.
    """
    response = jsonify(payload)
    response.add_etag()
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)
