"""Models of the shapes people ship: deep networks, recurrent layers, TF1 control placeholders,
tf.Example inputs; and variants that compute something else, which parity must catch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from registry.convert import ConversionError, ConversionRequest, ConversionResult
from tests.convert.independent import assert_matches, run_tflite, run_variant

TFLITES = ("tflite", "tflite_fp16", "tflite_int8")
# EfficientNetB0's other variants take 15-25 s each: bench/architectures.py converts them.
DEEP_CASES = [
    *[("mobilenet_v2", t) for t in ("frozen_pb", "savedmodel", *TFLITES)],
    ("efficientnet_b0", "frozen_pb"),
]


def convert(converter, sample, target: str, out: Path, **options) -> ConversionResult:
    examples = options.pop("example_inputs", None)
    request = ConversionRequest(
        sample.kind,
        str(sample.path),
        target,
        str(out),
        {**sample.options, **options},
        str(examples) if examples else None,
    )
    return converter.convert(request)


@pytest.mark.parametrize(("name", "target"), DEEP_CASES, ids=[f"{n}-{t}" for n, t in DEEP_CASES])
def test_random_weight_deep_network_variant_passes_parity(
    models, converter, tmp_path, name, target
):
    result = convert(converter, models[name], target, tmp_path / f"variant.{target}")

    assert result.parity["checked"] is True
    assert result.parity["passed"] is True, result.parity
    figures = result.parity["outputs"]["predictions"]
    assert figures["normalized_rms_error"] <= figures["tolerance"]["normalized_rms"]
    assert figures["mean_abs_diff"] <= figures["max_abs_diff"]
    assert figures["sensitivity"]["normalized_rms"] > 0


def test_image_model_with_rescaling_layer_is_checked_on_pixel_values(models, converter, tmp_path):
    result = convert(converter, models["efficientnet_b0"], "savedmodel", tmp_path / "sm")

    assert result.parity["passed"] is True
    assert result.parity["input_distributions"] == {
        "images": "uniform(0, 255): Rescaling layer 'rescaling'"
    }


@pytest.fixture(scope="module")
def mobilenet(models):
    """The MobileNetV2 sample loaded here, as the registry's own source, to build variants."""
    from registry.convert.model_sources import KerasSource

    source = KerasSource(models["mobilenet_v2"].path, {})
    yield source
    source.close()


def _copy_with(model, replace: dict):
    """A copy of `model` sharing its weights, each layer named in `replace` swapped for
    what `replace[name]()` makes."""
    import keras

    def clone(layer):
        return replace[layer.name]() if layer.name in replace else layer

    return keras.models.clone_model(model, clone_function=clone)


def _parity_against(source, variant_model, outputs=None) -> dict:
    """The registry's verdict on `variant_model` standing in for the source, as a float32
    variant; `outputs` names the variant's outputs (the source's by default)."""
    from registry.convert.parity import check_parity
    from registry.convert.runners import KerasRunner

    variant = KerasRunner(variant_model, source.inputs, outputs or source.outputs)
    return check_parity(source.runner(), variant, "savedmodel")


def test_variant_with_a_dropped_layer_fails_parity(mobilenet):
    import keras

    dropped = _copy_with(mobilenet.model, {"block_6_expand_relu": keras.layers.Identity})
    parity = _parity_against(mobilenet, dropped)

    assert parity["checked"] is True and parity["passed"] is False
    assert "normalized RMS error" in parity["outputs"]["predictions"]["reason"]


def test_variant_with_a_wrong_constant_fails_parity(mobilenet):
    import keras

    model = mobilenet.model
    changed = keras.models.clone_model(model)
    changed.set_weights(model.get_weights())
    layer = changed.get_layer("block_3_project")
    (kernel,) = layer.get_weights()
    layer.set_weights([kernel * 1.01])  # one kernel 1 % off, as a mis-folded constant would be

    parity = _parity_against(mobilenet, changed)

    assert parity["passed"] is False
    assert parity["outputs"]["predictions"]["normalized_rms_error"] > 1e-3


def test_variant_with_swapped_outputs_fails_parity(mobilenet):
    import keras

    from registry.convert.runners import KerasRunner
    from registry.convert.signatures import tensor_endpoint

    features = mobilenet.model.get_layer("global_average_pooling2d").output
    heads = {name: keras.layers.Dense(4, name=name)(features) for name in ("left", "right")}
    two_headed = keras.Model(mobilenet.model.inputs, list(heads.values()))
    outputs = [tensor_endpoint(name, tensor) for name, tensor in heads.items()]
    source = KerasRunner(two_headed, mobilenet.inputs, outputs)
    swapped = KerasRunner(two_headed, mobilenet.inputs, list(reversed(outputs)))

    from registry.convert.parity import check_parity

    parity = check_parity(source, swapped, "savedmodel")

    assert parity["passed"] is False
    assert {n for n, o in parity["outputs"].items() if not o["passed"]} == {"left", "right"}


def test_difference_that_rounding_alone_could_explain_is_not_conclusive():
    import keras

    from registry.convert.parity import check_parity
    from registry.convert.runners import KerasRunner
    from registry.convert.signatures import tensor_endpoint

    x = keras.Input((8,), name="x")
    # sin(1e6 x): one float32 rounding step of x turns the phase by ~0.1 rad.
    chaotic = keras.Model(x, keras.ops.sin(x * 1e6))
    shifted = keras.Model(x, keras.ops.sin(x * 1e6 + 0.3))
    inputs, outputs = [tensor_endpoint("x", x)], [tensor_endpoint("y", chaotic.outputs[0])]

    parity = check_parity(
        KerasRunner(chaotic, inputs, outputs), KerasRunner(shifted, inputs, outputs), "tflite"
    )

    assert parity["checked"] is False and parity["passed"] is None
    assert "too sensitive to tell" in parity["reason"]
    assert parity["outputs"]["y"]["normalized_rms_error"] > 0.1


