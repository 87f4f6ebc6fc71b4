"""The Python client against a live registry (PostgreSQL + S3, and SQLite + local files)."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from registry.client import (
    BadRequest,
    Conflict,
    InvalidUpload,
    NotFound,
    Refused,
    RegistryClient,
    RegistryUnavailable,
    TransferFailed,
    WaitTimedOut,
)
from tests.client.trees import files_under, savedmodel_tree
from tests.factories import corrupt_recorded_sha256
from tests.files import fake_tflite


def test_upload_streams_a_file_and_reports_its_full_size_to_progress(client, model_name, tmp_path):
    model = fake_tflite(tmp_path / "model.tflite", size=3 * 1024**2 + 17)
    reports = []

    version = client.upload(model_name, model, progress=lambda d, t: reports.append((d, t)))

    size = model.stat().st_size
    assert version["version"] == 1 and version["source_kind"] == "tflite"
    assert reports[-1] == (size, size)
    assert len(reports) >= 4  # one report per MiB read, not one at the end
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)
    source = version["artifacts"][0]
    assert source["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()


def test_download_writes_the_verified_bytes_and_nothing_else(client, model_name, tmp_path):
    model = fake_tflite(tmp_path / "model.tflite", size=2 * 1024**2 + 5)
    client.upload(model_name, model)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    reports = []

    artifact = client.download(
        model_name, "latest", "tflite", out_dir / "got.tflite", lambda d, t: reports.append((d, t))
    )

    assert (out_dir / "got.tflite").read_bytes() == model.read_bytes()
    assert artifact["version"] == 1 and artifact["path"] == str(out_dir / "got.tflite")
    assert reports[-1] == (model.stat().st_size, model.stat().st_size)
    assert [p.name for p in out_dir.iterdir()] == ["got.tflite"]  # no temporary file left


def test_corrupted_download_is_rejected_and_leaves_no_file(registry, client, model_name, tmp_path):
    model = fake_tflite(tmp_path / "model.tflite", size=1024**2 + 3)
    version = client.upload(model_name, model)
    corrupt_recorded_sha256(registry, version["artifacts"][0]["sha256"])
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    with pytest.raises(TransferFailed, match="broke off|sha256"):
        client.download(model_name, 1, "tflite", out_dir / "got.tflite")

    assert list(out_dir.iterdir()) == []


def test_errors_are_typed_and_carry_the_problem_detail(client, model_name, tmp_path):
    with pytest.raises(NotFound) as missing:
        client.version(model_name, 1)
    client.create_model(model_name)
    with pytest.raises(Conflict) as duplicate:
        client.create_model(model_name)
    with pytest.raises(BadRequest) as bad_format:
        client.upload(model_name, fake_tflite(tmp_path / "m.tflite"), format="keras")

    assert missing.value.status == 404
    assert f"no model named {model_name!r}" in missing.value.detail
    assert missing.value.type.endswith("/model-not-found") and missing.value.title
    assert duplicate.value.status == 409 and "already exists" in duplicate.value.detail
    assert bad_format.value.status in (415, 422) and "keras" in bad_format.value.detail
    assert bad_format.value.detail in str(bad_format.value)


def test_directory_upload_is_packed_on_the_fly_into_a_tar_gz_of_its_files(
    client, model_name, tmp_path
):
    directory = savedmodel_tree(tmp_path / "export", weights_bytes=2 * 1024**2)
    reports = []

    version = client.upload(model_name, directory, progress=lambda d, t: reports.append((d, t)))
    client.download(model_name, 1, "savedmodel", tmp_path / "source.tar.gz")

    total = sum(len(data) for data in files_under(directory).values())
    assert version["source_kind"] == "savedmodel"
    assert version["source_filename"] == "export.tar.gz"
    assert reports[-1] == (total, total)
    with tarfile.open(tmp_path / "source.tar.gz") as archive:
        received = {
            m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()
        }
        directories = sorted(m.name for m in archive.getmembers() if m.isdir())
    assert received == files_under(directory)
    assert directories == ["assets", "variables"]


def test_directory_holding_a_symlink_is_refused_before_anything_is_sent(
    client, model_name, tmp_path
):
    directory = savedmodel_tree(tmp_path / "export")
    (directory / "variables" / "elsewhere").symlink_to("/etc/hostname")

    with pytest.raises(InvalidUpload, match="elsewhere"):
        client.upload(model_name, directory)

    with pytest.raises(NotFound):
        client.model(model_name)


def test_alias_on_a_version_that_is_not_ready_is_refused_unless_forced(
    client, model_name, tmp_path
):
    client.upload(model_name, fake_tflite(tmp_path / "m.tflite"))  # no worker: stays pending

    with pytest.raises(Refused, match="pending"):
        client.set_alias(model_name, "production", 1)
    forced = client.set_alias(model_name, "production", 1, force=True)

    assert forced["version"] == 1
    assert client.model(model_name)["aliases"] == {"production": 1}
    client.remove_alias(model_name, "production")
    assert client.model(model_name)["aliases"] == {}


def test_waiting_on_a_version_that_does_not_convert_times_out_naming_its_jobs(
    client, model_name, tmp_path
):
    client.upload(model_name, fake_tflite(tmp_path / "m.tflite"))

    with pytest.raises(WaitTimedOut, match="describe queued") as waited:
        client.wait_until_ready(model_name, 1, timeout=0.3, poll_seconds=0.1)

    assert waited.value.version["status"] == "pending"


def test_lists_cover_models_and_versions(client, model_name, tmp_path):
    for _ in range(2):
        client.upload(model_name, fake_tflite(tmp_path / "m.tflite"))

    assert [m["name"] for m in client.models(query=model_name)] == [model_name]
    assert [v["version"] for v in client.versions(model_name)] == [1, 2]


def test_unreachable_registry_is_registry_unavailable():
    with pytest.raises(RegistryUnavailable, match="cannot reach the registry"):
        RegistryClient("http://127.0.0.1:9").models()


def test_example_inputs_are_streamed_as_their_own_file(client, model_name, tmp_path):
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, x=np.ones((2, 3), np.float32))
    examples = tmp_path / "examples.npz"
    examples.write_bytes(buffer.getvalue())

    version = client.upload(model_name, fake_tflite(tmp_path / "m.tflite"), example_inputs=examples)

    listed = {a["kind"]: a for a in version["artifacts"]}
    assert listed["example_inputs"]["sha256"] == hashlib.sha256(examples.read_bytes()).hexdigest()
