"""Uploads built to hurt: absurd sizes in headers and fields, bodies shorter than they claim,
names that only look right. Each is a clear 4xx and leaves nothing stored.

The ones that depend on how the HTTP server reads the request run against werkzeug's threaded
server and against gunicorn, as docker-compose.yml runs the API.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import quote, urlsplit

import pytest
import requests

from registry.testing.ports import free_port
from tests.compose import VENV_BIN, ServiceProcess, process_environment
from tests.files import fake_tflite

BOUNDARY = "hostile-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
TFLITE_BYTES = b"\x1c\x00\x00\x00TFL3" + bytes(4088)
START_TIMEOUT = 30.0


def file_part(filename: str = "m.tflite", extra_header: str = "") -> bytes:
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
    return (head + extra_header + "\r\n").encode() + TFLITE_BYTES + b"\r\n"


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


@pytest.fixture(scope="module")
def gunicorn_url(registry, tmp_path_factory):
    """The registry under gunicorn (gthread, as composed), on the same database and storage."""
    port = free_port()
    api = ServiceProcess(
        "gunicorn",
        [
            str(VENV_BIN / "gunicorn"),
            *("--worker-class", "gthread", "--workers", "1", "--threads", "4"),
            *("--bind", f"127.0.0.1:{port}", "registry.wsgi:app"),
        ],
        process_environment(registry.settings.to_env()),
        tmp_path_factory.mktemp("gunicorn"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            requests.get(f"{url}/healthz", timeout=1).raise_for_status()
            break
        except requests.RequestException:
            assert time.monotonic() < deadline, api.log_tail()
            assert api.process.poll() is None, api.log_tail()
            time.sleep(0.2)
    yield url
    api.stop()


@pytest.fixture(params=["werkzeug", "gunicorn"])
def server_url(request, registry) -> str:
    return registry.url if request.param == "werkzeug" else request.getfixturevalue("gunicorn_url")


@pytest.fixture
def nothing_stored(registry, model_name):
    """Asserts, after the test, that no storage key and no model appeared."""
    before = set(registry.services.storage.keys())
    yield
    assert set(registry.services.storage.keys()) == before
    assert registry.http.get(registry.api(f"/models/{model_name}")).status_code == 404


def half_closed_upload(url: str, path: str, token: str, body: bytes, declared: int) -> bytes:
    """Send headers declaring `declared` bytes and then `body`, shut our side, read the answer."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: {MULTIPART}\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        )
        connection.sendall(head.encode() + body)
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_upload_shorter_than_its_content_length_then_half_closed_is_refused_as_incomplete(
    registry, server_url, model_name, nothing_stored
):
    body = form(file_part())

    answer = half_closed_upload(
        server_url,
        f"/api/v1/models/{model_name}/versions",
        registry.token,
        body,
        declared=len(body) + 100_000,
    )

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"400", answer[:500]
    assert b"Incomplete upload" in rest
    assert f"ended after {len(body)} of its {len(body) + 100_000}".encode() in rest


def test_request_header_line_of_a_megabyte_is_refused(
    registry, server_url, model_name, nothing_stored
):
    answer = requests.post(
        f"{server_url}/api/v1/models/{model_name}/versions",
        headers={**registry.http.headers, "Content-Type": MULTIPART, "X-Padding": "p" * 1024**2},
        data=form(file_part()),
        timeout=30,
    )

    assert 400 <= answer.status_code < 500


@pytest.mark.parametrize(
    "body",
    [
        form(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="tags"\r\n\r\n'.encode()
            + b"t" * (8 * 1024**2)
            + b"\r\n",
            file_part(),
        ),
        form(
            file_part(),
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="tags"\r\n\r\n'.encode()
            + b"t" * (8 * 1024**2)
            + b"\r\n",
        ),
    ],
    ids=["before-the-file", "after-the-file"],
)
def test_form_field_of_many_megabytes_is_refused(registry, model_name, nothing_stored, body):
    answer = registry.http.post(
        registry.api(f"/models/{model_name}/versions"),
        data=body,
        headers={"Content-Type": MULTIPART},
    )

    assert answer.status_code == 422, answer.text
    assert "form field 'tags' is over 64 KiB" in answer.json()["detail"]


@pytest.mark.parametrize(
    "part",
    [
        file_part(filename="f" * 100_000 + ".tflite"),
        file_part(extra_header="X-Padding: " + "p" * 1024**2 + "\r\n"),
    ],
    ids=["filename-of-100-kb", "part-header-of-1-mb"],
)
def test_multipart_part_headers_of_absurd_size_are_refused(
    registry, model_name, nothing_stored, part
):
    answer = registry.http.post(
        registry.api(f"/models/{model_name}/versions"),
        data=form(part),
        headers={"Content-Type": MULTIPART},
    )

    assert answer.status_code == 422, answer.text
    assert "headers of a multipart part" in answer.json()["detail"]


def test_preamble_without_any_boundary_is_refused_before_it_is_buffered(
    registry, model_name, nothing_stored
):
    answer = registry.http.post(
        registry.api(f"/models/{model_name}/versions"),
        data=b"x" * (4 * 1024**2),
        headers={"Content-Type": MULTIPART},
    )

    assert answer.status_code == 422, answer.text
    assert "headers of a multipart part" in answer.json()["detail"]


@pytest.mark.parametrize(
    "name",
    [
        "m\u043edel",  # Cyrillic o
        "\uff4dodel",  # fullwidth m
        "model\u200b",  # zero-width space
        "nl-model\n",
        "a" * 128 + "\n",
    ],
    ids=["cyrillic-o", "fullwidth-m", "zero-width-space", "trailing-newline", "128-and-newline"],
)
def test_model_name_that_only_looks_valid_is_refused(registry, tmp_path, name):
    before = set(registry.services.storage.keys())

    answer = registry.http.post(
        registry.api(f"/models/{quote(name)}/versions"),
        files={"file": ("m.tflite", fake_tflite(tmp_path / "m.tflite").read_bytes())},
    )

    assert answer.status_code == 422, answer.text
    assert "invalid model name" in answer.json()["detail"]
    assert set(registry.services.storage.keys()) == before
