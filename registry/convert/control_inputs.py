"""TF1 control placeholders (`keep_prob`, `is_training`) and the constants that replace them.

A classic TF1 graph feeds dropout's keep probability or a training switch through a
placeholder. A deployed model must not take them: option `input_constants`
({"keep_prob": 1.0, "is_training": false}) names their inference values, which every
variant bakes in as constants, so its signature keeps only the data inputs
(docs/conversion.md §12).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from registry.convert.contract import ConversionError
from registry.convert.signatures import Endpoint

_KEEP_LIKE = re.compile(r"keep|dropout", re.IGNORECASE)
_TRAINING_LIKE = re.compile(r"train|phase", re.IGNORECASE)


@dataclass
class ConstantInput:
    """A placeholder fed a fixed value: the endpoint it was, and the value as an array."""

    endpoint: Endpoint
    value: np.ndarray


def _is_control_like(endpoint: Endpoint) -> bool:
    scalar_or_unranked = endpoint.shape is None or endpoint.shape == []
    kind = np.dtype(endpoint.dtype).kind if endpoint.dtype != "string" else "S"
    return scalar_or_unranked and kind in "fb"


def _suggestion(endpoint: Endpoint) -> str:
    if endpoint.dtype == "bool":
        return "false" if _TRAINING_LIKE.search(endpoint.name) else "<true or false>"
    return "1.0" if _KEEP_LIKE.search(endpoint.name) else "<value>"


def _describe(endpoint: Endpoint) -> str:
    shape = "unknown rank" if endpoint.shape is None else "scalar"
    return f"{endpoint.name} ({endpoint.dtype}, {shape})"


def split_constant_inputs(
    inputs: list[Endpoint], options: dict[str, Any]
) -> tuple[list[Endpoint], list[ConstantInput]]:
    """The data inputs, and the inputs that option input_constants fixes.

    Raises when input_constants names no input or gives a value of the wrong kind, and when
    scalar or unknown-rank float/bool inputs sit beside data inputs with no value given:
    they are control inputs, and guessing their inference value would be wrong.
    """
    given: dict[str, Any] = options.get("input_constants") or {}
    by_name = {e.name: e for e in inputs}
    unknown = [name for name in given if name not in by_name]
    if unknown:
        raise ConversionError(
            f"input_constants names {', '.join(unknown)}, which the model does not take as "
            f"input(s); its inputs: {', '.join(by_name) or 'none'}"
        )
    constants = [ConstantInput(by_name[n], _as_array(by_name[n], v)) for n, v in given.items()]
    data = [e for e in inputs if e.name not in given]
    chosen = set(options.get("input_nodes") or ()) | set(options.get("input_shapes") or ())
    unset = [e for e in data if _is_control_like(e) and e.name not in chosen]
    if unset and len(unset) < len(data):
        example = ", ".join(f'"{e.name}": {_suggestion(e)}' for e in unset)
        raise ConversionError(
            f"the model takes {', '.join(_describe(e) for e in unset)} besides its data "
            f"input(s) {', '.join(e.name for e in data if e not in unset)}: control inputs "
            "(a dropout keep probability, a training switch) that a deployed model should "
            "not take. Give their inference values in the option input_constants, e.g. "
            f"{{{example}}}, checking each value: the registry does not guess them. If one "
            "is a data input, give its shape in input_shapes instead"
        )
    return data, constants


def _as_array(endpoint: Endpoint, value: Any) -> np.ndarray:
    wanted = np.dtype(endpoint.dtype)
    fits = isinstance(value, bool) if wanted.kind == "b" else not isinstance(value, bool)
    if not fits:
        raise ConversionError(
            f"input_constants gives {endpoint.name} the value {json.dumps(value)}, but it is a "
            f"{endpoint.dtype} input"
        )
    if endpoint.shape is None or endpoint.shape == []:
        return np.asarray(value, dtype=wanted)
    if any(d < 0 for d in endpoint.shape):
        raise ConversionError(
            f"input_constants cannot fill {endpoint.name}: its shape {endpoint.shape} is not "
            "fully known"
        )
    return np.full(endpoint.shape, value, dtype=wanted)


def constants_used(constants: list[ConstantInput]) -> dict[str, Any]:
    """The input_constants option as JSON values, for the result's options."""
    return {c.endpoint.name: c.value.tolist() for c in constants}
