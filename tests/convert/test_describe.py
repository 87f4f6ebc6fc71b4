"""Signatures of uploads, read by the converter process."""

from __future__ import annotations

import subprocess
import sys


def test_importing_registry_convert_does_not_import_tensorflow():
    code = "import sys, registry.convert; assert 'tensorflow' not in sys.modules, 'imported TF'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_checkpoint_signature_names_placeholder_and_detected_output(samples, converter):
    signature = converter.describe("checkpoint", str(samples["checkpoint"].path), {})

    assert signature["inputs"] == [{"name": "images", "dtype": "float32", "shape": [-1, 16, 16, 2]}]
    assert signature["outputs"] == [{"name": "head/probs", "dtype": "float32", "shape": [-1, 3]}]
    assert signature["checkpoint"] == "model.ckpt-100"


def test_checkpoint_signature_with_given_output_nodes(samples, converter):
    options = {"output_nodes": ["head/logits", "head/probs:0"]}
    signature = converter.describe("checkpoint", str(samples["checkpoint"].path), options)

    assert [o["name"] for o in signature["outputs"]] == ["head/logits", "head/probs"]


def test_savedmodel_signature_lists_every_key_but_the_init_op(samples, converter):
    sample = samples["tf2_savedmodel"]
    signature = converter.describe("savedmodel", str(sample.path), {})

    assert sorted(signature["signatures"]) == ["scores", "serving_default"]
    assert signature["signature_key"] == "serving_default"
    assert signature["outputs"] == [
        {"name": "logits", "dtype": "float32", "shape": [-1, 3]},
        {"name": "top", "dtype": "int64", "shape": [-1]},
    ]


def test_tf1_savedmodel_signature_with_custom_tag_and_key(samples, converter):
    sample = samples["tf1_savedmodel"]
    signature = converter.describe("savedmodel", str(sample.path), sample.options)

    assert sorted(signature["signatures"]) == ["embed", "predict"]
    assert signature["tags"] == ["myTag"]
    assert {i["name"]: i["dtype"] for i in signature["inputs"]} == {
        "features": "float32",
        "ids": "int32",
    }


def test_keras_signature_keeps_model_input_and_output_names(samples, converter):
    for path in (samples["keras"].path, samples["keras"].extra["h5_path"]):
        signature = converter.describe("keras", str(path), {})

        assert [i["name"] for i in signature["inputs"]] == ["img", "vec"]
        assert [o["name"] for o in signature["outputs"]] == ["score", "cls"]


def test_tflite_upload_is_described_from_its_signature(samples, converter, tmp_path):
    from registry.convert import ConversionRequest

    sample = samples["keras"]
    out = tmp_path / "m.tflite"
    converter.convert(ConversionRequest("keras", str(sample.path), "tflite", str(out), {}))
    signature = converter.describe("tflite", str(out), {})

    assert signature["signature_key"] == "serving_default"
    assert sorted(i["name"] for i in signature["inputs"]) == ["img", "vec"]
    assert {o["name"]: o["shape"] for o in signature["outputs"]} == {
        "score": [-1, 1],
        "cls": [-1, 5],
    }
    assert len(signature["tensors"]["inputs"]) == 2
