"""The field types of the HTTP shapes: each checks what it loads and says what it documents.

The OpenAPI document's property schemas come from these fields (through apispec's marshmallow
plugin), so a rule such as a name's pattern or a number's range is written once and both
enforced and published.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from marshmallow import ValidationError, fields, validate

from registry.domain.catalog import MAX_VERSION_NUMBER
from registry.domain.ledger.audit import iso_time
from registry.vocabulary import NAME_PATTERN, NAME_RULE

# Deep enough for any tag or option map a person writes; shallow enough that nothing
# downstream (JSON encoders, the database) recurses into trouble.
MAX_JSON_DEPTH = 32
NUL = "\x00"


def refuse_nul(text: str) -> None:
    """PostgreSQL text cannot hold NUL: refuse it at the door rather than fail at the database."""
    if NUL in text:
        raise ValidationError("must not contain a NUL character (\\u0000)")


def check_json_value(value: Any) -> None:
    """Refuse a decoded JSON value nested deeper than MAX_JSON_DEPTH, holding a NUL, or an
    integer beyond 64 bits (answers are encoded by orjson, and most JSON readers would round
    one anyway)."""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValidationError(f"nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(node, dict):
            for key in node:
                refuse_nul(key)
            pending += [(item, depth + 1) for item in node.values()]
        elif isinstance(node, list):
            pending += [(item, depth + 1) for item in node]
        elif isinstance(node, str):
            refuse_nul(node)
        elif isinstance(node, int) and not -(2**63) <= node < 2**64:
            raise ValidationError(f"holds the integer {node}, which does not fit in 64 bits")


def parse_json(text: str | bytes) -> Any:
    """Decode JSON; nesting deep enough to exhaust the decoder's recursion is refused too."""
    try:
        return json.loads(text)
    except RecursionError as error:
        raise ValidationError(f"nests deeper than {MAX_JSON_DEPTH} levels") from error
    except ValueError as error:
        raise ValidationError(f"is not JSON: {error}") from error


class FullMatch(validate.Regexp):
    """A pattern the whole value must match, published as `^(?:pattern)$`.

    Python's `$` also matches before a final newline, so a plain Regexp lets `"name\\n"` by.
    """

    def __init__(self, pattern: str, error: str) -> None:
        super().__init__(f"^(?:{pattern})$", error=error)
        self.whole = re.compile(pattern)

    def __call__(self, value: str) -> str:
        if self.whole.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class Text(fields.String):
    """A string without NUL characters."""

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        refuse_nul(text)
        return text


class IsoTime(Text):
    """An ISO 8601 time sent as text; blank is refused (the document promises a date-time)."""

    def __init__(self, description: str, **kwargs: Any) -> None:
        super().__init__(metadata={"description": description, "format": "date-time"}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.strip():
            raise ValidationError("must be an ISO 8601 time such as 2026-01-31T12:00:00Z")
        return text


class Name(Text):
    """A model, alias or token name: the pattern is enforced on load and published."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            validate=FullMatch(NAME_PATTERN.pattern, error=f"use {NAME_RULE}"),
            metadata={"description": "1-128 letters, digits, `.`, `_`, `-`"},
            **kwargs,
        )


class Sha256(Text):
    """A sha256 in hex; either case is loaded, as lowercase."""

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip().lower()

    def __init__(self, description: str = "lowercase hex", **kwargs: Any) -> None:
        super().__init__(
            validate=FullMatch("[0-9a-f]{64}", error="must be 64 lowercase hex digits"),
            metadata={"description": description},
            **kwargs,
        )


class VersionNumber(fields.Integer):
    """A version number, within what the database column holds."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            strict=True, validate=validate.Range(min=1, max=MAX_VERSION_NUMBER), **kwargs
        )


class Flag(fields.Boolean):
    """JSON true or false, nothing that merely looks like one (`"yes"`, `1`)."""

    def _deserialize(self, value, attr, data, **kwargs) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


def json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"must be a JSON object, got {type(value).__name__}")
    check_json_value(value)
    return value


class JSONObject(fields.Dict):
    """Any JSON object, bounded in depth and free of NUL characters."""

    def _deserialize(self, value, attr, data, **kwargs) -> dict[str, Any]:
        return json_object(value)


class JSONObjectText(Text):
    """A JSON object sent as text, as in a form field; blank means empty."""

    def _deserialize(self, value, attr, data, **kwargs) -> dict[str, Any]:
        text = super()._deserialize(value, attr, data, **kwargs)
        return json_object(parse_json(text)) if text.strip() else {}


class InputConstantsText(JSONObjectText):
    """Values for control inputs (`{"keep_prob": 1.0, "is_training": false}`): numbers or
    true/false, which every variant bakes in as constants."""

    def _deserialize(self, value, attr, data, **kwargs) -> dict[str, Any]:
        constants = super()._deserialize(value, attr, data, **kwargs)
        for name, constant in constants.items():
            if not isinstance(constant, bool | int | float) or constant != constant:
                raise ValidationError(
                    f"the value of {name!r} must be a number or true/false, not {constant!r}"
                )
        return constants


class Timestamp(fields.DateTime):
    """A time in UTC, spelled one way for every backend (SQLite hands back naive datetimes)."""

    def _serialize(self, value: datetime | str | None, attr, obj, **kwargs) -> str | None:
        return None if value is None else iso_time(value)


class CommaList(Text):
    """A form field holding a comma-separated list; documented as the text it is sent as."""

    def __init__(self, item: validate.Validator | None = None, **kwargs: Any) -> None:
        super().__init__(load_default=list, **kwargs)
        self.item = item

    def _deserialize(self, value, attr, data, **kwargs) -> list[str]:
        text = super()._deserialize(value, attr, data, **kwargs)
        items = [item.strip() for item in text.split(",") if item.strip()]
        if self.item is not None:
            for item in items:
                self.item(item)
        return items


class InputShapes(Text):
    """`{"images": [1, 16, 16, 2]}` as JSON, or tflite_convert's `images:1,16,16,2;ids:1,8`."""

    error = (
        'must map input names to integer lists, e.g. {"images": [1, 16, 16, 2]} or images:1,16,16,2'
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(load_default=dict, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> dict[str, list[int]]:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.strip():
            return {}
        if text.lstrip().startswith("{"):
            shapes = json_object(parse_json(text))
        else:
            shapes = {}
            for item in text.split(";"):
                name, _, dims = item.partition(":")
                shapes[name.strip()] = dims.split(",")
        try:
            return {name: [int(d) for d in dims] for name, dims in shapes.items()}
        except (TypeError, ValueError) as error:
            raise ValidationError(f"{self.error} ({error})") from error


class FilePart(fields.Field):
    """A file part of a multipart form: its bytes go to storage as they stream, never through
    the schema; declared here so the form's fields are listed in one place."""

    def __init__(self, media_type: str = "application/octet-stream", **kwargs: Any) -> None:
        super().__init__(load_only=True, **kwargs)
        self.media_type = media_type

    def _deserialize(self, value, attr, data, **kwargs):
        raise ValidationError("must be sent as a file part, with a filename")


class Computed(fields.Field):
    """A value computed from the whole object, shaped and documented like the field `like`."""

    def __init__(self, compute: Callable[[Any], Any], like: fields.Field, **kwargs: Any) -> None:
        super().__init__(dump_only=True, allow_none=like.allow_none, **kwargs)
        self.compute = compute
        self.like = like

    def get_value(self, obj, attr, accessor=None, default=None):
        return self.compute(obj)

    def _serialize(self, value, attr, obj, **kwargs):
        return self.like._serialize(value, attr, obj, **kwargs)
