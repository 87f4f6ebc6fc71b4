"""What a conversion is asked to do and what it answers: plain data, no TensorFlow."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from registry.vocabulary import SOURCE_KINDS, TARGETS_BY_SOURCE

OPTION_KEYS = (
    "output_nodes",
    "input_nodes",
    "input_shapes",
    "signature_key",
    "tags",
    "input_constants",
    "int8_io",
)


class ConversionError(Exception):
    """The input can't be converted; the message tells a person what is wrong and what to do."""


class ConverterCrashed(ConversionError):
    """The converter process died (a signal, or an exit) while working on a request."""


class ConverterOutOfMemory(ConverterCrashed):
    """The converter process went over its memory limit and was stopped."""


class ConverterTimeout(ConversionError):
    """A request ran longer than the converter's timeout; its process was killed."""


@dataclass
class ConversionRequest:
    """Convert the upload at `source_path` (a file or directory) into `output_path`.

    `options` may hold output_nodes, input_nodes, input_shapes, signature_key, tags,
    input_constants and int8_io (int8 inputs and outputs for tflite_int8_full);
    `example_inputs_path` is an .npz keyed by input name, used instead of random inputs for
    the parity check.
    """

    source_kind: str
    source_path: str
    target_kind: str
    output_path: str
    options: dict[str, Any] = field(default_factory=dict)
    example_inputs_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversionRequest:
        return cls(**data)


@dataclass
class ConversionResult:
    """What a conversion produced and how faithfully.

    signature: the source's inputs/outputs/signatures (see `describe`).
    variant: facts about the produced file or directory: size, input/output names (and how
        they map from the source's), renamed inputs; for TFLite also tensor details,
        conversion_path (builtins, fixed-batch or select-tf-ops), fixed_batch, ops (builtin
        op names) and flex_ops (TensorFlow ops run through Flex; needs_flex when any).
    parity: {checked, passed, reason, inputs, input_distributions, perturbation,
        outputs: {name: {max_abs_diff, max_rel_diff, mean_abs_diff, normalized_rms_error,
        sensitivity, tolerance, passed}}}, comparing the variant with the source on the same
        inputs (see parity.py).
    steps: what was done, in order, e.g. ["restore", "freeze", "tflite-convert"].
    converter_versions: tensorflow, keras, ai_edge_litert, numpy and python versions.
    options: the options actually used, with detected output_nodes etc. filled in.
    """

    signature: dict[str, Any]
    variant: dict[str, Any]
    parity: dict[str, Any]
    steps: list[str]
    converter_versions: dict[str, str]
    options: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversionResult:
        return cls(**data)


def check_request(request: ConversionRequest) -> None:
    """Reject a request whose kinds or options make no sense, before any process is used."""
    if request.source_kind not in SOURCE_KINDS:
        raise ConversionError(
            f"unknown source kind {request.source_kind!r}; "
            f"expected one of {', '.join(SOURCE_KINDS)}"
        )
    allowed = TARGETS_BY_SOURCE[request.source_kind]
    if request.target_kind not in allowed:
        can = ", ".join(allowed) or "nothing (it is only described)"
        raise ConversionError(
            f"cannot produce {request.target_kind!r} from a {request.source_kind!r} upload; "
            f"it converts to {can}"
        )
    check_options(request.options)


def check_options(options: dict[str, Any]) -> None:
    """Check the option names and types a person could get wrong."""
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        raise ConversionError(
            f"unknown option(s) {', '.join(unknown)}; known options: {', '.join(OPTION_KEYS)}"
        )
    for key in ("output_nodes", "input_nodes", "tags"):
        value = options.get(key)
        if value is not None and (
            not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value)
        ):
            raise ConversionError(f"option {key} must be a list of names, got {value!r}")
    shapes = options.get("input_shapes")
    if shapes is not None and (
        not isinstance(shapes, dict)
        or not all(
            isinstance(dims, list | tuple) and all(isinstance(d, int) for d in dims)
            for dims in shapes.values()
        )
    ):
        raise ConversionError(
            "option input_shapes must map input names to lists of ints, "
            'e.g. {"images": [1, 16, 16, 2]}'
        )
    constants = options.get("input_constants")
    if constants is not None and (
        not isinstance(constants, dict)
        or not all(
            isinstance(name, str) and isinstance(value, bool | int | float)
            for name, value in constants.items()
        )
    ):
        raise ConversionError(
            "option input_constants must map input names to numbers or booleans, "
            'e.g. {"keep_prob": 1.0, "is_training": false}'
        )
    int8_io = options.get("int8_io")
    if int8_io is not None and not isinstance(int8_io, bool):
        raise ConversionError(f"option int8_io must be true or false, got {int8_io!r}")
    key = options.get("signature_key")
    if key is not None and not isinstance(key, str):
        raise ConversionError(f"option signature_key must be a string, got {key!r}")
