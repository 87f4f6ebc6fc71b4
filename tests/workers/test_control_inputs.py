"""Control placeholders (dropout's keep_prob) from upload to deployed variants, on real workers."""

from __future__ import annotations

import pytest

from registry.testing import tf_samples
from tests.cli.invoke import registry_cli
from tests.workers.conftest import download, wait_for_version
from tests.workers.uploads import tar_directory


@pytest.fixture(scope="module")
def keep_prob_archive(samples_dir):
    sample = tf_samples.build_keep_prob_checkpoint(samples_dir / "keep_prob")
    return sample, tar_directory(sample.path, samples_dir / "keep_prob.tar.gz")


def test_keep_prob_given_as_a_constant_leaves_only_the_real_input_in_every_variant(
    converting_registry, worker, keep_prob_archive, model_name, tmp_path
):
    sample, archive = keep_prob_archive

    uploaded = registry_cli(
        converting_registry,
        "upload",
        model_name,
        str(archive),
        "--output-nodes",
        "out/logits",
        "--constant",
        "keep_prob=1.0",
    )
    version = wait_for_version(converting_registry, model_name, 1)

    assert uploaded.exit_code == 0, uploaded.output
    assert version["status"] == "ready", version["status_detail"]
    assert version["options"]["input_constants"] == {"keep_prob": 1.0}
    for inputs in (sig["inputs"] for sig in version["signature"]["signatures"].values()):
        assert [i["name"] for i in inputs] == ["features"]
    parity = {a["kind"]: a["parity"] for a in version["artifacts"] if a["parity"]}
    assert set(parity) == {"frozen_pb", "savedmodel", "tflite"}
    assert all(p["checked"] and p["passed"] for p in parity.values()), parity
    tflite = download(converting_registry, model_name, 1, "tflite", tmp_path / "m.tflite")
    assert tflite.stat().st_size > 0


def test_keep_prob_left_unset_fails_the_version_naming_the_upload_field(
    converting_registry, worker, keep_prob_archive, model_name
):
    _, archive = keep_prob_archive

    converting_registry.upload(model_name, archive, output_nodes="out/logits").raise_for_status()
    version = wait_for_version(converting_registry, model_name, 1)

    assert version["status"] == "failed"
    assert "keep_prob" in version["status_detail"]
    assert "input_constants" in version["status_detail"]


def test_constant_that_is_not_a_number_or_boolean_is_refused_at_upload(
    converting_registry, keep_prob_archive, model_name
):
    _, archive = keep_prob_archive

    response = converting_registry.upload(
        model_name, archive, output_nodes="out/logits", input_constants='{"keep_prob": "1"}'
    )

    assert response.status_code == 422
    assert "keep_prob" in response.json()["detail"]
