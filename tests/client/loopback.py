"""Loopback HTTP servers that misbehave or just listen, for what a live registry cannot show."""

from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from werkzeug.serving import make_server
from werkzeug.wsgi import get_input_stream

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 30
JOIN_SECONDS = 5


@contextmanager
def stalled_server(reply: bytes = b"") -> Iterator[str]:
    """The URL of a server that accepts connections, sends `reply`, then nothing more.

    It never reads, and its receive buffer is small, so a large upload soon finds it full.
    """
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited when accepted
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.05)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)
            connection.sendall(reply)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(JOIN_SECONDS)
        for connection in held:
            connection.close()
        listener.close()


HEAD_BYTES = 64 * 1024


def sink(environ, start_response):
    """A WSGI app that reads the body to its end in small reads, keeping only its head, and
    answers 202 with what it received."""
    body = get_input_stream(environ)  # bounded by Content-Length, or dechunked
    head = body.read(HEAD_BYTES)
    size = len(head)
    while chunk := body.read(64 * 1024):
        size += len(chunk)
    received = {
        "content_length": environ.get("CONTENT_LENGTH"),
        "transfer_encoding": environ.get("HTTP_TRANSFER_ENCODING"),
        "size": size,
        "head": head.decode("latin-1"),
    }
    start_response("202 Accepted", [("Content-Type", "application/json")])
    return [json.dumps(received).encode()]


def serve_sink() -> None:
    server = make_server("127.0.0.1", 0, sink)
    print(server.server_port, flush=True)
    server.serve_forever()


@contextmanager
def sink_server() -> Iterator[str]:
    """The URL of `sink`, served from a process of its own so that what it allocates is not
    counted as the client's memory."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from tests.client.loopback import serve_sink; serve_sink()"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], START_SECONDS)
        assert ready, f"the sink server did not start within {START_SECONDS} s"
        yield f"http://127.0.0.1:{process.stdout.readline().strip()}"
    finally:
        process.terminate()
        process.wait(JOIN_SECONDS)
