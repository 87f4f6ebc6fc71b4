"""S3Storage specifics: multipart mechanics, bounded memory, cleanup, error mapping."""

from __future__ import annotations

import gc
import hashlib
import os
import socket
import threading
import time
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from registry.storage import BlobNotFound, StorageError, blob_key
from registry.storage.s3 import S3Storage, make_client, parse_s3_url
from tests.storage.conftest import make_s3_storage

MiB = 1024 * 1024


def pending_uploads(storage: S3Storage) -> list[dict]:
    resp = storage.client.list_multipart_uploads(Bucket=storage.bucket, Prefix=storage.prefix)
    return resp.get("Uploads", [])


def raw_keys(storage: S3Storage) -> list[str]:
    resp = storage.client.list_objects_v2(Bucket=storage.bucket, Prefix=storage.prefix)
    return [o["Key"] for o in resp.get("Contents", [])]


class SpyClient:
    """Delegates to a real client; counts concurrent upload_part calls, can fail one part."""

    def __init__(self, client, delay: float = 0.0, fail_part: int | None = None) -> None:
        self._client = client
        self._delay = delay
        self._fail_part = fail_part
        self._lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.parts = 0
        self.buffers: set[int] = set()

    def __getattr__(self, name):
        return getattr(self._client, name)

    def upload_part(self, **kwargs):
        with self._lock:
            self.active += 1
            self.parts += 1
            self.max_active = max(self.max_active, self.active)
            self.buffers.add(id(kwargs["Body"]))
        try:
            time.sleep(self._delay)
            if kwargs["PartNumber"] == self._fail_part:
                raise ClientError(
                    {
                        "Error": {"Code": "InternalError", "Message": "injected"},
                        "ResponseMetadata": {"HTTPStatusCode": 500},
                    },
                    "UploadPart",
                )
            return self._client.upload_part(**kwargs)
        finally:
            with self._lock:
                self.active -= 1


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_large_blob_is_stored_as_a_multipart_object(s3_storage):
    data = os.urandom(12 * MiB)
    writer = s3_storage.writer()
    writer.write(data)
    blob = writer.close()

    head = s3_storage.head(blob.temp_key)

    assert head["ETag"].strip('"').endswith("-3")  # three 5 MiB-or-less parts
    assert head["ContentLength"] == len(data)
    assert blob.sha256 == hashlib.sha256(data).hexdigest()


def test_small_blob_is_a_single_put_without_a_multipart_upload(s3_storage):
    writer = s3_storage.writer()
    writer.write(b"x" * 1000)
    blob = writer.close()

    assert "-" not in s3_storage.head(blob.temp_key)["ETag"]
    assert pending_uploads(s3_storage) == []


def test_writer_keeps_at_most_parts_in_flight_parts_outstanding(s3_client, s3_bucket):
    spy = SpyClient(s3_client, delay=0.2)
    storage = make_s3_storage(spy, s3_bucket, parts_in_flight=2)
    writer = storage.writer()
    chunk = os.urandom(MiB)

    for _ in range(8 * 5 + 1):  # eight full parts and a bit
        writer.write(chunk)
        assert sum(not f.done() for f in writer._parts) <= 2
    blob = writer.close()

    assert spy.parts == 9
    assert spy.max_active == 2
    # Memory: parts_in_flight + 1 part buffers (two being sent, one filling), reused.
    assert len(spy.buffers) <= 3
    assert blob.size == 41 * MiB
    storage.close()


def test_abort_midway_leaves_no_pending_multipart_upload(s3_storage):
    writer = s3_storage.writer()
    for _ in range(12):
        writer.write(os.urandom(MiB))
    assert len(pending_uploads(s3_storage)) == 1

    writer.abort()

    assert pending_uploads(s3_storage) == []
    assert raw_keys(s3_storage) == []


def test_failed_part_raises_storage_error_and_cleans_up(s3_client, s3_bucket):
    storage = make_s3_storage(SpyClient(s3_client, fail_part=2), s3_bucket)
    writer = storage.writer()

    with pytest.raises(StorageError, match="UploadPart 2.*InternalError"):
        for _ in range(20):
            writer.write(os.urandom(MiB))
        writer.close()
    assert pending_uploads(storage) == []  # the failed write aborted it: no abort() needed
    writer.abort()

    assert pending_uploads(storage) == []
    assert raw_keys(storage) == []
    storage.close()


def test_writer_dropped_without_close_aborts_its_upload(s3_storage):
    writer = s3_storage.writer()
    writer.write(os.urandom(12 * MiB))
    assert len(pending_uploads(s3_storage)) == 1

    del writer
    deadline = time.monotonic() + 30  # the parts in flight keep the writer alive until sent
    while pending_uploads(s3_storage) and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.05)

    assert pending_uploads(s3_storage) == []


