"""A checkpoint directory uploaded with the CLI, converted by a real worker, exported for TF
Serving, and the exported SavedModel loaded by TensorFlow from the model_base_path layout."""

from __future__ import annotations

import json

from tests.cli.invoke import registry_cli
from tests.convert.independent import assert_matches, run_savedmodel


def test_exported_savedmodel_loads_from_the_serving_layout_and_computes_the_source_outputs(
    converting_registry, worker, samples, model_name, tmp_path
):
    sample = samples["checkpoint"]  # a directory: train/model.ckpt-100.{meta,index,data}
    nodes = ",".join(sample.options["output_nodes"])

    uploaded = registry_cli(
        converting_registry, "upload", model_name, str(sample.path), "--output-nodes", nodes,
        "--wait", "--timeout", "240", "--json",
    )  # fmt: skip
    assert uploaded.exit_code == 0, (uploaded.output, worker.log_tail())
    version = json.loads(uploaded.stdout)
    assert version["status"] == "ready"
    aliased = registry_cli(converting_registry, "alias", "set", model_name, "production", "1")
    shown = registry_cli(converting_registry, "show", f"{model_name}@production")
    exported = registry_cli(
        converting_registry, "export-serving", model_name, "--alias", "production",
        "-o", str(tmp_path / "serving"),
    )  # fmt: skip

    assert aliased.exit_code == 0 and shown.exit_code == 0, shown.output
    assert shown.stdout.startswith(f"{model_name}@1  ready  aliases: production")
    for words in ("input   images", "output  head/probs", "savedmodel", "head/logits"):
        assert words in shown.stdout, shown.stdout
    assert exported.exit_code == 0, exported.output
    assert f"exported {model_name} version 1 to" in exported.stdout
    version_dir = tmp_path / "serving" / model_name / "1"
    assert (version_dir / "saved_model.pb").is_file()
    assert (version_dir / "variables" / "variables.index").is_file()
    savedmodel = next(a for a in version["artifacts"] if a["kind"] == "savedmodel")
    produced = run_savedmodel(version_dir, sample.inputs, savedmodel["facts"].get("renamed_inputs"))
    assert_matches(sample.expected, produced, "savedmodel")
