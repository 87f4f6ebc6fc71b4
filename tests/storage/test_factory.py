"""open_storage picks the backend from the storage URL."""

from __future__ import annotations

import uuid

from registry.settings import Settings
from registry.storage import LocalStorage, UnfinishedUpload, open_storage
from registry.storage.s3 import S3Storage


def test_default_is_a_local_directory_under_data_dir(tmp_path):
    storage = open_storage(Settings(data_dir=tmp_path))

    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "artifacts").resolve()


def test_file_url_and_plain_path_are_local(tmp_path):
    by_url = open_storage(Settings(data_dir=tmp_path, storage_url=f"file://{tmp_path}/a"))
    by_path = open_storage(Settings(data_dir=tmp_path, storage_url=str(tmp_path / "b")))

    assert isinstance(by_url, LocalStorage) and by_url.root == (tmp_path / "a").resolve()
    assert isinstance(by_path, LocalStorage) and by_path.root == (tmp_path / "b").resolve()


def test_s3_url_opens_s3_storage_and_creates_the_bucket(tmp_path, s3_server):
    bucket = f"factory-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        data_dir=tmp_path,
        storage_url=f"s3://{bucket}/some/prefix",
        s3_endpoint_url=s3_server.endpoint_url,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        part_size_bytes=5 * 1024**2,
        parts_in_flight=3,
    )

    storage = open_storage(settings)

    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == (bucket, "some/prefix")
    assert (storage.part_size, storage.parts_in_flight) == (5 * 1024**2, 3)
    storage.check()
    writer = storage.writer()
    writer.write(b"hello")
    key = storage.promote(writer.close())
    assert b"".join(storage.iter_bytes(key)) == b"hello"
    storage.close()


def test_presigned_urls_name_the_public_s3_endpoint_when_one_is_set(tmp_path, s3_server):
    settings = Settings(
        data_dir=tmp_path,
        storage_url=f"s3://factory-{uuid.uuid4().hex[:8]}/p",
        s3_endpoint_url=s3_server.endpoint_url,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        s3_public_endpoint_url="http://s3.example.test:8333",
    )

    storage = open_storage(settings)

    download = storage.download_url("blobs/x", 60, "model.tflite")
    part = storage.part_url(UnfinishedUpload("blobs/direct/x/y", "upload-1"), 3, 60)
    assert download.startswith("http://s3.example.test:8333/")
    assert "response-content-disposition=attachment" in download
    assert part.startswith("http://s3.example.test:8333/") and "partNumber=3" in part
    storage.check()  # the registry itself still talks to the endpoint it reaches
    storage.close()