def test_abandoned_uploads_are_aborted_and_recent_ones_kept(s3_storage):
    key = f"{s3_storage.prefix}/tmp/left-by-a-dead-process"
    s3_storage.client.create_multipart_upload(Bucket=s3_storage.bucket, Key=key)

    assert s3_storage.abort_abandoned_uploads(older_than=timedelta(hours=1)) == 0
    assert [u["Key"] for u in pending_uploads(s3_storage)] == [key]
    assert s3_storage.abort_abandoned_uploads(older_than=timedelta(0)) == 1
    assert pending_uploads(s3_storage) == []


def test_close_failure_aborts_the_upload(s3_client, s3_bucket):
    storage = make_s3_storage(SpyClient(s3_client, fail_part=3), s3_bucket)
    writer = storage.writer()
    writer.write(os.urandom(11 * MiB))  # parts 1 and 2 sent; part 3 is sent by close()

    with pytest.raises(StorageError, match="UploadPart 3"):
        writer.close()

    assert pending_uploads(storage) == []
    assert raw_keys(storage) == []
    storage.close()


def test_promote_of_a_large_blob_uses_a_parallel_range_copy(s3_client, s3_bucket):
    storage = make_s3_storage(s3_client, s3_bucket, copy_threshold=5 * MiB, copy_part_size=5 * MiB)
    data = os.urandom(12 * MiB + 1)
    writer = storage.writer()
    writer.write(data)
    blob = writer.close()

    key = storage.promote(blob)

    assert storage.head(key)["ETag"].strip('"').endswith("-3")
    assert hashlib.sha256(b"".join(storage.iter_bytes(key))).hexdigest() == blob.sha256
    assert raw_keys(storage) == [f"{storage.prefix}/{key}"]
    assert pending_uploads(storage) == []
    storage.close()


def test_promote_of_a_missing_temporary_blob_is_blob_not_found(s3_storage):
    writer = s3_storage.writer()
    writer.write(b"gone")
    blob = writer.close()
    s3_storage.delete(blob.temp_key)

    with pytest.raises(BlobNotFound):
        s3_storage.promote(blob)


def test_keys_are_confined_to_the_prefix(s3_client, s3_bucket):
    a = make_s3_storage(s3_client, s3_bucket)
    b = make_s3_storage(s3_client, s3_bucket)
    writer = a.writer()
    writer.write(b"only in a")
    key = a.promote(writer.close())

    assert list(a.keys()) == [key]
    assert list(b.keys()) == []
    assert not b.exists(key)


def test_unreachable_endpoint_raises_storage_error_quickly():
    client = make_client(
        f"http://127.0.0.1:{closed_port()}", "k", "s", connect_timeout=1, max_attempts=1
    )
    storage = S3Storage("bucket", "prefix", client, part_size=5 * MiB)
    started = time.monotonic()

    with pytest.raises(StorageError, match="cannot reach"):
        storage.check()
    with pytest.raises(StorageError, match="cannot reach"):
        storage.exists(blob_key("a" * 64))
    with pytest.raises(StorageError, match="cannot reach"):
        storage.open("tmp/x")
    writer = storage.writer()
    writer.write(b"small")
    with pytest.raises(StorageError, match="cannot reach"):
        writer.close()
    writer.abort()
    writer = storage.writer()
    with pytest.raises(StorageError, match="cannot reach"):
        writer.write(os.urandom(6 * MiB))
        writer.close()
    writer.abort()

    assert time.monotonic() - started < 5


def test_server_errors_are_storage_errors_not_client_errors(s3_client, s3_bucket):
    class Failing(SpyClient):
        def head_bucket(self, **kwargs):
            raise ClientError(
                {
                    "Error": {"Code": "ServiceUnavailable", "Message": "try later"},
                    "ResponseMetadata": {"HTTPStatusCode": 503},
                },
                "HeadBucket",
            )

    storage = S3Storage(s3_bucket, "p", Failing(s3_client))

    with pytest.raises(StorageError, match="503 ServiceUnavailable"):
        storage.check()


def test_ensure_bucket_creates_a_missing_bucket_once(s3_client):
    name = f"ensure-{os.urandom(4).hex()}"
    storage = S3Storage(name, "", s3_client)

    storage.ensure_bucket()
    storage.ensure_bucket()

    storage.check()


def test_check_of_a_missing_bucket_fails(s3_client):
    storage = S3Storage(f"missing-{os.urandom(4).hex()}", "", s3_client)

    with pytest.raises(StorageError) as raised:
        storage.check()
    assert not isinstance(raised.value, BlobNotFound)


def test_part_size_below_the_s3_minimum_is_refused(s3_client):
    with pytest.raises(ValueError, match="at least"):
        S3Storage("b", "", s3_client, part_size=MiB)


def test_parse_s3_url():
    assert parse_s3_url("s3://bucket/some/prefix/") == ("bucket", "some/prefix")
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    with pytest.raises(ValueError):
        parse_s3_url("http://bucket/x")
