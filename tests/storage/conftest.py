"""The same contract tests on LocalStorage and S3Storage (SeaweedFS, or REGISTRY_S3_* env).

The session-scoped `s3_server` fixture comes from tests/conftest.py (registry/testing/seaweedfs.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from registry.storage import LocalStorage, Storage
from registry.storage.s3 import S3Storage, make_client
from registry.testing.seaweedfs import S3Server

MiB = 1024 * 1024
# S3's minimum part size, so ~12 MiB is already a three-part upload.
TEST_PART_SIZE = 5 * MiB
BUCKET = "storage-tests"


@pytest.fixture(scope="session")
def s3_client(s3_server: S3Server):
    return make_client(
        s3_server.endpoint_url, s3_server.access_key, s3_server.secret_key, max_attempts=2
    )


@pytest.fixture(scope="session")
def s3_bucket(s3_client) -> str:
    S3Storage(BUCKET, "", s3_client).ensure_bucket()
    return BUCKET


def make_s3_storage(client, bucket: str, **options) -> S3Storage:
    """An S3Storage under a prefix no other test uses."""
    options.setdefault("part_size", TEST_PART_SIZE)
    options.setdefault("parts_in_flight", 2)
    return S3Storage(bucket, f"t-{uuid.uuid4().hex[:12]}/artifacts", client, **options)


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "artifacts")
        return
    client = request.getfixturevalue("s3_client")
    bucket = request.getfixturevalue("s3_bucket")
    storage = make_s3_storage(client, bucket)
    yield storage
    storage.close()


@pytest.fixture
def s3_storage(s3_client, s3_bucket) -> Iterator[S3Storage]:
    storage = make_s3_storage(s3_client, s3_bucket)
    yield storage
    storage.close()
