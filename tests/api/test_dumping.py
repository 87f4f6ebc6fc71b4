"""Every response shape's compiled plan answers what marshmallow's own `dump` answers."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from marshmallow import fields

from registry.api import shapes
from registry.api.dumping import dumper
from registry.api.fields import Computed

PLAIN_SHAPES = [
    shape
    for shape in vars(shapes).values()
    if isinstance(shape, type)
    and issubclass(shape, shapes.Answer)
    and shape is not shapes.Answer
    and not any(isinstance(field, Computed) for field in shape().dump_fields.values())
]


def sample(field: fields.Field, variant: int) -> Any:
    """A value for `field`; variants give nulls, values of another type, and empty lists."""
    if variant == 1:
        return None
    if isinstance(field, fields.Nested):
        return [record(field.schema, 0), record(field.schema, 2)] if field.many else None
    if isinstance(field, fields.List):
        return [] if variant == 2 else [sample(field.inner, 0), None]
    if isinstance(field, fields.DateTime):
        return datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC) if variant else datetime(2026, 1, 2)
    if isinstance(field, fields.Mapping):
        return {"a": 1, "b": "2"} if field.value_field is None else {"a": 1, "b": 2.0}
    if isinstance(field, fields.Boolean):
        return True
    if isinstance(field, fields.Float):
        return 3 if variant else 2.5
    if isinstance(field, fields.Integer):
        return 7
    return "text" if variant == 0 else 42


def record(schema, variant: int, as_dict: bool = True) -> Any:
    values = {
        (field.attribute or name).split(".")[0]: sample(field, variant)
        for name, field in schema.dump_fields.items()
    }
    for field in schema.dump_fields.values():
        if field.attribute and "." in field.attribute:
            head, tail = field.attribute.split(".", 1)
            values[head] = {tail: sample(field, variant)}
    if variant == 2:  # a value left out altogether
        values.popitem()
    return values if as_dict else SimpleNamespace(**values)


@pytest.mark.parametrize("shape", PLAIN_SHAPES, ids=lambda shape: shape.__name__)
@pytest.mark.parametrize("variant", [0, 1, 2])
@pytest.mark.parametrize("as_dict", [True, False], ids=["dict", "object"])
def test_a_shapes_plan_dumps_as_marshmallow_does(shape, variant, as_dict):
    value = record(shape(), variant, as_dict)

    assert dumper(shape)(value) == shape().dump(value)
