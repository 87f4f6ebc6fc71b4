"""The client's transport against loopback servers: every wait bounded, uploads streamed."""

from __future__ import annotations

import io
import os
import time
import tracemalloc

import pytest

from registry.archives.directories import pack_directory
from registry.client import RegistryClient, RegistryUnavailable, TransferFailed
from registry.client.direct import send_parts
from registry.client.uploads import file_sha256
from tests.client.loopback import sink_server, stalled_server
from tests.client.trees import files_under, savedmodel_tree

MiB = 1024**2


def test_registry_that_accepts_but_never_answers_is_given_up_on_within_the_read_timeout():
    with stalled_server() as url, RegistryClient(url, timeout=0.5) as client:
        started = time.monotonic()
        with pytest.raises(RegistryUnavailable, match=r"nothing arrived for 0\.5 s"):
            client.models()

        assert time.monotonic() - started < 3


def test_upload_to_a_registry_that_stops_reading_is_given_up_on_within_the_write_timeout(
    tmp_path,
):
    model = tmp_path / "model.tflite"
    with model.open("wb") as out:
        out.truncate(64 * MiB)  # sparse: far more than the socket buffers hold

    # Through the API: the body a stalled registry stops reading (no direct upload to S3).
    stalled = stalled_server()
    with stalled as url, RegistryClient(url, timeout=0.5, direct_upload_threshold=None) as client:
        started = time.monotonic()
        with pytest.raises(RegistryUnavailable, match=r"could send nothing for 0\.5 s"):
            client.upload("m", model)

        assert time.monotonic() - started < 5


def test_a_part_sent_to_storage_that_stops_reading_fails_within_the_write_timeout(tmp_path):
    model = tmp_path / "model.tflite"
    with model.open("wb") as out:
        out.truncate(16 * MiB)
    part = {"number": 1, "size": 16 * MiB, "stored_etags": []}

    with stalled_server() as url, RegistryClient(url, timeout=0.5) as client:
        upload = {"part_size": 16 * MiB, "parts": [{**part, "url": f"{url}/bucket/key"}]}
        started = time.monotonic()
        with pytest.raises(
            TransferFailed, match=r"part 1 .*\(could send nothing for 0\.5 s\); upload again"
        ):
            send_parts(client.storage_http, model, upload)

        assert time.monotonic() - started < 5


def test_export_whose_bytes_stop_arriving_fails_within_the_read_timeout_leaving_nothing(
    tmp_path,
):
    packed = io.BytesIO()
    pack_directory(savedmodel_tree(tmp_path / "sm", weights_bytes=MiB), packed)
    archive = packed.getvalue()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: %d\r\n\r\n"
    reply = head % len(archive) + archive[: len(archive) // 2]

    with stalled_server(reply) as url, RegistryClient(url, timeout=0.5) as client:
        started = time.monotonic()
        with pytest.raises(TransferFailed, match=r"nothing arrived for 0\.5 s"):
            client.export_serving("m", tmp_path / "serving", versions=[1])

        assert time.monotonic() - started < 3
    assert files_under(tmp_path / "serving") == {}


def upload_measured(url: str, path) -> tuple[dict, int]:
    """What the sink server received of an upload of `path`, and the client's peak memory."""
    with RegistryClient(url) as client:
        tracemalloc.start()
        try:
            return client.upload("m", path), tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_file_upload_sends_its_sha256_first_and_streams_in_bounded_memory(tmp_path):
    model = tmp_path / "model.tflite"
    with model.open("wb") as out:
        out.truncate(48 * MiB)

    with sink_server() as url:
        received, peak = upload_measured(url, model)

    assert peak < 4 * MiB  # the body is twelve times that
    assert received["size"] == int(received["content_length"]) > 48 * MiB
    sha256_at = received["head"].index(f'name="sha256"\r\n\r\n{file_sha256(model)}')
    assert sha256_at < received["head"].index('name="file"; filename="model.tflite"')


def test_directory_upload_is_packed_as_it_is_sent_in_bounded_memory(tmp_path):
    directory = savedmodel_tree(tmp_path / "export")
    with (directory / "variables" / "variables.data-00000-of-00001").open("wb") as out:
        for _ in range(40):
            out.write(os.urandom(MiB))  # incompressible: the packed body stays that large

    with sink_server() as url:
        received, peak = upload_measured(url, directory)

    assert peak < 16 * MiB  # the body is two and a half times that
    assert received["transfer_encoding"] == "chunked"
    assert received["size"] > 40 * MiB
    assert 'name="file"; filename="export.tar.gz"' in received["head"]
