"""Every conversion of every sample, checked by running the produced variant in the test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from registry.convert import ConversionRequest, ConversionResult
from registry.testing import tf_samples
from tests.convert.independent import (
    assert_matches,
    run_frozen_pb,
    run_savedmodel,
    run_variant,
)

TFLITES = ("tflite", "tflite_fp16", "tflite_int8")
CASES = [
    *[("checkpoint", t) for t in ("frozen_pb", "savedmodel", *TFLITES)],
    *[("keras", t) for t in ("frozen_pb", "savedmodel", *TFLITES)],
    *[("keras_h5", t) for t in ("frozen_pb", "savedmodel", "tflite")],
    *[("tf1_savedmodel", t) for t in ("frozen_pb", *TFLITES)],
    *[("tf2_savedmodel", t) for t in ("frozen_pb", *TFLITES)],
    *[("frozen", t) for t in ("savedmodel", *TFLITES)],
]


def _source(samples, name: str):
    if name == "keras_h5":
        sample = samples["keras"]
        return sample, Path(sample.extra["h5_path"])
    return samples[name], samples[name].path


def convert(converter, sample, path, target, out: Path, **extra) -> ConversionResult:
    options = {**sample.options, **extra.pop("options", {})}
    request = ConversionRequest(sample.kind, str(path), target, str(out), options, **extra)
    return converter.convert(request)


@pytest.mark.parametrize(("sample_name", "target"), CASES, ids=[f"{s}-{t}" for s, t in CASES])
def test_variant_run_independently_matches_source_outputs(
    samples, converter, tmp_path, sample_name, target
):
    sample, path = _source(samples, sample_name)
    out = tmp_path / f"variant.{target}"
    result = convert(converter, sample, path, target, out)

    assert result.parity["checked"] is True
    assert result.parity["passed"] is True, result.parity
    assert sorted(result.parity["outputs"]) == sorted(sample.output_names)
    produced = run_variant(result.variant, target, out, sample.inputs)
    assert_matches(sample.expected, produced, target)
    assert result.variant["size"] > 0
    json.dumps(result.to_dict())  # the worker stores it as JSON


def test_checkpoint_frozen_graph_keeps_node_names_and_reports_steps(samples, converter, tmp_path):
    sample = samples["checkpoint"]
    result = convert(converter, sample, sample.path, "frozen_pb", tmp_path / "m.pb")

    assert result.variant["input_nodes"] == ["images"]
    assert result.variant["output_nodes"] == ["head/logits", "head/probs"]
    assert result.steps == ["restore", "freeze"]
    assert set(result.converter_versions) == {
        "tensorflow",
        "keras",
        "ai_edge_litert",
        "numpy",
        "python",
    }


def test_checkpoint_tflite_is_derived_through_freezing(samples, converter, tmp_path):
    sample = samples["checkpoint"]
    result = convert(converter, sample, sample.path, "tflite", tmp_path / "m.tflite")

    assert result.steps == ["restore", "freeze", "savedmodel-build", "tflite-convert"]
    assert result.variant["signatures"] == {
        "serving_default": {"inputs": ["images"], "outputs": ["head/logits", "head/probs"]}
    }
    assert result.variant["tensors"]["inputs"][0]["shape_signature"] == [-1, 16, 16, 2]


def test_checkpoint_without_output_nodes_exports_the_unconsumed_head(samples, converter, tmp_path):
    sample = samples["checkpoint"]
    request = ConversionRequest(
        "checkpoint", str(sample.path), "frozen_pb", str(tmp_path / "m.pb"), {}
    )
    result = converter.convert(request)

    assert result.options["output_nodes"] == ["head/probs"]
    assert result.options["input_nodes"] == ["images"]
    produced = run_frozen_pb(
        tmp_path / "m.pb", sample.inputs, {"images": "images"}, {"head/probs": "head/probs"}
    )
    assert_matches({"head/probs": sample.expected["head/probs"]}, produced, "frozen_pb")


def test_source_kept_for_the_next_job_serves_only_the_same_bytes(samples, converter, tmp_path):
    # A version's jobs each bring their own copy of the upload; the converter keeps the model
    # it loaded, and the SavedModel it exported, for the next copy of the same bytes.
    sample = samples["keras"]
    first, second = tmp_path / "job1", tmp_path / "job2"
    for job in (first, second):
        job.mkdir()
        shutil.copy(sample.path, job / "model.keras")
    convert(converter, sample, first / "model.keras", "savedmodel", first / "sm")
    shutil.rmtree(first)  # as the worker does once it has packed the SavedModel

    for target, out in (("tflite", second / "m.tflite"), ("savedmodel", second / "sm")):
        result = convert(converter, sample, second / "model.keras", target, out)
        assert result.parity["passed"] is True, result.parity
        assert_matches(
            sample.expected, run_variant(result.variant, target, out, sample.inputs), target
        )

    # Other bytes at the same path: loaded afresh, not served from what was kept.
    other = tf_samples.build_keras_model(tmp_path / "other", with_vec=False)
    shutil.copy(other.path, second / "model.keras")
    result = convert(converter, other, second / "model.keras", "savedmodel", second / "sm2")
    assert [e["name"] for e in result.variant["inputs"]] == ["img"]
    produced = run_variant(result.variant, "savedmodel", second / "sm2", other.inputs)
    assert_matches(other.expected, produced, "savedmodel")


def test_keras_savedmodel_signature_uses_keras_input_and_output_names(samples, converter, tmp_path):
    sample = samples["keras"]
    result = convert(converter, sample, sample.path, "savedmodel", tmp_path / "sm")

    assert sorted(e["name"] for e in result.variant["inputs"]) == ["img", "vec"]
    assert sorted(e["name"] for e in result.variant["outputs"]) == ["cls", "score"]
    assert (tmp_path / "sm" / "saved_model.pb").exists()


def test_keyword_input_is_renamed_in_savedmodel_and_recorded(samples, converter, tmp_path):
    sample = samples["frozen"]
    result = convert(converter, sample, sample.path, "savedmodel", tmp_path / "sm")

    assert result.variant["renamed_inputs"] == {"in": "in_"}
    assert [e["name"] for e in result.variant["inputs"]] == ["in_"]
    assert result.signature["inputs"][0]["name"] == "in"


def test_tf1_savedmodel_tflite_keeps_its_signature_key(samples, converter, tmp_path):
    sample = samples["tf1_savedmodel"]
    result = convert(converter, sample, sample.path, "tflite", tmp_path / "m.tflite")

    assert list(result.variant["signatures"]) == ["predict"]
    assert result.steps == ["load-savedmodel", "tflite-convert"]
    assert result.options == {"signature_key": "predict", "tags": ["myTag"]}


def test_int8_quantization_shrinks_the_keras_model(samples, converter, tmp_path):
    sample = samples["keras"]
    plain = convert(converter, sample, sample.path, "tflite", tmp_path / "f.tflite")
    int8 = convert(converter, sample, sample.path, "tflite_int8", tmp_path / "q.tflite")

    assert int8.variant["size"] < plain.variant["size"]
    assert int8.variant["quantization"] == "dynamic-range int8"
    int8_bound = int8.parity["outputs"]["cls"]["tolerance"]["normalized_rms"]
    assert int8_bound > plain.parity["outputs"]["cls"]["tolerance"]["normalized_rms"]


def test_input_shapes_make_tflite_inputs_static(samples, converter, tmp_path):
    sample = samples["tf2_savedmodel"]
    result = convert(
        converter,
        sample,
        sample.path,
        "tflite",
        tmp_path / "m.tflite",
        options={"input_shapes": {"x": [1, 6]}},
    )

    assert result.variant["tensors"]["inputs"][0]["shape_signature"] == [1, 6]
    assert result.parity["passed"] is True
    assert result.options["input_shapes"] == {"x": [1, 6]}


def test_flex_op_model_converts_with_select_tf_ops_and_parity_is_not_checked(
    samples, converter, tmp_path
):
    sample = samples["flex"]
    result = convert(converter, sample, sample.path, "tflite", tmp_path / "m.tflite")

    assert result.variant["needs_flex"] is True
    assert result.parity["checked"] is False and result.parity["passed"] is None
    assert result.variant["flex_ops"] == ["MatrixInverse"]
    assert "needs the Flex delegate for MatrixInverse" in result.parity["reason"]


def test_flex_op_model_savedmodel_is_checked_normally(samples, converter, tmp_path):
    sample = samples["flex"]
    result = convert(converter, sample, sample.path, "savedmodel", tmp_path / "sm")

    assert result.parity["passed"] is True
    assert_matches(sample.expected, run_savedmodel(tmp_path / "sm", sample.inputs), "savedmodel")


def test_string_input_is_not_checked_with_random_inputs(samples, converter, tmp_path):
    sample = samples["strings"]
    result = convert(converter, sample, sample.path, "savedmodel", tmp_path / "sm")

    assert result.parity["checked"] is False
    assert result.parity["passed"] is None
    assert "string input 'text' cannot be generated randomly" in result.parity["reason"]


def test_string_input_is_checked_with_example_inputs(samples, converter, tmp_path):
    import numpy as np

    sample = samples["strings"]
    examples = tmp_path / "examples.npz"
    np.savez(examples, text=np.array([b"3", b"-0.5"]))
    result = convert(
        converter,
        sample,
        sample.path,
        "savedmodel",
        tmp_path / "sm",
        example_inputs_path=str(examples),
    )

    assert result.parity["checked"] is True and result.parity["passed"] is True
    assert result.parity["inputs"] == "example_inputs"
