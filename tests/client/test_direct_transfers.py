"""Transfers that bypass the API: direct uploads in presigned parts and redirected downloads
(PostgreSQL + SeaweedFS), and the proxied path a local store keeps (SQLite + local files)."""

from __future__ import annotations

import hashlib
import os
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from registry.client import RegistryClient, TransferFailed
from registry.domain.catalog.direct_uploads import DIRECT_PREFIX
from tests.files import fake_tflite

MiB = 1024**2
# Three parts of the fixture's 5 MiB part size (S3's minimum, which SeaweedFS enforces).
DIRECT_FILE_SIZE = 2 * 5 * MiB + 123
on_s3 = pytest.mark.parametrize("registry", ["postgres"], indirect=True)


@pytest.fixture
def direct_client(registry):
    """A client that sends every file directly when the store allows, recording its PUTs."""
    with RegistryClient(registry.url, registry.token, direct_upload_threshold=1) as client:
        client.parts_sent = []
        client.storage_http.event_hooks["request"].append(
            lambda request: client.parts_sent.append(_part_number(request))
        )
        yield client


def _part_number(request: httpx.Request) -> int | None:
    if request.method != "PUT":
        return None
    return int(parse_qs(urlsplit(str(request.url)).query)["partNumber"][0])


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _start_body(path, sha256: str | None = None) -> dict:
    data = path.read_bytes()
    return {"filename": path.name, "size": len(data), "sha256": sha256 or _sha256(data)}


def test_a_large_file_goes_to_s3_in_parts_and_a_local_store_takes_it_through_the_api(
    registry, direct_client, model_name, tmp_path
):
    """On S3 the checked bytes stay where their parts were joined, and are stored once."""
    model = fake_tflite(tmp_path / "big.tflite", size=DIRECT_FILE_SIZE)
    stored = registry.services.storage
    direct_keys_before = set(stored.keys(DIRECT_PREFIX))

    version = direct_client.upload(model_name, model)
    first_parts_sent = sorted(direct_client.parts_sent)
    direct_keys = set(stored.keys(DIRECT_PREFIX)) - direct_keys_before
    again = direct_client.upload(model_name, model)

    [source] = version["artifacts"]
    sha256 = _sha256(model.read_bytes())
    assert source["sha256"] == sha256
    assert source["size"] == DIRECT_FILE_SIZE
    assert version["status"] == "pending" and [j["target"] for j in version["jobs"]] == ["describe"]
    on_s3 = registry.settings.storage_url.startswith("s3://")
    assert first_parts_sent == ([1, 2, 3] if on_s3 else [])
    assert len(direct_keys) == (1 if on_s3 else 0)
    # Not copied to the content key, and the second upload's copy was removed.
    assert set(stored.keys(DIRECT_PREFIX)) - direct_keys_before == direct_keys
    assert stored.exists(f"blobs/sha256/{sha256[:2]}/{sha256}") is not on_s3
    assert again["artifacts"][0]["sha256"] == sha256
    for number in (version["version"], again["version"]):
        direct_client.download(model_name, number, "tflite", tmp_path / f"back{number}.tflite")
        assert (tmp_path / f"back{number}.tflite").read_bytes() == model.read_bytes()


def test_a_local_store_refuses_direct_uploads_and_serves_downloads_itself(
    registry, model_name, tmp_path
):
    model = fake_tflite(tmp_path / "m.tflite")
    registry.upload(model_name, model).raise_for_status()

    started = registry.http.post(
        registry.api(f"/models/{model_name}/uploads"), json=_start_body(model)
    )
    download = registry.http.get(
        registry.api(f"/models/{model_name}/versions/1/artifacts/tflite"),
        params={"redirect": "true"},
        allow_redirects=False,
    )

    if registry.settings.storage_url.startswith("s3://"):
        assert started.status_code == 200, started.text
        assert download.status_code == 307
        assert download.headers["Location"].startswith(registry.settings.s3_endpoint_url)
    else:
        assert started.status_code == 409
        assert started.headers["Content-Type"] == "application/problem+json"
        assert started.json()["title"] == "Direct uploads unavailable"
        assert download.status_code == 200
        assert download.content == model.read_bytes()


