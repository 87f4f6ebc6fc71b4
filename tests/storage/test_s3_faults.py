"""S3Storage when the S3 server freezes, stops or drops a connection mid-transfer.

Each test runs its own SeaweedFS (the session one is shared and must stay well); faults are
real: the process is frozen with SIGSTOP or stopped, or a TCP proxy cuts a connection.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from registry.storage import StorageError
from registry.storage.s3 import CallPolicy, S3Storage, make_client
from registry.testing.seaweedfs import S3Server, start_seaweedfs

MiB = 1024 * 1024
# Short bounds so a fault costs seconds; the test asserts the error comes within them.
POLICY = CallPolicy(connect_timeout=1, read_timeout=1, max_attempts=2)


@pytest.fixture
def private_s3_server(tmp_path) -> Iterator[S3Server]:
    server = start_seaweedfs(tmp_path / "seaweedfs")
    yield server
    server.process.send_signal(signal.SIGCONT)  # a frozen process cannot handle SIGTERM
    server.stop()


def storage_on(endpoint_url: str, server: S3Server, bucket: str = "faults") -> S3Storage:
    """An S3Storage with POLICY's short bounds under a prefix of its own."""
    client = make_client(
        endpoint_url,
        server.access_key,
        server.secret_key,
        connect_timeout=POLICY.connect_timeout,
        read_timeout=POLICY.read_timeout,
        max_attempts=POLICY.max_attempts,
    )
    prefix = f"faults-{uuid.uuid4().hex[:12]}"
    storage = S3Storage(bucket, prefix, client, part_size=5 * MiB, parts_in_flight=2)
    storage.ensure_bucket()
    return storage


def pending_uploads(storage: S3Storage) -> list[dict]:
    resp = storage.client.list_multipart_uploads(Bucket=storage.bucket, Prefix=storage.prefix)
    return resp.get("Uploads", [])


def test_upload_to_a_frozen_server_fails_within_the_call_bound(private_s3_server):
    storage = storage_on(private_s3_server.endpoint_url, private_s3_server)
    writer = storage.writer()
    writer.write(os.urandom(6 * MiB))  # the multipart upload is under way
    private_s3_server.process.send_signal(signal.SIGSTOP)
    started = time.monotonic()

    with pytest.raises(StorageError):
        for _ in range(30):
            writer.write(os.urandom(MiB))
        writer.close()

    # The failing part, the parts still in flight, then the abort: three call bounds at most.
    assert time.monotonic() - started < 3 * POLICY.worst_case_seconds
    private_s3_server.process.send_signal(signal.SIGCONT)
    # The abort could not reach the frozen server; the sweep is what ends such an upload.
    storage.abort_abandoned_uploads(older_than=timedelta(0))
    assert pending_uploads(storage) == []
    storage.close()


def test_read_from_a_frozen_server_fails_within_the_read_bound(private_s3_server):
    storage = storage_on(private_s3_server.endpoint_url, private_s3_server)
    writer = storage.writer()
    writer.write(os.urandom(8 * MiB))
    key = writer.close().temp_key
    file = storage.open(key)
    assert len(file.read(MiB)) == MiB
    private_s3_server.process.send_signal(signal.SIGSTOP)
    started = time.monotonic()

    with pytest.raises(StorageError, match="GetObject"):
        file.read()

    # A stalled body, one GET, its body (see S3RawReader).
    assert time.monotonic() - started < 2 * POLICY.read_timeout + POLICY.worst_case_seconds
    storage.close()


def test_upload_to_a_stopped_server_fails_within_the_call_bound(private_s3_server):
    storage = storage_on(private_s3_server.endpoint_url, private_s3_server)
    writer = storage.writer()
    writer.write(os.urandom(6 * MiB))
    private_s3_server.stop()
    started = time.monotonic()

    with pytest.raises(StorageError):  # a 500 from the stopping server, or no connection
        writer.write(os.urandom(5 * MiB))
        writer.close()

    assert time.monotonic() - started < 3 * POLICY.worst_case_seconds
    storage.close()


class CuttingProxy:
    """A loopback TCP proxy that cuts the first connection to relay `cut_after` response bytes.

    Only reads carry responses that large, so the cut lands in the middle of a GET's body.
    """

    def __init__(self, upstream_port: int, cut_after: int) -> None:
        self._upstream_port = upstream_port
        self._cut_after = cut_after
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.endpoint_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.cut = threading.Event()
        self._cut_lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self._upstream_port), timeout=10)
            self._sockets += (client, upstream)
            for source, sink, responses in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(
                    target=self._pump, args=(source, sink, responses), daemon=True
                ).start()

    def close(self) -> None:
        """Stop accepting and drop every relayed connection (the server waits for open ones)."""
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for sock in self._sockets:
            _drop(sock)

    def _pump(self, source: socket.socket, sink: socket.socket, responses: bool) -> None:
        """Copy source to sink until either ends or this is the connection to cut."""
        relayed = 0
        with contextlib.suppress(OSError):
            while data := source.recv(64 * 1024):
                sink.sendall(data)
                relayed += len(data)
                if responses and relayed >= self._cut_after and self._claim_the_cut():
                    break
        _drop(source)
        _drop(sink)

    def _claim_the_cut(self) -> bool:
        with self._cut_lock:
            if self.cut.is_set():
                return False
            self.cut.set()
            return True


def _drop(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def test_read_resumes_a_body_cut_mid_window_from_the_byte_reached(private_s3_server):
    # A private server too: after a cut stream SeaweedFS sometimes needs its SIGKILL to stop.
    data = os.urandom(6 * MiB)
    server_port = int(private_s3_server.endpoint_url.rsplit(":", 1)[1])
    proxy = CuttingProxy(server_port, cut_after=MiB + MiB // 2)  # in the second 2 MiB window
    storage = storage_on(proxy.endpoint_url, private_s3_server)
    try:
        writer = storage.writer()
        writer.write(data)
        key = storage.promote(writer.close())
        assert not proxy.cut.is_set()  # upload responses are small: the cut comes on reading

        read_back = storage.open(key).read()

        assert proxy.cut.is_set()
        assert hashlib.sha256(read_back).digest() == hashlib.sha256(data).digest()
    finally:
        storage.close()
        proxy.close()
