"""A deterministic gzip writer that compresses only what compression shrinks.

Model weights are mostly float noise: deflate at level 6 spends ~45 ms of CPU per MiB of
them to save 7-8 %, while a graph proto or a vocabulary shrinks several times for the same
work. So the stream is cut into SEGMENT-sized pieces of input; each is probed (a few
sample slices deflated at level 1) and either deflated at LEVEL or written as stored
blocks, which cost a copy and a CRC. The result is one ordinary gzip member, readable by any
gzip reader: a stored run begins after a sync flush (the deflate stream is then at a byte
boundary) and is followed by a fresh compressor, so no back-reference ever reaches into
bytes the compressor did not see. Whether a segment is stored depends on its bytes only,
so the same input always gives the same output.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

LEVEL = 6
SEGMENT = 1 << 20
PROBE_SLICES = 4
PROBE_SLICE_BYTES = 4 << 10
# Stored unless deflating the probe saves at least this fraction of it.
WORTH_SAVING = 0.15
STORED_BLOCK = 0xFFFF
# The gzip header: deflate, no flags, mtime 0, no extra flags, OS unknown.
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def worth_deflating(segment: memoryview) -> bool:
    """Whether deflate shrinks sample slices of `segment` (spread over it) enough."""
    if len(segment) <= PROBE_SLICES * PROBE_SLICE_BYTES:
        sample = bytes(segment)
    else:
        stride = len(segment) // PROBE_SLICES
        sample = b"".join(
            segment[i * stride : i * stride + PROBE_SLICE_BYTES] for i in range(PROBE_SLICES)
        )
    return len(zlib.compress(sample, 1)) <= (1 - WORTH_SAVING) * len(sample)


def stored_blocks(data: memoryview) -> list[bytes | memoryview]:
    """`data` as non-final deflate stored blocks (the stream must be at a byte boundary)."""
    pieces: list[bytes | memoryview] = []
    for start in range(0, len(data), STORED_BLOCK):
        block = data[start : start + STORED_BLOCK]
        pieces.append(b"\x00" + struct.pack("<HH", len(block), len(block) ^ 0xFFFF))
        pieces.append(block)
    return pieces


class AdaptiveGzipWriter:
    """A write-only gzip stream over `out`; `close()` ends it (`out` is left open)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._pending = bytearray()
        self._deflate: zlib._Compress | None = None
        self._crc = 0
        self._size = 0
        out.write(HEADER)

    def write(self, data) -> int:
        self._pending += data
        if len(self._pending) >= SEGMENT:
            whole = len(self._pending) - len(self._pending) % SEGMENT
            view = memoryview(self._pending)
            for start in range(0, whole, SEGMENT):
                self._segment(view[start : start + SEGMENT])
            view.release()
            del self._pending[:whole]
        return len(data)

    def _segment(self, segment: memoryview) -> None:
        self._crc = zlib.crc32(segment, self._crc)
        self._size += len(segment)
        if worth_deflating(segment):
            if self._deflate is None:
                self._deflate = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
            self._out.write(self._deflate.compress(segment))
            return
        pieces = []
        if self._deflate is not None:
            pieces.append(self._deflate.flush(zlib.Z_SYNC_FLUSH))
            self._deflate = None
        self._out.write(b"".join([*pieces, *stored_blocks(segment)]))

    def close(self) -> None:
        if self._pending:
            with memoryview(self._pending) as view:
                self._segment(view)
            self._pending.clear()
        if self._deflate is not None:
            end = self._deflate.flush(zlib.Z_FINISH)
            self._deflate = None
        else:
            end = b"\x01\x00\x00\xff\xff"  # an empty final stored block
        self._out.write(end + struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))
