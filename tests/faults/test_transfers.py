"""Uploads and downloads through the API while storage stops under them: the client learns it
(503, or a broken connection), and nothing half-written is left or handed out as whole."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest
import requests
from urllib3 import encode_multipart_formdata

from registry.storage import blob_key
from tests.conftest import sibling_registry
from tests.faults.services import Crashing, full_disk, stopped, wait_until

MiB = 1024**2


def tflite_bytes(size: int) -> bytes:
    """Bytes the registry takes for a TFLite file (its identifier at offset 4)."""
    return b"\x1c\x00\x00\x00TFL3" + os.urandom(size - 8)


class ThrottledBody:
    """A request body sent at `bytes_per_second`, so a fault can land in the middle of it."""

    def __init__(self, data: bytes, bytes_per_second: int = 8 * MiB) -> None:
        self.data, self.rate = data, bytes_per_second
        self.sent = 0

    def __len__(self) -> int:
        return len(self.data)

    def read(self, size: int = -1) -> bytes:
        size = len(self.data) - self.sent if size < 0 else min(size, 64 * 1024)
        chunk = self.data[self.sent : self.sent + size]
        self.sent += len(chunk)
        time.sleep(len(chunk) / self.rate)
        return chunk


def incomplete_uploads(s3, bucket: str) -> list[dict]:
    return s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def test_upload_cut_off_by_storage_stopping_answers_503_and_leaves_nothing(fault_stack, model_name):
    registry, storage = fault_stack.registry, fault_stack.registry.services.storage
    data = tflite_bytes(24 * MiB)
    body, content_type = encode_multipart_formdata({"file": ("model.tflite", data)})
    url = registry.api(f"/models/{model_name}/versions")
    headers = {"Content-Type": content_type}

    crash = Crashing(fault_stack.s3)

    def crash_once_a_part_is_stored() -> None:
        wait_until(lambda: incomplete_uploads(fault_stack.s3, storage.bucket), "a first part")
        crash.stop()

    crasher = threading.Thread(target=crash_once_a_part_is_stored, daemon=True)
    crasher.start()
    try:
        cut_off = registry.http.post(url, data=ThrottledBody(body), headers=headers)
    finally:
        crasher.join(timeout=60)
        crash.start()

    assert cut_off.status_code == 503, cut_off.text
    assert int(cut_off.headers["Retry-After"]) > 0
    assert cut_off.json()["title"] == "Storage unavailable"
    assert registry.http.get(registry.api(f"/models/{model_name}")).status_code == 404
    assert not storage.exists(blob_key(hashlib.sha256(data).hexdigest()))

    again = registry.http.post(url, data=body, headers=headers)
    assert again.status_code == 202, again.text
    # The cut-off upload's parts, which could not be dropped while S3 was down, are now.
    assert incomplete_uploads(fault_stack.s3, storage.bucket) == []


def test_download_cut_off_by_storage_stopping_breaks_the_connection(fault_stack, model_name):
    registry = fault_stack.registry
    data = tflite_bytes(30 * MiB)
    body, content_type = encode_multipart_formdata({"file": ("model.tflite", data)})
    upload = registry.http.post(
        registry.api(f"/models/{model_name}/versions"),
        data=body,
        headers={"Content-Type": content_type},
    )
    assert upload.status_code == 202, upload.text
    url = registry.api(f"/models/{model_name}/versions/1/artifacts/tflite")

    received = 0
    with (
        registry.http.get(url, stream=True, timeout=30) as download,
        pytest.raises(requests.exceptions.ChunkedEncodingError),
    ):
        chunks = download.iter_content(MiB)
        received += len(next(chunks))
        with stopped(Crashing(fault_stack.s3)):
            for chunk in chunks:
                received += len(chunk)

    assert received < len(data)


def test_upload_to_a_full_artifact_disk_answers_507_and_leaves_nothing(
    fault_stack, model_name, tmp_path
):
    store = tmp_path / "artifacts"
    with (
        full_disk(store),
        sibling_registry(fault_stack.registry, storage_url=str(store)) as on_full_disk,
    ):
        response = on_full_disk.http.post(
            on_full_disk.api(f"/models/{model_name}/versions"),
            files={"file": ("m.tflite", tflite_bytes(256 * 1024))},
        )
        left = sorted(p.name for p in store.rglob("*") if p.is_file() and p.name != ".filler")

    assert response.status_code == 507, response.text
    assert response.json()["title"] == "Storage full"
    assert left == []
    missing = fault_stack.registry.http.get(fault_stack.registry.api(f"/models/{model_name}"))
    assert missing.status_code == 404
