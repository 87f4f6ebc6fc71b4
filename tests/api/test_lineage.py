"""Reverse lookup and lineage of uploads that are not converted (the workers' tests convert)."""

from __future__ import annotations

import hashlib

from tests.cli.invoke import registry_cli
from tests.files import fake_tflite


def test_reverse_lookup_of_an_uploaded_file_names_its_version_and_uploader(
    registry, model_name, tmp_path
):
    model_file = fake_tflite(tmp_path / "m.tflite")
    registry.upload(model_name, model_file).raise_for_status()
    sha256 = hashlib.sha256(model_file.read_bytes()).hexdigest()

    answer = registry.http.get(registry.api(f"/artifacts/{sha256.upper()}"))

    assert answer.status_code == 200, answer.text
    [holder] = answer.json()["holders"]
    assert (holder["model"], holder["version"], holder["kind"]) == (model_name, 1, "tflite")
    assert holder["uploaded_by"] == registry.token_name
    [step] = holder["ancestry"]
    assert step["artifact"]["sha256"] == sha256 and step["derived_by"] is None


def test_bytes_the_registry_never_stored_are_404_and_whence_says_so(registry, tmp_path):
    stranger = fake_tflite(tmp_path / "stranger.tflite")
    sha256 = hashlib.sha256(stranger.read_bytes()).hexdigest()

    answer = registry.http.get(registry.api(f"/artifacts/{sha256}"))
    whence = registry_cli(registry, "whence", str(stranger))

    assert answer.status_code == 404
    assert "never stored bytes with sha256" in answer.json()["detail"]
    assert whence.exit_code == 2
    assert f"the registry has never seen these bytes (stranger.tflite, sha256 {sha256})" in (
        whence.output
    )


def test_reverse_lookup_of_something_not_a_sha256_is_422(registry):
    assert registry.http.get(registry.api("/artifacts/not-a-hash")).status_code == 422


def test_lineage_of_an_upload_that_is_not_converted_is_its_one_node(registry, model_name, tmp_path):
    registry.upload(model_name, fake_tflite(tmp_path / "m.tflite")).raise_for_status()

    graph = registry.http.get(registry.api(f"/models/{model_name}/versions/1/lineage")).json()
    dot = registry.http.get(
        registry.api(f"/models/{model_name}/versions/1/lineage"), params={"format": "dot"}
    )

    assert [node["kind"] for node in graph["nodes"]] == ["tflite"]
    assert graph["edges"] == [] and graph["uploaded_by"] == registry.token_name
    assert dot.headers["Content-Type"].startswith("text/vnd.graphviz")
    assert dot.text.startswith(f'digraph "{model_name}@1" {{') and '"tflite" [label=' in dot.text