def test_int8_variant_that_rounds_every_ordinary_weight_to_zero_fails_parity(
    models, converter, tmp_path
):
    sample = models["outlier"]
    float32 = convert(converter, sample, "tflite", tmp_path / "f.tflite")
    int8 = convert(converter, sample, "tflite_int8", tmp_path / "q.tflite")

    assert float32.parity["passed"] is True
    assert int8.parity["checked"] is True and int8.parity["passed"] is False
    assert int8.parity["outputs"]["y"]["normalized_rms_error"] > 0.5


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_recurrent_model_converts_to_tflite_with_a_fixed_batch_of_one(
    models, converter, tmp_path, name
):
    sample = models[name]
    out = tmp_path / "m.tflite"
    result = convert(converter, sample, "tflite", out)

    assert result.variant["conversion_path"] == "fixed-batch"
    assert result.variant["fixed_batch"] == 1
    assert result.variant["tensors"]["inputs"][0]["shape_signature"] == [1, 7, 5]
    assert result.variant["needs_flex"] is False
    assert "fix-batch" in result.steps
    assert result.parity["checked"] is True and result.parity["passed"] is True
    rows = [run_tflite(out, {"seq": row[None]})["scores"] for row in sample.inputs["seq"]]
    assert_matches(sample.expected, {"scores": np.concatenate(rows)}, "tflite")


def test_keep_prob_placeholder_without_a_constant_fails_naming_it_and_the_option(
    models, converter, tmp_path
):
    sample = models["keep_prob"]
    with pytest.raises(ConversionError) as error:
        convert(converter, sample, "tflite", tmp_path / "m.tflite")

    message = str(error.value)
    assert "keep_prob (float32, unknown rank)" in message
    assert 'input_constants, e.g. {"keep_prob": 1.0}' in message


def test_is_training_placeholder_without_a_constant_is_suggested_false(models, converter, tmp_path):
    with pytest.raises(ConversionError) as error:
        convert(converter, models["is_training"], "savedmodel", tmp_path / "sm")

    assert '{"is_training": false}' in str(error.value)


CONSTANT_CASES = [
    ("keep_prob", {"keep_prob": 1.0}, "frozen_pb"),
    ("keep_prob", {"keep_prob": 1.0}, "savedmodel"),
    ("keep_prob", {"keep_prob": 1.0}, "tflite"),
    ("is_training", {"is_training": False}, "savedmodel"),
    ("is_training", {"is_training": False}, "tflite"),
]


@pytest.mark.parametrize(
    ("name", "constants", "target"),
    CONSTANT_CASES,
    ids=[f"{n}-{t}" for n, _, t in CONSTANT_CASES],
)
def test_input_constants_leave_only_data_inputs_in_the_variant(
    models, converter, tmp_path, name, constants, target
):
    sample = models[name]
    out = tmp_path / f"variant.{target}"
    result = convert(converter, sample, target, out, input_constants=constants)

    assert [e["name"] for e in result.variant["inputs"]] == sample.input_names
    assert [e["name"] for e in result.signature["inputs"]] == sample.input_names
    assert result.options["input_constants"] == constants
    assert result.parity["checked"] is True and result.parity["passed"] is True
    assert_matches(sample.expected, run_variant(result.variant, target, out, sample.inputs), target)


def test_input_constants_naming_no_input_are_refused(models, converter, tmp_path):
    with pytest.raises(ConversionError) as error:
        convert(
            converter,
            models["keep_prob"],
            "frozen_pb",
            tmp_path / "m.pb",
            input_constants={"keep_probability": 1.0},
        )

    assert "input_constants names keep_probability" in str(error.value)


def test_tf_example_savedmodel_variants_are_checked_on_example_inputs(models, converter, tmp_path):
    sample = models["tf_example"]
    examples = sample.extra["example_inputs"]
    frozen = convert(converter, sample, "frozen_pb", tmp_path / "m.pb", example_inputs=examples)

    assert frozen.parity["checked"] is True and frozen.parity["passed"] is True
    assert frozen.parity["inputs"] == "example_inputs"
    # The frozen graph uploaded in turn: its SavedModel is checked on the same examples.
    request = ConversionRequest(
        "frozen_pb", str(tmp_path / "m.pb"), "savedmodel", str(tmp_path / "sm"), {}, str(examples)
    )
    rebuilt = converter.convert(request)
    assert rebuilt.parity["checked"] is True and rebuilt.parity["passed"] is True
    assert [e["dtype"] for e in rebuilt.variant["inputs"]] == ["string"]


def test_tf_example_tflite_records_the_ops_that_need_flex(models, converter, tmp_path):
    sample = models["tf_example"]
    result = convert(
        converter,
        sample,
        "tflite",
        tmp_path / "m.tflite",
        example_inputs=sample.extra["example_inputs"],
    )

    assert result.variant["conversion_path"] == "select-tf-ops"
    assert result.variant["flex_ops"] == ["ParseExampleV2"]
    assert result.parity["checked"] is False
    assert "Flex delegate for ParseExampleV2" in result.parity["reason"]
