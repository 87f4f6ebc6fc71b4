"""Writers turned into chunk iterators and back, in bounded memory."""

from __future__ import annotations

import os
import threading

import pytest

from registry.archives.streams import ChunkReader, written_chunks


def test_written_chunks_yields_what_was_written_in_bounded_pieces():
    data = os.urandom(5 * 1024**2 + 7)

    def produce(out) -> None:
        for start in range(0, len(data), 1000):
            out.write(data[start : start + 1000])

    chunks = list(written_chunks(produce, chunk_size=256 * 1024))

    assert b"".join(chunks) == data
    assert max(map(len, chunks)) < 256 * 1024 + 1000


def test_an_error_of_the_writer_is_raised_after_what_it_wrote():
    def produce(out) -> None:
        for _ in range(3):
            out.write(b"xxx")
        raise ValueError("disk on fire")

    received = []
    with pytest.raises(ValueError, match="disk on fire"):
        for chunk in written_chunks(produce, chunk_size=4):
            received.append(chunk)

    assert b"".join(received) == b"x" * 6  # the chunk being filled when it failed is dropped


def test_closing_the_iterator_early_stops_the_writer():
    stopped = threading.Event()

    def produce(out) -> None:
        try:
            while True:
                out.write(b"y" * 1024)
        except BrokenPipeError:
            stopped.set()
            raise

    chunks = written_chunks(produce, chunk_size=1024, max_pending=2)
    next(chunks)
    chunks.close()

    assert stopped.is_set()


def test_chunk_reader_reads_across_chunk_boundaries_and_closes_its_source():
    closed = []

    def source():
        try:
            yield from (b"abc", b"", b"defg", b"h")
        finally:
            closed.append(True)

    reader = ChunkReader(source())

    assert reader.read(2) == b"ab"
    assert reader.read(4) == b"c"  # one chunk at a time, like a raw stream
    assert reader.read() == b"defgh"
    reader.close()
    assert closed == [True]
