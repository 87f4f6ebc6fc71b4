"""Parsing a multipart/form-data body once, as it streams in, handing file bytes to sinks."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO, Protocol

from flask import Flask, request
from werkzeug.datastructures import Headers
from werkzeug.exceptions import ClientDisconnected
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from registry.errors import ClientIdle, IncompleteUpload, InvalidRequest

READ_SIZE = 1024 * 1024
MAX_FIELD_BYTES = 64 * 1024
# A part's headers hold a name, a filename and a content type; the decoder buffers them whole.
MAX_PART_HEAD_BYTES = 16 * 1024
MAX_PARTS = 32


class RequestBody:
    """The request body read a chunk at a time, counting bytes against its Content-Length.

    An end before the declared length (a client that half-closes, or a proxy that gave up) is
    an incomplete upload, whichever server notices it: gunicorn hands over the short body as if
    it were whole, werkzeug's own server raises ClientDisconnected.
    """

    def __init__(self, stream: BinaryIO, declared_length: int | None) -> None:
        self.stream = stream
        self.declared_length = declared_length
        self.received = 0

    def read(self) -> bytes:
        try:
            chunk = self.stream.read(READ_SIZE)
        except ClientDisconnected:
            chunk = b""
        except TimeoutError as error:  # the socket's idle bound, `bound_idle_clients`
            raise ClientIdle(
                f"the upload stalled after {self.received} bytes and was cut off "
                f"(REGISTRY_CLIENT_IDLE_TIMEOUT_SECONDS); nothing was stored, send it again"
            ) from error
        self.received += len(chunk)
        if not chunk and self.received < (self.declared_length or 0):
            raise IncompleteUpload(
                f"the upload ended after {self.received} of its {self.declared_length} "
                f"declared bytes (Content-Length); nothing was stored, send it again"
            )
        return chunk

    def read_to_end(self) -> None:
        """Read what follows the closing boundary: the body is whole only at its length."""
        while self.declared_length is not None and self.received < self.declared_length:
            self.read()


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
    declared_length: int | None = None,
) -> FormBody:
    """Decode the body; `open_sink(field, filename, fields so far)` gets each file's bytes.

    Nothing is buffered beyond one read, the decoder's boundary look-behind and one part's
    headers, so memory stays flat however large the file is. A body shorter than
    `declared_length` is refused. On any error every opened sink is aborted.
    """
    mimetype, options = parse_options_header(content_type)
    boundary = options.get("boundary", "").encode()
    if mimetype != "multipart/form-data" or not boundary:
        raise InvalidRequest("send the upload as multipart/form-data with a `file` field")
    decoder = MultipartDecoder(boundary, max_parts=MAX_PARTS)
    body = FormBody()
    try:
        _decode(RequestBody(stream, declared_length), decoder, body, open_sink)
    except ValueError as error:  # the decoder's word for a malformed body
        body.abort()
        raise InvalidRequest(f"malformed multipart body: {error}") from error
    except BaseException:
        body.abort()
        raise
    return body


def _decode(stream: RequestBody, decoder: MultipartDecoder, body: FormBody, open_sink) -> None:
    current_sink: FileSink | None = None
    # A file part not opened until its first byte: a browser sends a file input left empty as
    # a part with no filename and no bytes, which is no file at all.
    unopened: File | None = None
    field_name = ""
    field_value = bytearray()
    while True:
        chunk = stream.read()
        decoder.receive_data(chunk or None)
        event = decoder.next_event()
        while not isinstance(event, NeedData | Epilogue):
            if isinstance(event, File | Field):
                _check_head_size(_head_size(event.headers))
                current_sink, unopened = None, None
            if isinstance(event, File):
                if event.name in body.files:
                    raise InvalidRequest(f"form field {event.name!r} appears twice")
                if event.filename:
                    current_sink = _open_file(event, body, open_sink)
                else:
                    unopened = event
            elif isinstance(event, Field):
                field_name = event.name
                field_value.clear()
            elif isinstance(event, Data):
                if unopened is not None and event.data:  # its first byte: a file after all
                    current_sink, unopened = _open_file(unopened, body, open_sink), None
                if current_sink is not None:
                    current_sink.write(event.data)
                elif unopened is None:
                    field_value += event.data
                    if len(field_value) > MAX_FIELD_BYTES:
                        raise InvalidRequest(f"form field {field_name!r} is over 64 KiB")
                    if not event.more_data:
                        body.fields[field_name] = field_value.decode("utf-8", "replace")
            event = decoder.next_event()
        if isinstance(event, Epilogue):
            stream.read_to_end()
            return
        if not chunk:
            raise InvalidRequest("the multipart body ended before its closing boundary")
        # Drained, the decoder holds only a boundary's look-behind, or the headers of a part
        # (or a preamble) it has not seen the end of yet.
        _check_head_size(len(decoder.buffer))


def _open_file(event: File, body: FormBody, open_sink) -> FileSink:
    sink = open_sink(event.name, event.filename or "", body.fields)
    body.files[event.name] = (event.filename or "", sink)
    return sink


def _head_size(headers: Headers) -> int:
    return sum(len(name) + len(value) for name, value in headers.items())


def _check_head_size(size: int) -> None:
    if size > MAX_PART_HEAD_BYTES:
        raise InvalidRequest(
            f"the headers of a multipart part (a field name, a filename) are over "
            f"{MAX_PART_HEAD_BYTES // 1024} KiB"
        )


def bound_idle_clients(app: Flask, idle_seconds: float) -> None:
    """Under gunicorn, every read of a request's socket waits at most `idle_seconds`: a client
    whose body stalls is cut off and its partial upload removed, instead of holding a thread
    for as long as it likes."""

    @app.before_request
    def _bound_socket_reads() -> None:
        client = request.environ.get("gunicorn.socket")
        if client is not None:
            client.settimeout(idle_seconds)
