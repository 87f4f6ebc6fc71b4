"""What the TFLite report and the full-integer variant record, on real conversions of the
session's samples in the shared converter process (profiles of every kind: tests/workers)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from registry.convert import ConversionError, ConversionRequest
from registry.convert.tflite_report import GPU_BUILTINS
from registry.domain.catalog.shipping import flags


def _examples(sample, path):
    buffer = io.BytesIO()
    np.savez(buffer, **sample.inputs)
    path.write_bytes(buffer.getvalue())
    return str(path)


def test_a_model_with_select_tf_ops_is_reported_as_needing_flex_and_off_the_gpu(
    samples, converter, tmp_path
):
    sample = samples["flex"]
    output = tmp_path / "inverse.tflite"

    result = converter.convert(
        ConversionRequest(sample.kind, str(sample.path), "tflite", str(output))
    )

    report = result.variant["report"]
    assert report["flex_ops"] == ["MatrixInverse"]
    assert report["operators"] == {"FlexMatrixInverse": 1}
    assert report["gpu_delegate"]["fallback_ops"] == {"FlexMatrixInverse": 1}
    assert flags(result.variant) == [
        "needs Flex: 1 op (MatrixInverse)",
        "GPU delegate: 1 op falls back to CPU (FlexMatrixInverse)",
    ]
    profile = converter.profile("tflite", str(output), facts=result.variant)
    assert profile["measured"] is False
    assert "Flex delegate for MatrixInverse" in profile["reason"]


def test_full_integer_variant_is_int8_throughout_and_its_parity_is_measured(
    samples, converter, tmp_path
):
    sample = samples["keras"]
    output = tmp_path / "full.tflite"

    result = converter.convert(
        ConversionRequest(
            sample.kind,
            str(sample.path),
            "tflite_int8_full",
            str(output),
            options={**sample.options, "int8_io": True},
            example_inputs_path=_examples(sample, tmp_path / "examples.npz"),
        )
    )

    variant, parity = result.variant, result.parity
    assert variant["quantization"] == "full-integer int8"
    assert "quantize-int8-full" in result.steps
    assert variant["calibration_rows"] == len(next(iter(sample.inputs.values())))
    tensors = variant["tensors"]["inputs"] + variant["tensors"]["outputs"]
    assert {t["dtype"] for t in tensors} == {"int8"}
    assert all(t["quantization"]["scales"][0] > 0 for t in tensors)
    assert parity["checked"] is True and parity["inputs"] == "example_inputs"
    assert parity["passed"] is True, parity
    for figures in parity["outputs"].values():
        # Compared in float with the source: a quantization error, not a zero diff.
        assert 0 < figures["normalized_rms_error"] <= figures["tolerance"]["normalized_rms"]
    assert variant["report"]["gpu_delegate"]["fallback_nodes"] == 0
    assert variant["report"]["tensor_arena"]["bytes_at_most"] > 0


def test_full_integer_without_example_inputs_fails_saying_what_to_upload(
    samples, converter, tmp_path
):
    sample = samples["frozen"]
    request = ConversionRequest(
        sample.kind, str(sample.path), "tflite_int8_full", str(tmp_path / "m.tflite"),
        options=sample.options,
    )  # fmt: skip

    with pytest.raises(ConversionError, match="upload example_inputs"):
        converter.convert(request)


def test_profile_runs_a_fixed_number_of_times_and_stops_at_its_time_bound(
    samples, converter, tmp_path
):
    sample = samples["frozen"]
    output = tmp_path / "relu6.tflite"
    result = converter.convert(
        ConversionRequest(sample.kind, str(sample.path), "tflite", str(output), sample.options)
    )

    whole = converter.profile("tflite", str(output), facts=result.variant)
    cut = converter.profile("tflite", str(output), facts=result.variant, time_bound_seconds=1e-6)

    assert whole["measured"] is True and whole["runs"] == 50
    assert whole["stopped_at_time_bound"] is False
    assert whole["runtime"] == "ai_edge_litert (XNNPACK)" and whole["threads"] == 1
    assert cut["measured"] is False and cut["runs"] == 0 and cut["stopped_at_time_bound"]
    assert "time bound" in cut["reason"]


def test_every_gpu_delegate_operator_is_a_tflite_builtin():
    builtins = {name for name in vars(schema.BuiltinOperator) if name.isupper()}

    assert builtins >= GPU_BUILTINS