@on_s3
def test_an_interrupted_direct_upload_resumes_sending_only_the_parts_s3_lacks(
    registry, direct_client, model_name, tmp_path
):
    model = fake_tflite(tmp_path / "big.tflite", size=DIRECT_FILE_SIZE)
    data = model.read_bytes()
    started = registry.http.post(
        registry.api(f"/models/{model_name}/uploads"), json=_start_body(model)
    )
    started.raise_for_status()
    first, second, _ = started.json()["parts"]
    # Cut off after two parts, the second of which arrived damaged (same size, other bytes).
    httpx.put(first["url"], content=data[: first["size"]], timeout=30).raise_for_status()
    damaged = os.urandom(second["size"])
    httpx.put(second["url"], content=damaged, timeout=30).raise_for_status()

    version = direct_client.upload(model_name, model)

    assert sorted(direct_client.parts_sent) == [2, 3]
    assert version["artifacts"][0]["sha256"] == _sha256(data)
    direct_client.download(model_name, version["version"], "tflite", tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == data


@on_s3
@pytest.mark.parametrize("claimed_is_held", [False, True], ids=["new-digest", "held-digest"])
def test_a_direct_upload_whose_bytes_differ_from_its_sha256_is_refused_and_leaves_nothing(
    registry, client, model_name, tmp_path, claimed_is_held
):
    """Claiming a digest no bytes have yet, or one another version holds (which stays whole)."""
    held = fake_tflite(tmp_path / "held.tflite")
    if claimed_is_held:
        registry.upload(f"{model_name}-held", held).raise_for_status()
    claimed = _sha256(held.read_bytes())
    model = fake_tflite(tmp_path / "big.tflite", size=DIRECT_FILE_SIZE)
    data = model.read_bytes()
    body = _start_body(model, sha256=claimed)
    uploads = registry.api(f"/models/{model_name}/uploads")
    started = registry.http.post(uploads, json=body).json()
    complete = f"{uploads}/{started['id']}/complete"
    early = registry.http.post(complete, json={**body, "parts": []})
    sent = _put_parts(started, data)

    refused = registry.http.post(complete, json={**body, "parts": sent})

    assert early.status_code == 409 and early.json()["title"] == "Parts missing"
    assert refused.status_code == 422
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert claimed in refused.json()["detail"] and _sha256(data) in refused.json()["detail"]
    storage = registry.services.storage
    assert registry.http.get(registry.api(f"/models/{model_name}")).status_code == 404
    upload_prefix = f"{DIRECT_PREFIX}{started['id']}/"
    assert not list(storage.keys(upload_prefix))
    assert storage.find_direct_upload(upload_prefix) is None
    assert not storage.exists(f"blobs/sha256/{_sha256(data)[:2]}/{_sha256(data)}")
    claimed_key = f"blobs/sha256/{claimed[:2]}/{claimed}"
    if claimed_is_held:
        client.download(f"{model_name}-held", 1, "tflite", tmp_path / "held-back")
        assert (tmp_path / "held-back").read_bytes() == held.read_bytes()
    else:
        assert not storage.exists(claimed_key)
    again = registry.http.post(complete, json={**body, "parts": sent})
    assert again.status_code == 404 and again.json()["title"] == "Upload not found"


def _put_parts(started: dict, data: bytes) -> list[dict]:
    """PUT every part of a started direct upload; each part's number and ETag."""
    sent, offset = [], 0
    for part in started["parts"]:
        put = httpx.put(part["url"], content=data[offset : offset + part["size"]], timeout=30)
        sent.append({"number": part["number"], "etag": put.headers["ETag"]})
        offset += part["size"]
    return sent


@on_s3
def test_a_direct_upload_of_no_model_is_refused_and_its_checked_bytes_removed(
    registry, model_name, tmp_path
):
    text = tmp_path / "notes.tflite"
    text.write_bytes(b"not a model, whatever its name says\n" * 100)
    body = _start_body(text)
    uploads = registry.api(f"/models/{model_name}/uploads")
    started = registry.http.post(uploads, json=body).json()
    sent = _put_parts(started, text.read_bytes())

    complete = f"{uploads}/{started['id']}/complete"
    refused = registry.http.post(complete, json={**body, "parts": sent})

    assert refused.status_code == 415, refused.text
    assert not list(registry.services.storage.keys(f"{DIRECT_PREFIX}{started['id']}/"))
    assert registry.http.get(registry.api(f"/models/{model_name}")).status_code == 404


@on_s3
def test_a_redirected_download_serves_the_bytes_and_the_client_catches_tampered_ones(
    registry, s3_server, client, model_name, tmp_path
):
    model = fake_tflite(tmp_path / "m.tflite", size=64 * 1024)
    registry.upload(model_name, model).raise_for_status()
    url = registry.api(f"/models/{model_name}/versions/1/artifacts/tflite")

    redirect = registry.http.get(url, params={"redirect": "true"}, allow_redirects=False)
    presigned = httpx.get(redirect.headers["Location"], timeout=30)
    client.download(model_name, 1, "tflite", tmp_path / "good.tflite")
    storage = registry.services.storage
    key = f"{storage.prefix}/blobs/sha256/{_sha256(model.read_bytes())[:2]}"
    key += f"/{_sha256(model.read_bytes())}"
    s3_server.client().put_object(Bucket=storage.bucket, Key=key, Body=os.urandom(64 * 1024))

    with pytest.raises(TransferFailed, match="but the registry lists"):  # the client's own check
        client.download(model_name, 1, "tflite", tmp_path / "bad.tflite")

    assert redirect.status_code == 307
    assert redirect.headers["Cache-Control"] == "no-store"
    assert presigned.content == model.read_bytes()
    assert redirect.headers["Location"].startswith(registry.settings.s3_endpoint_url)
    assert (tmp_path / "good.tflite").read_bytes() == model.read_bytes()
    assert not list(tmp_path.glob("*bad.tflite*"))
