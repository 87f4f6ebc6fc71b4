"""A deterministic gzip writer that spends on each part of its input what compressing it saves.

Model weights are mostly float noise: deflate at level 6 spends ~42 ms of CPU per MiB of
them to save 9 % (the exponent bytes), and its search for repeated strings finds nothing;
run-length deflate (`Z_RLE`) saves the same 9 % for a third of the CPU. A graph proto or a
vocabulary shrinks several times at level 6. Random bytes do not shrink at all. So the input
is taken in SEGMENT-sized pieces; the first PROBE bytes of each are compressed as a sample,
and the segment is deflated at LEVEL (the sample shrinks by WORTH_SEARCHING at level 1),
run-length deflated (it shrinks by WORTH_CODING), or written as stored blocks (a copy and
a CRC).

The result is one ordinary gzip member, readable by any gzip reader: where the way of
writing changes, the compressor so far is sync-flushed (the stream is then at a byte
boundary) and a fresh one begins, so no back-reference reaches into bytes its compressor
did not see. What is written depends on the input bytes only (segments and stored blocks
are cut at fixed offsets, and deflate's output does not depend on how its input was split),
so the same input always gives the same output. Output follows input closely (a probe or
one stored block behind), so a stream that breaks off has sent what came before.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

LEVEL = 6
SEGMENT = 256 << 10
PROBE = 8 << 10
WORTH_SEARCHING = 0.15
WORTH_CODING = 0.03
DEFLATE, RUN_LENGTH, STORED = "deflate", "run-length", "stored"
STORED_BLOCK = 0xFFFF
# The gzip header: deflate, no flags, mtime 0, no extra flags, OS unknown.
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
FINAL_EMPTY_STORED_BLOCK = b"\x01\x00\x00\xff\xff"


def _compressor(mode: str):
    strategy = zlib.Z_RLE if mode == RUN_LENGTH else zlib.Z_DEFAULT_STRATEGY
    return zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS, zlib.DEF_MEM_LEVEL, strategy)


def way_to_write(sample: bytes | bytearray) -> str:
    """DEFLATE, RUN_LENGTH or STORED: what compressing `sample` says its segment is worth."""
    if len(zlib.compress(sample, 1)) <= (1 - WORTH_SEARCHING) * len(sample):
        return DEFLATE
    coder = _compressor(RUN_LENGTH)
    coded = len(coder.compress(sample)) + len(coder.flush())
    return RUN_LENGTH if coded <= (1 - WORTH_CODING) * len(sample) else STORED


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
        self._mode: str | None = None
        self._compressor: zlib._Compress | None = None
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
        mode = way_to_write(probe)
        if mode != self._mode:
            self._end_run()
            self._mode = mode
            self._compressor = None if mode == STORED else _compressor(mode)
        self._emit(probe)

    def _emit(self, data) -> None:
        if self._compressor is not None:
            if compressed := self._compressor.compress(data):
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

    def _end_run(self) -> None:
        """Bring the stream to a byte boundary with nothing pending."""
        if self._compressor is not None:
            self._out.write(self._compressor.flush(zlib.Z_SYNC_FLUSH))
            self._compressor = None
        elif self._stored:
            self._out.write(_stored_block(self._stored))
            self._stored.clear()

    def close(self) -> None:
        if self._probe:  # the input ended within a probe
            self._begin_segment()
        if self._compressor is not None:
            end = self._compressor.flush(zlib.Z_FINISH)
            self._compressor = None
        else:  # storing, or no input at all
            self._end_run()
            end = FINAL_EMPTY_STORED_BLOCK
        self._out.write(end + struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))
