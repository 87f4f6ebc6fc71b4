"""TFLite conversion from a SavedModel: float32, float16 weights, dynamic-range int8.

Always `from_saved_model`: it keeps the signature (so devices get named inputs/outputs)
and, unlike `from_concrete_functions` over a Keras 3 model, cannot silently produce a
model with uninitialised weights (tf-notes section 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

from registry.convert.contract import ConversionError
from registry.convert.failures import explain, is_out_of_memory, truncate

QUANTIZATION = {"tflite": "none", "tflite_fp16": "float16", "tflite_int8": "dynamic-range int8"}


@dataclass
class TFLiteModel:
    content: bytes
    needs_flex: bool


def _converter(export_dir: Path, target_kind: str, signature_key: str, tags: list[str], flex: bool):
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(export_dir), signature_keys=[signature_key], tags=set(tags)
    )
    if target_kind in ("tflite_fp16", "tflite_int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if target_kind == "tflite_fp16":
        converter.target_spec.supported_types = [tf.float16]
    if flex:
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS,
            tf.lite.OpsSet.SELECT_TF_OPS,
        ]
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


def convert_savedmodel(
    export_dir: str | Path, target_kind: str, signature_key: str, tags: list[str]
) -> TFLiteModel:
    """Convert one signature; retry with Select TF ops when builtins lack an op."""
    export_dir = Path(export_dir)
    try:
        content = _converter(export_dir, target_kind, signature_key, tags, flex=False).convert()
        return TFLiteModel(content, needs_flex=False)
    except Exception as exc:
        if "ERROR_NEEDS_FLEX_OPS" not in _error_codes(
            exc
        ) or "ERROR_NEEDS_CUSTOM_OPS" in _error_codes(exc):
            raise _explain(exc) from None
    try:
        content = _converter(export_dir, target_kind, signature_key, tags, flex=True).convert()
    except Exception as exc:
        raise _explain(exc) from None
    return TFLiteModel(content, needs_flex=True)
