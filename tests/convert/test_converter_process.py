"""The converter process contains crashes and hangs and is replaced afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from registry.convert import (
    ConversionError,
    ConversionRequest,
    Converter,
    ConverterCrashed,
    ConverterTimeout,
)


@pytest.fixture(scope="module")
def unguarded() -> Iterator[Converter]:
    """A converter that lets the recursive GraphDef through to TensorFlow, which segfaults."""
    with Converter(timeout_seconds=120, guard_recursive_functions=False) as converter:
        yield converter


def test_crash_is_reported_with_its_signal_and_the_next_request_succeeds(samples, unguarded):
    with pytest.raises(ConverterCrashed) as error:
        unguarded.describe("frozen_pb", str(samples["recursive"].path), {})
    first_pid_gone = unguarded.pid is None

    signature = unguarded.describe("checkpoint", str(samples["checkpoint"].path), {})

    assert "converter crashed: signal 11 (SIGSEGV) while describing frozen_pb" in str(error.value)
    assert first_pid_gone
    assert signature["outputs"][0]["name"] == "head/probs"
    assert unguarded.starts == 2


def test_request_over_the_timeout_is_killed_and_the_next_one_runs(samples, unguarded, tmp_path):
    sample = samples["keras"]
    unguarded.describe("keras", str(sample.path), {})  # make sure the process is up
    starts = unguarded.starts
    unguarded.timeout_seconds = 0.05
    try:
        with pytest.raises(ConverterTimeout) as error:
            unguarded.convert(
                ConversionRequest("keras", str(sample.path), "tflite", str(tmp_path / "a"), {})
            )
    finally:
        unguarded.timeout_seconds = 120

    result = unguarded.convert(
        ConversionRequest("keras", str(sample.path), "tflite", str(tmp_path / "b"), {})
    )

    assert "took longer than 0.05s" in str(error.value)
    assert result.parity["passed"] is True
    assert unguarded.starts == starts + 1


MEMORY_LIMIT_MB = 700


def test_model_over_the_memory_limit_fails_saying_so_and_the_next_request_succeeds(
    samples, tmp_path
):
    import keras

    inputs = keras.Input((4096,))
    wide = keras.Model(inputs, keras.layers.Dense(16384)(inputs))  # 256 MiB of weights
    wide.save(tmp_path / "wide.keras")
    del wide

    with Converter(timeout_seconds=300, memory_limit_mb=MEMORY_LIMIT_MB) as limited:
        with pytest.raises(ConversionError) as error:
            limited.convert(
                ConversionRequest(
                    source_kind="keras",
                    source_path=str(tmp_path / "wide.keras"),
                    target_kind="tflite",
                    output_path=str(tmp_path / "wide.tflite"),
                )
            )
        signature = limited.describe("checkpoint", str(samples["checkpoint"].path), {})

    assert "ran out of memory" in str(error.value)
    assert f"limit: {MEMORY_LIMIT_MB} MiB" in str(error.value)
    assert signature["outputs"][0]["name"] == "head/probs"
