"""Opaque page cursors: the position after the last item of a page, as a URL-safe string."""

from __future__ import annotations

import base64
import json
from typing import Any

from registry.errors import InvalidRequest


def encode_cursor(after: str | int) -> str:
    return base64.urlsafe_b64encode(json.dumps(after).encode()).decode()


def decode_cursor(cursor: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as error:
        raise InvalidRequest(f"invalid cursor {cursor!r}: pass back the one a page gave") from error
