"""`registry export-serving` of several models: the exported tree and its `models.config`, read
back with TF Serving's own config proto (tensorflow-serving-api, installed without its
`tensorflow` dependency)."""

from __future__ import annotations

import json

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from registry.cli.connection import EXIT_CONFLICT
from tests.cli.invoke import registry_cli
from tests.client.trees import files_under, savedmodel_tree
from tests.files import fake_tflite


def read_config(path) -> model_server_config_pb2.ModelServerConfig:
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(path.read_text(), config)
    return config


def test_models_config_names_each_model_its_labelled_versions_and_base_path(
    registry, client, model_name, tmp_path
):
    other = f"{model_name}-b"
    for number in (1, 2, 3):
        client.upload(model_name, savedmodel_tree(tmp_path / f"a{number}"))
    client.upload(other, savedmodel_tree(tmp_path / "b1"))
    client.set_alias(model_name, "production", 3, force=True)
    client.set_alias(model_name, "staging", 1, force=True)
    client.set_alias(other, "production", 1, force=True)
    out = tmp_path / "serving"

    exported = registry_cli(
        registry, "export-serving", "--model", model_name, "--model", other, "-o", str(out)
    )

    assert exported.exit_code == 0, exported.output
    configs = {c.name: c for c in read_config(out / "models.config").model_config_list.config}
    assert sorted(configs) == sorted([model_name, other])
    first, second = configs[model_name], configs[other]
    assert first.base_path == str((out / model_name).resolve())
    assert first.model_platform == "tensorflow"
    assert sorted(first.model_version_policy.specific.versions) == [1, 3]  # version 2: no alias
    assert dict(first.version_labels) == {"production": 3, "staging": 1}
    assert list(second.model_version_policy.specific.versions) == [1]
    assert dict(second.version_labels) == {"production": 1}
    for config in configs.values():  # every version the config names is there to load
        for number in config.model_version_policy.specific.versions:
            assert (tmp_path / config.base_path / str(number) / "saved_model.pb").is_file()
    assert sorted(p.name for p in (out / model_name).iterdir()) == ["1", "3"]
    assert "(labels production=3, staging=1)" in exported.stdout


def test_serving_root_sets_base_paths_and_an_existing_config_is_never_overwritten(
    registry, client, model_name, tmp_path
):
    client.upload(model_name, savedmodel_tree(tmp_path / "a1"))
    client.set_alias(model_name, "production", 1, force=True)
    out = tmp_path / "serving"

    exported = registry_cli(
        registry, "export-serving", model_name, "-o", str(out), "--serving-root", "/models",
        "--json",
    )  # fmt: skip
    before = files_under(out)
    again = registry_cli(registry, "export-serving", model_name, "-o", str(out))

    assert exported.exit_code == 0, exported.output
    (config,) = read_config(out / "models.config").model_config_list.config
    assert config.base_path == f"/models/{model_name}"
    assert json.loads(exported.stdout)["models"][0]["labels"] == {"production": 1}
    assert again.exit_code == EXIT_CONFLICT
    assert "models.config exists already" in again.output
    assert files_under(out) == before


def test_all_leaves_out_models_with_nothing_to_serve_and_says_why(
    registry, client, model_name, tmp_path
):
    client.upload(model_name, fake_tflite(tmp_path / "m.tflite"))
    client.set_alias(model_name, "production", 1, force=True)
    out = tmp_path / "serving"

    exported = registry_cli(registry, "export-serving", "--all", "-o", str(out), "--json")

    assert exported.exit_code == 0, exported.output
    answer = json.loads(exported.stdout)
    assert "TF Serving needs a SavedModel" in answer["skipped"][model_name]
    served = {c.name for c in read_config(out / "models.config").model_config_list.config}
    assert model_name not in served
    assert served == {model["model"] for model in answer["models"]}
