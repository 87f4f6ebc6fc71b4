"""TFLite conversion from a SavedModel: float32, float16 weights, dynamic-range int8, and
full-integer int8 calibrated on the upload's example inputs.

Always `from_saved_model`: it keeps the signature (so devices get named inputs/outputs)
and, unlike `from_concrete_functions` over a Keras 3 model, cannot silently produce a
model with uninitialised weights (docs/conversion.md §5).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

from registry.convert.contract import ConversionError
from registry.convert.failures import explain, is_out_of_memory, truncate
from registry.convert.tflite_report import FLEX_PREFIX, operator_names

QUANTIZATION = {
    "tflite": "none",
    "tflite_fp16": "float16",
    "tflite_int8": "dynamic-range int8",
    "tflite_int8_full": "full-integer int8",
}


@dataclass
class TFLiteModel:
    content: bytes
    # The TFLite builtin ops it uses, and the TensorFlow ops it runs through Flex.
    ops: list[str]
    flex_ops: list[str]

    @property
    def needs_flex(self) -> bool:
        return bool(self.flex_ops)


@dataclass(frozen=True)
class FullInteger:
    """How to calibrate a full-integer model: sample feeds keyed by input name, one row each;
    `int8_io` makes its inputs and outputs int8 too (else they stay float, quantized inside)."""

    representative: Callable[[], Iterator[dict]]
    int8_io: bool = False


class TensorListsNeedStaticShapes(ConversionError):
    """Builtins cannot hold the model's tensor lists (a Keras RNN's loop) at a dynamic batch."""


def _with_ops_listed(content: bytes) -> TFLiteModel:
    names = {name for ops in operator_names(content) for name in ops}
    flex_ops = {n.removeprefix(FLEX_PREFIX) for n in names if n.startswith(FLEX_PREFIX)}
    ops = {n for n in names if not n.startswith(FLEX_PREFIX)}
    return TFLiteModel(content, sorted(ops), sorted(flex_ops))


def _converter(
    export_dir: Path,
    target_kind: str,
    signature_key: str,
    tags: list[str],
    flex: bool,
    keep_tensor_lists: bool = False,
    full_integer: FullInteger | None = None,
):
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(export_dir), signature_keys=[signature_key], tags=set(tags)
    )
    if target_kind != "tflite":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if target_kind == "tflite_fp16":
        converter.target_spec.supported_types = [tf.float16]
    builtins = tf.lite.OpsSet.TFLITE_BUILTINS
    if full_integer is not None:
        # Every builtin in int8, calibrated on the representative rows.
        builtins = tf.lite.OpsSet.TFLITE_BUILTINS_INT8
        converter.target_spec.supported_ops = [builtins]
        converter.representative_dataset = full_integer.representative
        if full_integer.int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    if flex:
        converter.target_spec.supported_ops = [builtins, tf.lite.OpsSet.SELECT_TF_OPS]
    if keep_tensor_lists:
        # TensorFlow's documented switch for RNNs at a dynamic batch: the tensor-list ops
        # stay TensorFlow ops (run by Flex) instead of being lowered to static builtins.
        converter._experimental_lower_tensor_list_ops = False
    return converter


def _error_codes(exc: Exception) -> set[str]:
    text = str(exc)
    codes = {c for c in ("ERROR_NEEDS_FLEX_OPS", "ERROR_NEEDS_CUSTOM_OPS") if c in text}
    for error in getattr(exc, "errors", None) or []:
        code = getattr(error, "error_code", 0)
        codes.add({1: "ERROR_NEEDS_FLEX_OPS", 2: "ERROR_NEEDS_CUSTOM_OPS"}.get(code, str(code)))
    return codes


def _failed_ops(exc: Exception) -> list[str]:
    names = []
    for error in getattr(exc, "errors", None) or []:
        name = getattr(getattr(error, "operator", None), "name", "")
        if name and name not in names:
            names.append(name)
    return names


def _explain(exc: Exception) -> ConversionError:
    # ConverterError lives in tensorflow.lite.python.convert_phase, which the tf.lite API
    # module shadows; it is recognised by name.
    text = str(exc)
    codes = _error_codes(exc)
    if is_out_of_memory(exc):
        return explain(exc, "converting to TFLite")
    if "ERROR_NEEDS_CUSTOM_OPS" in codes:
        ops = ", ".join(_failed_ops(exc)) or "some ops"
        return ConversionError(
            f"TFLite cannot convert this model: {ops} exist neither as TFLite builtins nor as "
            "Select TF (Flex) ops"
        )
    lowered = text.lower()
    if "input_shapes" in lowered or "dynamic" in lowered and "shape" in lowered:
        return ConversionError(
            "TFLite needs fixed input shapes for this model: pass input_shapes, e.g. "
            '{"input_name": [1, 224, 224, 3]}. Converter said: ' + truncate(text, 600)
        )
    return ConversionError(f"TFLite conversion failed: {truncate(text, 1200)}")


def _needs_static_tensor_lists(text: str) -> bool:
    return "TensorList" in text and "static" in text


def convert_savedmodel(
    export_dir: str | Path,
    target_kind: str,
    signature_key: str,
    tags: list[str],
    keep_tensor_lists: bool = False,
    full_integer: FullInteger | None = None,
) -> TFLiteModel:
    """Convert one signature; retry with Select TF ops when builtins lack an op.

    `keep_tensor_lists` converts with Select TF ops and tensor lists kept as they are,
    which an RNN at a dynamic batch needs. Without it, a model whose tensor lists need a
    static shape raises TensorListsNeedStaticShapes, so the caller can fix the batch.
    """
    export_dir = Path(export_dir)

    def convert(flex: bool) -> TFLiteModel:
        converter = _converter(
            export_dir, target_kind, signature_key, tags, flex, keep_tensor_lists, full_integer
        )
        return _with_ops_listed(converter.convert())

    if not keep_tensor_lists:
        try:
            return convert(flex=False)
        except Exception as exc:
            codes = _error_codes(exc)
            if _needs_static_tensor_lists(str(exc)):
                raise TensorListsNeedStaticShapes(truncate(str(exc), 600)) from None
            if "ERROR_NEEDS_FLEX_OPS" not in codes or "ERROR_NEEDS_CUSTOM_OPS" in codes:
                raise _explain(exc) from None
    try:
        return convert(flex=True)
    except Exception as exc:
        if full_integer is not None and "Flex" in str(exc):
            # Calibration runs the model, and no interpreter here runs Flex ops (§13).
            raise ConversionError(
                "tflite_int8_full cannot be made for this model: it needs Select TF (Flex) ops, "
                "and calibrating runs the model in an interpreter, which here has no Flex "
                "delegate; use tflite_int8 (dynamic range) instead"
            ) from None
        raise _explain(exc) from None
