"""Turning TensorFlow's exceptions into messages a person can act on."""

from __future__ import annotations

import re

from registry.convert.contract import ConversionError

MAX_MESSAGE = 1500


def truncate(text: str, limit: int = MAX_MESSAGE) -> str:
    """Cut long text (TFLite errors embed whole MLIR dumps) keeping the start."""
    text = text.strip()
    return (
        text
        if len(text) <= limit
        else text[:limit].rstrip() + f" … [{len(text) - limit} more characters]"
    )


def first_lines(text: str, count: int = 3) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return truncate(" ".join(lines[:count]))


def _shard_truncated(text: str) -> bool:
    return "Read less bytes than requested" in text or "truncated" in text.lower()


def is_out_of_memory(exc: BaseException) -> bool:
    """Allocation failures under the process's RLIMIT_DATA, from Python, TF or C++ code."""
    return (
        isinstance(exc, MemoryError)
        or type(exc).__name__ == "ResourceExhaustedError"
        or "std::bad_alloc" in str(exc)
        or "OOM when allocating" in str(exc)  # TensorFlow's, when Keras re-raises it as its own
    )


def explain(exc: BaseException, doing: str) -> ConversionError:
    """A ConversionError for an exception raised while `doing` (e.g. "restoring the checkpoint")."""
    if isinstance(exc, ConversionError):
        return exc
    text = str(exc)
    name = type(exc).__name__
    if _shard_truncated(text):
        return ConversionError(
            "the checkpoint's data shard is truncated: Read less bytes than requested "
            f"(while {doing}); upload the complete .data file"
        )
    if is_out_of_memory(exc):
        return ConversionError(
            f"ran out of memory while {doing}: {first_lines(text, 1)}; the converter's memory "
            "limit is too small for this model"
        )
    if name == "DecodeError":
        kind = re.search(r"type '([\w.]+)'", text)
        return ConversionError(
            f"file is not a valid {kind.group(1) if kind else 'protobuf'}: "
            f"{first_lines(text, 1).split(': ')[-1]} (while {doing})"
        )
    if name == "NotFoundError" and "Op type not registered" in text:
        op = re.search(r"Op type not registered '([^']+)'", text)
        return ConversionError(
            f"the graph uses op {op.group(1) if op else '?'}, which this TensorFlow does not have "
            "(a custom op, or a newer TensorFlow's)"
        )
    missing_variable = "not in the checkpoint" in text.lower() or "not found in checkpoint" in text
    if name == "NotFoundError" and missing_variable:
        return ConversionError(
            f"the checkpoint lacks variables its graph needs: {first_lines(text, 2)}; the .meta "
            "and the .index/.data files must come from the same training run"
        )
    return ConversionError(f"{name} while {doing}: {first_lines(text, 4)}")
