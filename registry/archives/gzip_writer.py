"""A deterministic gzip writer that compresses only what compression shrinks.

Model weights are mostly float noise: deflate at level 6 spends ~45 ms of CPU per MiB of
them to save 7-8 %, while a graph proto or a vocabulary shrinks several times for the same
work. So the input is taken in SEGMENT-sized pieces; the first PROBE bytes of each are
deflated at level 1 as a sample, and the segment is either deflated at LEVEL or written as
stored blocks, which cost a copy and a CRC. The result is one ordinary gzip member, readable
by any gzip reader: a stored run begins after a sync flush (the deflate stream is then at a
byte boundary) and is followed by a fresh compressor, so no back-reference ever reaches into
bytes the compressor did not see. What is written depends on the input bytes only (stored
blocks are cut at fixed offsets of their run, and deflate's output does not depend on how
its input was split), so the same input always gives the same output. Output follows input
closely (a probe or one stored block behind), so a stream that breaks off still has sent
what came before.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

LEVEL = 6
SEGMENT = 256 << 10
PROBE = 8 << 10
# Stored unless deflating the probe saves at least this fraction of it.
WORTH_SAVING = 0.15
STORED_BLOCK = 0xFFFF
# The gzip header: deflate, no flags, mtime 0, no extra flags, OS unknown.
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
FINAL_EMPTY_STORED_BLOCK = b"\x01\x00\x00\xff\xff"


def worth_deflating(sample: bytes | bytearray) -> bool:
    return len(zlib.compress(sample, 1)) <= (1 - WORTH_SAVING) * len(sample)


def _stored_block(data: bytes | bytearray | memoryview) -> bytes:
    """One non-final deflate stored block (the stream must be at a byte boundary)."""
    return b"\x00" + struct.pack("<HH", len(data), len(data) ^ 0xFFFF) + bytes(data)


class AdaptiveGzipWriter:
    """A write-only gzip stream over `out`; `close()` ends it (`out` is left open)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._crc = 0
        self._size = 0
        self._probe: bytearray | None = bytearray()  # None past the probe of a segment
        self._left_in_segment = 0
        self._deflate: zlib._Compress | None = None
        self._storing = False
        self._stored = bytearray()  # the stored run's bytes not yet written as a block
        out.write(HEADER)

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self._crc = zlib.crc32(view, self._crc)
        self._size += len(view)
        while view:
            if self._probe is not None:
                taken = min(PROBE - len(self._probe), len(view))
                self._probe += view[:taken]
                if len(self._probe) == PROBE:
                    self._begin_segment()
            else:
                taken = min(self._left_in_segment, len(view))
                self._emit(view[:taken])
                self._left_in_segment -= taken
                if self._left_in_segment == 0:
                    self._probe = bytearray()
            view = view[taken:]
        return len(data)

    def _begin_segment(self) -> None:
        """Choose how the segment the probe begins is written, then write the probe."""
        probe, self._probe = self._probe, None
        self._left_in_segment = SEGMENT - len(probe)
        if worth_deflating(probe):
            if self._storing:
                self._end_stored_run()
            if self._deflate is None:
                self._deflate = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        elif not self._storing:
            if self._deflate is not None:
                self._out.write(self._deflate.flush(zlib.Z_SYNC_FLUSH))
                self._deflate = None
            self._storing = True
        self._emit(probe)

    def _emit(self, data) -> None:
        if not self._storing:
            if compressed := self._deflate.compress(data):
                self._out.write(compressed)
            return
        self._stored += data
        whole = len(self._stored) - len(self._stored) % STORED_BLOCK
        if whole:
            with memoryview(self._stored) as view:
                blocks = [
                    _stored_block(view[start : start + STORED_BLOCK])
                    for start in range(0, whole, STORED_BLOCK)
                ]
            self._out.write(b"".join(blocks))
            del self._stored[:whole]

    def _end_stored_run(self) -> None:
        if self._stored:
            self._out.write(_stored_block(self._stored))
            self._stored.clear()
        self._storing = False

    def close(self) -> None:
        if self._probe:  # the input ended within a probe
            self._begin_segment()
        if self._deflate is not None:
            end = self._deflate.flush(zlib.Z_FINISH)
        else:  # storing, or no input at all
            self._end_stored_run()
            end = FINAL_EMPTY_STORED_BLOCK
        self._deflate = None
        self._out.write(end + struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))
