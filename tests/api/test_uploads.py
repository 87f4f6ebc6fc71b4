"""Uploading versions: numbering, refusals, and nothing half-written left behind."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from registry.db import make_engine
from registry.db.models import ModelVersion
from registry.services import Services, open_sessions
from registry.settings import Settings
from registry.storage.s3 import S3Storage, make_client
from tests.conftest import start_live_registry
from tests.files import fake_tflite, tar_gz, zip_file
from workers.dispatch import CeleryJobQueue


def stored_keys(registry) -> set[str]:
    return set(registry.services.storage.keys())


def version_count(registry) -> int:
    with registry.services.sessions() as session:
        return session.scalar(select(func.count()).select_from(ModelVersion))


def test_upload_answers_202_with_pending_version_and_its_jobs(registry, model_name, tmp_path):
    model_file = fake_tflite(tmp_path / "model.tflite")

    response = registry.upload(model_name, model_file)

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["version"] == 1
    assert body["status"] == "pending"
    assert body["source_kind"] == "tflite"
    assert [job["target"] for job in body["jobs"]] == ["describe"]
    assert body["artifacts"][0]["sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert response.headers["Location"].endswith(f"/models/{model_name}/versions/1")


def test_uploaded_bytes_download_identical_by_number_latest_and_alias(
    registry, model_name, tmp_path
):
    model_file = fake_tflite(tmp_path / "model.tflite", size=3 * 1024**2 + 17)
    expected = hashlib.sha256(model_file.read_bytes()).hexdigest()
    registry.upload(model_name, model_file).raise_for_status()
    alias = registry.http.put(
        registry.api(f"/models/{model_name}/aliases/production"), json={"version": 1}
    )
    assert alias.status_code == 200, alias.text

    for ref in ("1", "latest", "production"):
        response = registry.http.get(
            registry.api(f"/models/{model_name}/versions/{ref}/artifacts/tflite")
        )
        assert response.status_code == 200
        assert hashlib.sha256(response.content).hexdigest() == expected
        assert response.headers["ETag"] == f'"{expected}"'
        assert response.headers["Repr-Digest"].startswith("sha-256=:")


def test_concurrent_uploads_to_one_model_get_versions_one_to_twenty(registry, model_name, tmp_path):
    files = [fake_tflite(tmp_path / f"m{i}.tflite", size=2048) for i in range(20)]

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda path: registry.upload(model_name, path), files))

    assert all(r.status_code == 202 for r in responses), [r.text for r in responses]
    assert sorted(r.json()["version"] for r in responses) == list(range(1, 21))
    listed = registry.http.get(registry.api(f"/models/{model_name}/versions")).json()["versions"]
    assert [v["version"] for v in listed] == list(range(1, 21))


def test_checkpoint_archive_missing_a_shard_is_refused_naming_the_file(
    registry, model_name, tmp_path
):
    archive = tar_gz(
        tmp_path / "ckpt.tar.gz",
        {
            "ckpt/model.ckpt-7.meta": b"graph",
            "ckpt/model.ckpt-7.index": b"index",
            "ckpt/model.ckpt-7.data-00000-of-00002": b"shard0",
            "ckpt/checkpoint": b'model_checkpoint_path: "model.ckpt-7"\n',
        },
    )
    before = stored_keys(registry)

    response = registry.upload(model_name, archive)

    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "model.ckpt-7.data-00001-of-00002" in response.json()["detail"]
    assert stored_keys(registry) == before


@pytest.mark.parametrize(
    "members, symlinks, named",
    [
        ({"model/../../etc/passwd": b"x"}, None, "../../etc/passwd"),
        ({"/abs/saved_model.pb": b"x"}, None, "/abs/saved_model.pb"),
        ({"model/saved_model.pb": b"x"}, {"model/variables": "/etc"}, "model/variables"),
    ],
    ids=["traversal", "absolute", "symlink"],
)
def test_unsafe_tar_archive_is_refused_and_leaves_nothing(
    registry, model_name, tmp_path, members, symlinks, named
):
    archive = tar_gz(tmp_path / "bad.tar.gz", members, symlinks=symlinks)
    before_keys, before_versions = stored_keys(registry), version_count(registry)

    response = registry.upload(model_name, archive)

    assert response.status_code == 422, response.text
    assert named in response.json()["detail"]
    assert stored_keys(registry) == before_keys
    assert version_count(registry) == before_versions


def test_zip_bomb_is_refused_as_too_large_without_storing_it(registry, model_name, tmp_path):
    bomb = zip_file(
        tmp_path / "bomb.zip",
        {"model/saved_model.pb": b"x", "model/variables/filler": b"\0" * (64 * 1024**2)},
    )
    before = stored_keys(registry)

    response = registry.upload(model_name, bomb)

    assert response.status_code == 413, response.text
    assert "ratio" in response.json()["detail"] or "limit" in response.json()["detail"]
    assert stored_keys(registry) == before


def test_upload_over_the_size_limit_gets_413_and_its_bytes_are_removed(
    registry, model_name, tmp_path
):
    limit = registry.settings.max_upload_bytes
    payload = b"\x1c\x00\x00\x00TFL3" + b"\0" * 1024
    # Chunked transfer: the server can't refuse on Content-Length and must count the bytes.
    chunks = iter(
        [
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="m.tflite"\r\n\r\n',
            payload,
        ]
        + [os.urandom(1024**2)] * (limit // 1024**2 + 2)
        + [b"\r\n--b--\r\n"]
    )
    before = stored_keys(registry)

    response = registry.http.post(
        registry.api(f"/models/{model_name}/versions"),
        data=chunks,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )

    assert response.status_code == 413
    assert "REGISTRY_MAX_UPLOAD_BYTES" in response.json()["detail"]
    assert stored_keys(registry) == before


def test_unknown_format_is_refused_with_415(registry, model_name, tmp_path):
    odd = tmp_path / "notes.txt"
    odd.write_bytes(b"not a model at all")
    before = stored_keys(registry)

    response = registry.upload(model_name, odd)

    assert response.status_code == 415
    assert ".tflite" in response.json()["detail"]
    assert stored_keys(registry) == before


def test_upload_without_file_field_is_a_problem_naming_the_field(registry, model_name):
    response = registry.http.post(
        registry.api(f"/models/{model_name}/versions"), files={"other": ("x", b"x")}
    )

    assert response.status_code == 422
    assert "`file`" in response.json()["detail"]


def test_invalid_model_name_is_refused(registry, tmp_path):
    response = registry.upload("bad name!", fake_tflite(tmp_path / "m.tflite"))

    assert response.status_code == 422
    assert "invalid model name" in response.json()["detail"]


def test_failed_storage_write_leaves_no_version_row(tmp_path, postgres_schema_url, api_broker):
    settings = Settings(
        data_dir=tmp_path, database_url=postgres_schema_url(), broker_url=api_broker
    )
    # Real S3 client, pointed at a loopback port where nothing listens.
    dead_s3 = S3Storage(
        "registry", "artifacts", make_client("http://127.0.0.1:9", "k", "s", max_attempts=1)
    )
    engine = make_engine(settings.database_url)
    services = Services(settings, engine, open_sessions(engine), dead_s3, CeleryJobQueue(settings))
    live, stop = start_live_registry(settings, services)
    try:
        response = live.upload("m", fake_tflite(tmp_path / "m.tflite"))

        assert response.status_code == 503
        assert response.json()["title"] == "Storage unavailable"
        assert response.headers["Retry-After"]
        assert version_count(live) == 0
    finally:
        stop()


def test_upload_with_its_sha256_declared_is_stored_under_that_digest(
    registry, model_name, tmp_path
):
    model_file = fake_tflite(tmp_path / "model.tflite", size=6 * 1024**2)
    digest = hashlib.sha256(model_file.read_bytes()).hexdigest()

    response = registry.upload(model_name, model_file, sha256=digest)

    assert response.status_code == 202, response.text
    assert response.json()["artifacts"][0]["sha256"] == digest
    assert not list(registry.services.storage.keys("tmp/"))
    download = registry.http.get(registry.api(f"/models/{model_name}/versions/1/artifacts/tflite"))
    assert download.content == model_file.read_bytes()


def test_upload_whose_bytes_differ_from_the_declared_sha256_is_refused_and_leaves_nothing(
    registry, model_name, tmp_path
):
    model_file = fake_tflite(tmp_path / "model.tflite", size=6 * 1024**2)
    before = stored_keys(registry)

    response = registry.upload(model_name, model_file, sha256="ab" * 32)

    assert response.status_code == 422
    assert "ab" * 32 in response.json()["detail"]
    assert stored_keys(registry) == before
    assert registry.http.get(registry.api(f"/models/{model_name}")).status_code == 404


def test_refused_upload_of_bytes_another_version_holds_keeps_that_version_whole(
    registry, model_name, tmp_path
):
    model_file = fake_tflite(tmp_path / "model.tflite", size=6 * 1024**2)
    digest = hashlib.sha256(model_file.read_bytes()).hexdigest()
    registry.upload(model_name, model_file, sha256=digest).raise_for_status()

    refused = registry.upload(model_name, model_file, sha256=digest, format="keras")

    assert refused.status_code == 415, refused.text
    download = registry.http.get(registry.api(f"/models/{model_name}/versions/1/artifacts/tflite"))
    assert hashlib.sha256(download.content).hexdigest() == digest
