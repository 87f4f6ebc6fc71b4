"""Clients that stall mid-upload cannot take the API away from everyone else.

The API runs as docker-compose.yml runs it (its own gunicorn command line), on the production
database and storage, with a short idle bound so the test need not wait a minute.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections.abc import Iterator

import pytest
import requests

from registry.testing.ports import free_port
from tests.compose import ServiceProcess, process_environment, read_compose, service_command
from tests.conftest import backend_settings, start_live_registry

STALLED_CLIENTS = 100
IDLE_TIMEOUT_SECONDS = 4
START_TIMEOUT = 60
BOUNDARY = "stalled-upload"


@pytest.fixture(scope="module")
def production_registry(tmp_path_factory, s3_server, postgres_schema_url, api_broker):
    """A registry on PostgreSQL and S3 of its own, whose API the test runs as compose does."""
    settings = backend_settings(
        "postgres",
        tmp_path_factory.mktemp("slow-clients"),
        s3_server,
        postgres_schema_url,
        api_broker,
    ).with_changes(client_idle_timeout_seconds=IDLE_TIMEOUT_SECONDS)
    live, stop = start_live_registry(settings)
    yield live
    stop()


@pytest.fixture(scope="module")
def composed_api(production_registry, tmp_path_factory) -> Iterator[str]:
    """The compose file's API command, bound to a loopback port."""
    port = free_port()
    env = process_environment(
        production_registry.settings.to_env(), GUNICORN_CMD_ARGS=f"--bind=127.0.0.1:{port}"
    )
    api = ServiceProcess(
        "api",
        service_command(read_compose(), "api"),
        env,
        tmp_path_factory.mktemp("composed-api"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        assert time.monotonic() < deadline, api.log_tail()
        assert api.process.poll() is None, api.log_tail()
        time.sleep(0.2)
    yield url
    api.stop()


def stalled_upload(port: int, token: str, model: str, sent_bytes: int) -> socket.socket:
    """A client that starts a large upload, sends `sent_bytes` of its file, then nothing."""
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="m.tflite"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    client = socket.create_connection(("127.0.0.1", port), timeout=30)
    client.sendall(
        f"POST /api/v1/models/{model}/versions HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {16 * 1024**2}\r\n\r\n".encode()
        + head
        + b"\x1c\x00\x00\x00TFL3"
        + b"\0" * sent_bytes
    )
    return client


def answer_of(client: socket.socket) -> bytes:
    """The response the server sent (its head and body), or what came before it closed."""
    received = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in received and (chunk := client.recv(65536)):
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        declared = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        while declared and len(body) < int(declared.group(1)) and (chunk := client.recv(65536)):
            body += chunk
        received = head + b"\r\n\r\n" + body
    return received


def test_a_hundred_stalled_uploads_leave_the_api_answering_and_are_cut_off_leaving_nothing(
    composed_api, production_registry, model_name
):
    registry = production_registry
    port = int(composed_api.rsplit(":", 1)[1])
    keys_before = set(registry.services.storage.keys())
    # A few stall past the first multipart part (storage has started a multipart upload).
    sizes = [6 * 1024**2] * 3 + [64 * 1024] * (STALLED_CLIENTS - 3)
    stalled = [stalled_upload(port, registry.token, model_name, size) for size in sizes]
    try:
        time.sleep(1)  # every stalled request is in the API by now, each holding a thread
        started = time.monotonic()
        health = requests.get(f"{composed_api}/healthz", timeout=10)
        listing = requests.get(
            f"{composed_api}/api/v1/models",
            headers={"Authorization": f"Bearer {registry.token}"},
            timeout=10,
        )
        answered_in = time.monotonic() - started
        answers = [answer_of(client) for client in stalled]
    finally:
        for client in stalled:
            client.close()

    assert health.status_code == 200 and listing.status_code == 200
    assert answered_in < 1, f"normal requests took {answered_in:.2f} s beside stalled uploads"
    timed_out = [answer for answer in answers if b" 408 " in answer.split(b"\r\n", 1)[0]]
    assert len(timed_out) == STALLED_CLIENTS, answers[0][:300]
    assert b"REGISTRY_CLIENT_IDLE_TIMEOUT_SECONDS" in timed_out[0]
    assert registry.http.get(registry.api(f"/models/{model_name}")).status_code == 404
    assert set(registry.services.storage.keys()) == keys_before
    s3 = registry.services.storage
    pending = s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])
    assert pending == []
