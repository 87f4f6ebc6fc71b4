"""Response shapes compiled into plans: a shape's fields are read once, then every answer is
dumped by a loop over (key, getter, converter), without marshmallow's calls per field.

A plan answers what the shape's marshmallow `dump` answers: the same keys (`data_key`), values
looked up the same way (a dict's key, else the attribute; dotted attributes walked; a missing
value leaves its key out) and converted by the field's own rules. A value that already has the
type its field answers (a `str` for a string field, an `int` for an integer...) is answered as
it is; any other goes through the field's `_serialize`. A field of a kind not known here is
dumped by marshmallow itself, so a plan is never less faithful than its schema
(`tests/api/test_dumping.py` compares both for every shape).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from marshmallow import Schema, fields, missing
from marshmallow.utils import get_value

from registry.api.fields import Computed

Converter = Callable[[Any], Any]
Dumper = Callable[[Any], dict[str, Any]]


class _Unknown(Exception):
    """A field this module does not know how to convert: marshmallow dumps it."""


# Field kinds whose `_serialize` answers a value of this type unchanged.
_UNCHANGED_TYPES = (
    (fields.String, str),
    (fields.Integer, int),
    (fields.Float, float),
    (fields.Boolean, bool),
)


@functools.cache
def dumper(shape: type[Schema]) -> Dumper:
    """The function answering `shape().dump(value)`, compiled once per shape."""
    schema = shape()
    if any(schema._hooks.values()):
        return schema.dump
    plan = [_entry(name, field, schema) for name, field in schema.dump_fields.items()]

    def dump(value: Any) -> dict[str, Any]:
        answer = {}
        for key, get, convert in plan:
            item = get(value)
            if item is missing:
                continue
            answer[key] = item if convert is None or item is None else convert(item)
        return answer

    return dump


def _entry(name: str, field: fields.Field, schema: Schema):
    key = field.data_key or name
    computed = isinstance(field, Computed)
    try:
        if field.dump_default is not missing:
            raise _Unknown
        convert = _converter(field.like if computed else field)
    except _Unknown:

        def dumped_by_marshmallow(value: Any) -> Any:
            return field.serialize(name, value, accessor=schema.get_attribute)

        return key, dumped_by_marshmallow, None
    return key, field.compute if computed else _getter(field.attribute or name), convert


def _getter(attribute: str) -> Callable[[Any], Any]:
    path = attribute.split(".")
    if len(path) == 1:
        return functools.partial(_value, attribute)

    def walk(value: Any) -> Any:
        for key in path:
            value = _value(key, value)
            if value is missing:
                break
        return value

    return walk


# Types looked into by attribute only: they have no `__getitem__` marshmallow would try first.
_BY_ATTRIBUTE: set[type] = set()


def _value(key: str, obj: Any) -> Any:
    """As marshmallow's `get_value` for one key: a dict's item, else the attribute."""
    kind = type(obj)
    if kind is dict:
        return obj.get(key, missing)
    if kind in _BY_ATTRIBUTE:
        return getattr(obj, key, missing)
    if not hasattr(kind, "__getitem__"):
        _BY_ATTRIBUTE.add(kind)
    return get_value(obj, key, missing)


def _converter(field: fields.Field) -> Converter:
    """How a present, non-null value of `field` is answered."""
    if isinstance(field, fields.Nested):
        return _nested(field)
    if isinstance(field, fields.List):
        inner = _converter(field.inner)
        return lambda items: [None if item is None else inner(item) for item in items]
    if isinstance(field, fields.Mapping):
        if field.key_field is None and field.value_field is None:
            return field.mapping_type
        return _serialized_by(field)
    if isinstance(field, fields.DateTime):
        return _serialized_by(field)
    for kind, python_type in _UNCHANGED_TYPES:
        serializes_as_kind = type(field)._serialize is kind._serialize
        if isinstance(field, kind) and serializes_as_kind and not getattr(field, "as_string", 0):
            return _unchanged_when(python_type, field)
    raise _Unknown


def _nested(field: fields.Nested) -> Converter:
    schema = field.schema
    if schema.only or schema.exclude or schema.many:
        raise _Unknown
    dump = dumper(type(schema))
    if field.many:
        return lambda items: [dump(item) for item in items]
    return dump


def _serialized_by(field: fields.Field) -> Converter:
    """The field's own conversion; these kinds ignore the attribute's name and object."""
    return lambda value: field._serialize(value, None, None)


def _unchanged_when(python_type: type, field: fields.Field) -> Converter:
    def convert(value: Any) -> Any:
        return value if type(value) is python_type else field._serialize(value, None, None)

    return convert
