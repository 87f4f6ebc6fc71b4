"""Graphs uploaded without output_nodes: their outputs are found once per version, recorded on
it with how they were found, and every variant is converted with them; or the version fails
once, naming the candidates."""

from __future__ import annotations

import pytest

from registry.testing import tf_samples
from tests.cli.invoke import registry_cli
from tests.convert.independent import assert_matches, run_variant
from tests.workers.conftest import download, wait_for_version
from tests.workers.uploads import tar_directory


@pytest.fixture(scope="module")
def training_checkpoint(tmp_path_factory) -> tf_samples.Sample:
    return tf_samples.build_training_checkpoint(tmp_path_factory.mktemp("training"))


def test_training_checkpoint_converts_with_the_output_feeding_its_loss_and_says_so(
    converting_registry, worker, training_checkpoint, model_name, tmp_path
):
    upload = tar_directory(training_checkpoint.path, tmp_path / "training.tar.gz")

    response = converting_registry.upload(model_name, upload)
    version = wait_for_version(converting_registry, model_name, 1)

    assert [job["target"] for job in response.json()["jobs"]] == ["describe"]
    assert version["status"] == "ready", (version["status_detail"], worker.log_tail())
    inferred = version["inferred_outputs"]
    assert inferred["output_nodes"] == ["mlp/score"]
    assert "feeds the loss" in inferred["how"] and "labels" in inferred["how"]
    assert [job["target"] for job in version["jobs"]] == [
        "describe", "frozen_pb", "savedmodel", "tflite",
    ]  # fmt: skip
    assert all(job["status"] == "succeeded" for job in version["jobs"])
    for job in version["jobs"][1:]:
        assert job["outcome"]["options_used"]["output_nodes"] == ["mlp/score"]
    assert [e["name"] for e in version["signature"]["outputs"]] == ["mlp/score"]
    frozen = next(a for a in version["artifacts"] if a["kind"] == "frozen_pb")
    path = download(converting_registry, model_name, 1, "frozen_pb", tmp_path / "model.pb")
    produced = run_variant(frozen["facts"], "frozen_pb", path, training_checkpoint.inputs)
    assert_matches(training_checkpoint.expected, produced, "frozen_pb")
    shown = registry_cli(converting_registry, "show", f"{model_name}@1")
    assert "outputs inferred: mlp/score, as training graph" in shown.stdout


def test_graph_whose_outputs_cannot_be_found_fails_once_for_the_version(
    converting_registry, worker, samples, model_name
):
    response = converting_registry.upload(model_name, samples["ambiguous"].path)
    version = wait_for_version(converting_registry, model_name, 1)

    assert response.status_code == 202, response.text
    assert version["status"] == "failed"
    assert [(job["target"], job["status"]) for job in version["jobs"]] == [("describe", "failed")]
    assert version["status_detail"].count("cannot tell which nodes are the outputs") == 1
    assert "output_nodes=" in version["status_detail"]
    assert version["inferred_outputs"] is None
