"""Parsing a multipart/form-data body once, as it streams in, handing file bytes to sinks."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO, Protocol

from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from registry.errors import InvalidRequest

READ_SIZE = 1024 * 1024
MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 32


class FileSink(Protocol):
    def write(self, chunk: bytes) -> None: ...
    def abort(self) -> None: ...


class FormBody:
    """Text fields and file sinks of one parsed form."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.files: dict[str, tuple[str, FileSink]] = {}

    def abort(self) -> None:
        for _, sink in self.files.values():
            sink.abort()


def read_form(
    stream: BinaryIO,
    content_type: str,
    open_sink: Callable[[str, str, dict[str, str]], FileSink],
) -> FormBody:
    """Decode the body; `open_sink(field, filename, fields so far)` gets each file's bytes.

    Nothing is buffered beyond one read and the decoder's boundary look-behind, so memory stays
    flat however large the file is. On any error every opened sink is aborted.
    """
    mimetype, options = parse_options_header(content_type)
    boundary = options.get("boundary", "").encode()
    if mimetype != "multipart/form-data" or not boundary:
        raise InvalidRequest("send the upload as multipart/form-data with a `file` field")
    decoder = MultipartDecoder(boundary, max_parts=MAX_PARTS)
    body = FormBody()
    try:
        _decode(stream, decoder, body, open_sink)
    except ValueError as error:  # the decoder's word for a malformed body
        body.abort()
        raise InvalidRequest(f"malformed multipart body: {error}") from error
    except BaseException:
        body.abort()
        raise
    return body


def _decode(stream, decoder: MultipartDecoder, body: FormBody, open_sink) -> None:
    current_sink: FileSink | None = None
    field_name = ""
    field_value = bytearray()
    while True:
        chunk = stream.read(READ_SIZE)
        decoder.receive_data(chunk or None)
        event = decoder.next_event()
        while not isinstance(event, NeedData | Epilogue):
            if isinstance(event, File):
                if event.name in body.files:
                    raise InvalidRequest(f"form field {event.name!r} appears twice")
                current_sink = open_sink(event.name, event.filename or "", body.fields)
                body.files[event.name] = (event.filename or "", current_sink)
            elif isinstance(event, Field):
                current_sink, field_name = None, event.name
                field_value.clear()
            elif isinstance(event, Data):
                if current_sink is not None:
                    current_sink.write(event.data)
                else:
                    field_value += event.data
                    if len(field_value) > MAX_FIELD_BYTES:
                        raise InvalidRequest(f"form field {field_name!r} is over 64 KiB")
                    if not event.more_data:
                        body.fields[field_name] = field_value.decode("utf-8", "replace")
            event = decoder.next_event()
        if isinstance(event, Epilogue):
            return
        if not chunk:
            raise InvalidRequest("the multipart body ended before its closing boundary")
