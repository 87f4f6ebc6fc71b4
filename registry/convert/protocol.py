"""Messages between the Converter and its process: length-prefixed JSON over a private pipe.

Not stdout: TensorFlow and Keras print there. A message is a 4-byte big-endian length and a
UTF-8 JSON object.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

_HEADER = struct.Struct(">I")


class PipeClosed(Exception):
    """The other end of the pipe is gone (its process exited or died)."""


def _plain(value: Any) -> Any:
    # numpy scalars and arrays reach here from the TF side; JSON has no such types.
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, default=_plain).encode("utf-8")
    return _HEADER.pack(len(body)) + body


def send(fd: int, message: dict[str, Any]) -> None:
    data = memoryview(encode(message))
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _read_exactly(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise PipeClosed()
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def receive(fd: int) -> dict[str, Any]:
    """Read one message; blocks. Raises PipeClosed at end of file."""
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size))
    return json.loads(_read_exactly(fd, size))
