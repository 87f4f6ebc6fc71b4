"""The registry's shared vocabulary: artifact kinds, what converts into what, and names.

Plain data and one check, importable anywhere: by the server, the converter, the client and
the command line alike (it imports nothing of theirs).
"""

from __future__ import annotations

import re

from registry.errors import InvalidRequest

# What an upload can be.
SOURCE_KINDS = ("checkpoint", "keras", "savedmodel", "frozen_pb", "tflite")
TFLITE_KINDS = ("tflite", "tflite_fp16", "tflite_int8", "tflite_int8_full")
# What a conversion can produce; the quantized TFLite kinds only when asked for.
TARGET_KINDS = ("frozen_pb", "savedmodel", *TFLITE_KINDS)
OPTIONAL_TARGETS = ("tflite_fp16", "tflite_int8", "tflite_int8_full")
# Full-integer quantization is calibrated on the upload's example inputs: no target without them.
NEEDS_EXAMPLE_INPUTS = ("tflite_int8_full",)
# Which targets each uploaded kind can be turned into, the default ones first, in the order
# they are converted. A tflite upload is only described (its signature read), never converted.
TARGETS_BY_SOURCE: dict[str, tuple[str, ...]] = {
    "checkpoint": ("frozen_pb", "savedmodel", *TFLITE_KINDS),
    "keras": ("savedmodel", "frozen_pb", *TFLITE_KINDS),
    "savedmodel": ("frozen_pb", *TFLITE_KINDS),
    "frozen_pb": ("savedmodel", *TFLITE_KINDS),
    "tflite": (),
}
DEFAULT_TARGETS: dict[str, tuple[str, ...]] = {
    source: tuple(t for t in targets if t not in OPTIONAL_TARGETS)
    for source, targets in TARGETS_BY_SOURCE.items()
}
# What a webhook endpoint can ask to be told about.
WEBHOOK_EVENTS = ("version.ready", "version.failed", "alias.moved")

# The job that reads a tflite upload's signature, and the parity inputs a version may carry.
DESCRIBE = "describe"
EXAMPLE_INPUTS_KIND = "example_inputs"
# A model card (markdown): where a SavedModel may carry one, and the most it may be.
MODEL_CARD_MEMBER = "assets.extra/README.md"
MODEL_CARD_MAX_BYTES = 256 * 1024
# The job that measures each variant's load time and latency once a version is ready; it is not
# a conversion, and the version's status does not wait for it.
PROFILE = "profile"

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
NAME_RULE = "1-128 characters: letters, digits, '.', '_' and '-', starting with a letter or digit"


def could_be_name(text: str) -> bool:
    """Whether `text` could name a model, alias or token; what cannot is looked up nowhere
    (so a NUL byte or a trailing newline never reaches the database)."""
    return NAME_PATTERN.fullmatch(text) is not None


def validate_name(what: str, name: str) -> str:
    """Model, alias and token names are a safe character set: they end up in URLs and logs."""
    if not NAME_PATTERN.fullmatch(name or ""):
        raise InvalidRequest(f"invalid {what} name {name!r}: use {NAME_RULE}")
    if what == "alias" and (name.isdigit() or name == "latest"):
        raise InvalidRequest(
            f"invalid {what} name {name!r}: numbers and 'latest' already name versions"
        )
    return name
