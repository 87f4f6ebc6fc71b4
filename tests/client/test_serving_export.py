"""TF Serving exports of uploaded SavedModels (no conversion needed, so no worker here)."""

from __future__ import annotations

import io
import tarfile

import pytest
import requests

from registry.client import BadRequest, Conflict, NotFound, TransferFailed
from registry.errors import InvalidArchive
from tests.client.trees import files_under, savedmodel_tree
from tests.factories import corrupt_recorded_sha256
from tests.files import fake_tflite, zip_file


def serving_url(registry, model: str) -> str:
    return registry.api(f"/models/{model}/serving")


def auth(registry) -> dict[str, str]:
    token = getattr(registry, "token", None)
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture
def two_versions(client, model_name, tmp_path):
    """v1: a zip with the SavedModel under `export/` next to other files; v2: a directory."""
    first = savedmodel_tree(tmp_path / "first")
    members = {f"export/{name}": data for name, data in files_under(first).items()}
    members["README.md"] = b"not part of the model"
    client.upload(model_name, zip_file(tmp_path / "first.zip", members))
    second = savedmodel_tree(tmp_path / "second")
    client.upload(model_name, second)
    client.set_alias(model_name, "production", 2, force=True)
    return first, second


def test_export_lays_out_each_version_under_name_and_number(
    client, model_name, two_versions, tmp_path
):
    first, second = two_versions

    exported = client.export_serving(
        model_name, tmp_path / "serving", aliases=["production"], versions=[1]
    )

    base = tmp_path / "serving" / model_name
    assert exported.versions == [1, 2]
    assert exported.labels == {"production": 2}
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]
    assert files_under(base / "1") == files_under(first)  # re-rooted, README.md left out
    assert files_under(base / "2") == files_under(second)


def test_export_is_a_deterministic_tar_gz_in_tf_serving_layout(registry, model_name, two_versions):
    def fetch() -> requests.Response:
        response = requests.get(
            serving_url(registry, model_name),
            params=[("alias", "production"), ("version", "1"), ("version", "2")],
            headers=auth(registry),
        )
        assert response.status_code == 200, response.text
        return response

    first, second = fetch(), fetch()

    assert first.content == second.content
    assert first.headers["Content-Type"] == "application/gzip"
    assert first.headers["Registry-Versions"] == "1,2"
    with tarfile.open(fileobj=io.BytesIO(first.content)) as archive:
        names = archive.getnames()
        assert all(m.mtime == 0 and m.uid == 0 for m in archive.getmembers())
    assert names[:2] == [model_name, f"{model_name}/1"]
    assert f"{model_name}/1/saved_model.pb" in names
    assert f"{model_name}/2/variables/variables.index" in names
    assert not any("README" in name or "export" in name for name in names)


def test_version_without_a_savedmodel_is_a_conflict_naming_why(client, model_name, tmp_path):
    client.upload(model_name, fake_tflite(tmp_path / "m.tflite"))

    with pytest.raises(Conflict) as refused:
        client.export_serving(model_name, tmp_path / "serving", versions=[1])

    assert "TF Serving needs a SavedModel" in refused.value.detail
    assert not (tmp_path / "serving" / model_name).exists()


def test_no_choice_exports_every_aliased_version_with_its_labels(
    client, model_name, two_versions, tmp_path
):
    client.set_alias(model_name, "staging", 1, force=True)

    exported = client.export_serving(model_name, tmp_path / "serving")

    assert exported.versions == [1, 2]
    assert exported.labels == {"production": 2, "staging": 1}


def test_unknown_alias_is_not_found_and_no_choice_without_aliases_is_a_bad_request(
    registry, client, model_name, two_versions, tmp_path
):
    with pytest.raises(NotFound, match="staging"):
        client.export_serving(model_name, tmp_path / "serving", aliases=["staging"])
    client.remove_alias(model_name, "production")
    with pytest.raises(BadRequest, match=r"no aliases.*\?alias=production"):
        client.export_serving(model_name, tmp_path / "serving")
    response = requests.get(
        serving_url(registry, model_name), params={"version": "two"}, headers=auth(registry)
    )
    assert response.status_code == 422
    assert "number" in response.json()["detail"]


def test_export_never_overwrites_existing_files(client, model_name, two_versions, tmp_path):
    client.export_serving(model_name, tmp_path / "serving", versions=[2])
    before = files_under(tmp_path / "serving")

    with pytest.raises(InvalidArchive, match="overwrite"):
        client.export_serving(model_name, tmp_path / "serving", versions=[1, 2])

    assert files_under(tmp_path / "serving") == before  # version 1 was unpacked, then removed


def test_export_of_corrupted_stored_bytes_breaks_off_and_leaves_nothing(
    registry, client, model_name, tmp_path
):
    version = client.upload(model_name, savedmodel_tree(tmp_path / "sm", weights_bytes=3 << 20))
    corrupt_recorded_sha256(registry, version["artifacts"][0]["sha256"])

    with pytest.raises(TransferFailed):
        client.export_serving(model_name, tmp_path / "serving", versions=[1])

    assert files_under(tmp_path / "serving") == {}
