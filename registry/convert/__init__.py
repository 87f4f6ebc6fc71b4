"""TensorFlow conversions, signature extraction and parity checks: the only TF user.

Importing this package is cheap: TensorFlow is imported only inside the converter process
that `Converter` starts (see converter.py). Everything public is re-exported here:

    with Converter(timeout_seconds=600, memory_limit_mb=8192) as converter:
        signature = converter.describe("checkpoint", "/uploads/v3", {})
        result = converter.convert(ConversionRequest(
            source_kind="checkpoint", source_path="/uploads/v3",
            target_kind="tflite", output_path="/out/model.tflite", options={}))
        result.parity["passed"], result.variant["size"], result.steps
"""

from registry.convert.contract import (
    ConversionError,
    ConversionRequest,
    ConversionResult,
    ConverterCrashed,
    ConverterOutOfMemory,
    ConverterTimeout,
)
from registry.convert.converter import Converter

__all__ = [
    "ConversionError",
    "ConversionRequest",
    "ConversionResult",
    "Converter",
    "ConverterCrashed",
    "ConverterOutOfMemory",
    "ConverterTimeout",
]
