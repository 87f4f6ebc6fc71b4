"""Uploads that cannot be converted get a ConversionError a person can act on."""

from __future__ import annotations

import pytest

from registry.convert import ConversionError, ConversionRequest, ConverterCrashed
from registry.testing import tf_samples


def request(kind: str, path, target: str, out, options=None) -> ConversionRequest:
    return ConversionRequest(kind, str(path), target, str(out), options or {})


def test_wrong_output_node_names_the_closest_nodes(samples, converter, tmp_path):
    options = {"output_nodes": ["head/logit"]}
    with pytest.raises(ConversionError) as error:
        converter.convert(
            request(
                "checkpoint", samples["checkpoint"].path, "frozen_pb", tmp_path / "m.pb", options
            )
        )

    message = str(error.value)
    assert "'head/logit' is not a node of the graph" in message
    assert "closest node names: head/logits" in message


def test_ambiguous_outputs_list_the_candidates_and_ask_for_output_nodes(
    samples, converter, tmp_path
):
    with pytest.raises(ConversionError) as error:
        converter.convert(request("frozen_pb", samples["ambiguous"].path, "tflite", tmp_path / "m"))

    message = str(error.value)
    assert "model/out" in message and "debug/mean" in message
    assert "output_nodes=model/out,debug/mean" in message


def test_ambiguous_graph_converts_when_output_nodes_are_given(samples, converter, tmp_path):
    options = {"output_nodes": ["model/out"]}
    result = converter.convert(
        request("frozen_pb", samples["ambiguous"].path, "savedmodel", tmp_path / "sm", options)
    )

    assert result.parity["passed"] is True
    assert list(result.parity["outputs"]) == ["model/out"]


def test_truncated_data_shard_is_reported_as_truncated(samples, converter, tmp_path):
    options = samples["truncated"].options
    with pytest.raises(ConversionError) as error:
        converter.convert(
            request(
                "checkpoint", samples["truncated"].path, "frozen_pb", tmp_path / "m.pb", options
            )
        )

    # The registry's own words; what follows them is TensorFlow's, which may change.
    assert "data shard is truncated" in str(error.value)


def test_random_bytes_as_graphdef_are_not_a_valid_graphdef(converter, tmp_path):
    path = tf_samples.write_random_bytes(tmp_path / "model.pb")
    with pytest.raises(ConversionError) as error:
        converter.convert(request("frozen_pb", path, "tflite", tmp_path / "m.tflite"))

    assert "is not a valid GraphDef" in str(error.value)


def test_random_bytes_as_keras_file_are_not_a_valid_keras_file(converter, tmp_path):
    path = tf_samples.write_random_bytes(tmp_path / "model.keras")
    with pytest.raises(ConversionError) as error:
        converter.convert(request("keras", path, "tflite", tmp_path / "m.tflite"))

    assert "not a valid .keras file (a zip with config.json)" in str(error.value)


def test_random_bytes_as_savedmodel_are_not_a_valid_savedmodel(converter, tmp_path):
    tf_samples.write_random_bytes(tmp_path / "upload" / "saved_model.pb")
    with pytest.raises(ConversionError) as error:
        converter.describe("savedmodel", str(tmp_path / "upload"), {})

    assert "saved_model.pb is not a valid SavedModel" in str(error.value)


def test_tf2_object_checkpoint_is_rejected_with_what_to_upload_instead(
    samples, converter, tmp_path
):
    with pytest.raises(ConversionError) as error:
        converter.convert(
            request("checkpoint", samples["tf2_checkpoint"].path, "tflite", tmp_path / "m")
        )

    message = str(error.value)
    assert "TF2 object-based checkpoint" in message
    assert "cannot be converted without the model's code" in message
    assert ".keras or .h5 file, or a SavedModel" in message


def test_recursive_function_graphdef_is_rejected_before_tensorflow_sees_it(samples, converter):
    with pytest.raises(ConversionError) as error:
        converter.describe("frozen_pb", str(samples["recursive"].path), {})

    assert not isinstance(error.value, ConverterCrashed)
    assert "recursive call (rec -> rec)" in str(error.value)


def test_signature_key_not_in_savedmodel_lists_the_keys(samples, converter):
    sample = samples["tf1_savedmodel"]
    with pytest.raises(ConversionError) as error:
        converter.describe(
            "savedmodel", str(sample.path), {"tags": ["myTag"], "signature_key": "serve"}
        )

    assert "its signatures: embed, predict" in str(error.value)


def test_input_shapes_that_do_not_fit_are_rejected(samples, converter, tmp_path):
    options = {"input_shapes": {"in": [1, 6]}}
    with pytest.raises(ConversionError) as error:
        converter.convert(
            request("frozen_pb", samples["frozen"].path, "tflite", tmp_path / "m", options)
        )

    assert "does not fit its declared shape [-1, 5]" in str(error.value)


def test_target_a_source_cannot_become_is_refused_without_the_process(tmp_path):
    from registry.convert import Converter

    converter = Converter()
    with pytest.raises(ConversionError) as error:
        converter.convert(request("savedmodel", tmp_path, "savedmodel", tmp_path / "out"))

    assert "cannot produce 'savedmodel' from a 'savedmodel' upload" in str(error.value)
    assert converter.pid is None


def test_meta_graph_from_another_training_run_is_refused_naming_the_mismatch(converter, tmp_path):
    trained = tf_samples.build_tf1_checkpoint(tmp_path / "trained")
    other = tf_samples.build_keep_prob_checkpoint(tmp_path / "other")
    # The upload's .meta is another model's graph; its .index/.data hold the first's values.
    (meta,) = trained.path.rglob("*.meta")
    (other_meta,) = other.path.rglob("*.meta")
    meta.write_bytes(other_meta.read_bytes())
    options = {"output_nodes": ["out/logits"], "input_constants": {"keep_prob": 1.0}}

    with pytest.raises(ConversionError) as error:
        converter.convert(
            request("checkpoint", trained.path, "frozen_pb", tmp_path / "m.pb", options)
        )

    assert "the .meta and the .index/.data files must come from the same training run" in str(
        error.value
    )


def test_graph_whose_frozen_form_passes_protobufs_limit_is_refused_before_freezing(samples):
    # A real checkpoint's graph, judged against a lowered limit: a model over 2 GiB is too
    # heavy to build in the test run, and the arithmetic is the same.
    import tensorflow as tf

    from registry.convert.freezing import check_freezable_size

    (meta,) = samples["checkpoint"].path.rglob("*.meta")
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.train.import_meta_graph(str(meta), clear_devices=True)
    graph_def = graph.as_graph_def()
    # Just above the graph alone: only the variables' bytes can push it over.
    limit = graph_def.ByteSize() + 1

    check_freezable_size(graph_def)
    with pytest.raises(ConversionError) as error:
        check_freezable_size(graph_def, limit=limit)

    assert "over protobuf's" in str(error.value)
    assert "upload it as a SavedModel" in str(error.value)
