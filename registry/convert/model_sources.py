"""Uploads that carry named signatures: a Keras model, a SavedModel, a .tflite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from registry.convert import graphs, locate
from registry.convert.contract import ConversionError
from registry.convert.control_inputs import constants_used, split_constant_inputs
from registry.convert.failures import explain, first_lines, is_out_of_memory
from registry.convert.freezing import (
    FrozenGraph,
    freeze_concrete_function,
    freeze_session,
    safe_input_name,
    with_constants,
)
from registry.convert.graph_sources import parse_proto
from registry.convert.parity import Distribution
from registry.convert.runners import KerasRunner, SessionRunner, TFLiteRunner, savedmodel_runner
from registry.convert.signatures import (
    Endpoint,
    signature_def_endpoints,
    signature_dict,
    tensor_endpoint,
    tflite_tensor_facts,
)

INIT_SIGNATURE = "__saved_model_init_op"


class KerasSource:
    """A whole Keras model (.keras zip or legacy .h5), loaded without compiling."""

    kind = "keras"
    # Needs none of its files once loaded, so a converter process may keep it (source_cache).
    self_contained = True

    def __init__(self, path: str | Path, options: dict[str, Any], guard: bool = True):
        import keras

        if options.get("input_constants"):
            raise ConversionError(
                "input_constants replaces placeholders of TF1 graphs and SavedModels; every "
                "input of a Keras model is a data input"
            )
        self.path = locate.find_model_file(path, (".keras", ".h5"), "Keras model (.keras or .h5)")
        self.format = locate.check_keras_file(self.path)
        try:
            self.model = keras.models.load_model(self.path, compile=False)
        except Exception as exc:
            if is_out_of_memory(exc):
                raise explain(exc, "loading the Keras model") from None
            text = first_lines(str(exc), 2)
            hint = (
                " The model uses custom layers or functions whose code the registry does not "
                "have: upload a SavedModel instead."
                if "custom" in text.lower() or "Could not locate" in text
                else ""
            )
            raise ConversionError(f"could not load the Keras model: {text}.{hint}") from None
        self.inputs = [tensor_endpoint(t.name, t) for t in self.model.inputs]
        self.outputs = [
            tensor_endpoint(name, t)
            for name, t in zip(self.model.output_names, self.model.outputs, strict=True)
        ]
        self.options_used: dict[str, Any] = {}
        self.signature = signature_dict(self.inputs, self.outputs, keras_format=self.format)

    def serving_function(self, input_shapes: dict[str, list[int]] | None = None):
        """A tf.function over TensorSpecs named after the inputs, returning {output name: tensor}.

        Returns (function, specs, renamed_inputs). Python-keyword input names are renamed
        so the SavedModel signature stays loadable.
        """
        model, names = self.model, [o.name for o in self.outputs]
        taken = {e.name for e in self.inputs}
        renamed: dict[str, str] = {}
        specs = []
        for endpoint, tensor in zip(self.inputs, model.inputs, strict=True):
            safe = safe_input_name(endpoint.name, taken)
            if safe != endpoint.name:
                renamed[endpoint.name] = safe
            shape = (input_shapes or {}).get(endpoint.name, tensor.shape)
            specs.append(tf.TensorSpec(shape, tensor.dtype, name=safe))

        def serve(*args):
            outs = model(list(args) if len(args) > 1 else args[0], training=False)
            outs = outs if isinstance(outs, list | tuple) else [outs]
            return dict(zip(names, outs, strict=True))

        return tf.function(serve, input_signature=specs, autograph=False), specs, renamed

    def runner(self) -> KerasRunner:
        return KerasRunner(self.model, self.inputs, self.outputs)

    def input_distributions(self) -> dict[str, Distribution]:
        """The input ranges the model states itself, for random parity inputs.

        Image models that expect pixel values (0-255) begin with a Rescaling layer, and
        models trained on standardized data with a Normalization layer: the first layer fed
        by an input says what that input's values look like.
        """
        found = {}
        for endpoint, tensor in zip(self.inputs, self.model.inputs, strict=True):
            first = next((layer for layer in self.model.layers if _fed_by(layer, tensor)), None)
            distribution = _stated_distribution(first) if first is not None else None
            if distribution is not None:
                found[endpoint.name] = distribution
        return found

    def frozen(self) -> FrozenGraph:
        function, specs, renamed = self.serving_function()
        back = {new: old for old, new in renamed.items()}
        frozen = freeze_concrete_function(function.get_concrete_function(*specs), back)
        return frozen

    def close(self) -> None:
        pass


def _fed_by(layer, tensor) -> bool:
    try:
        return layer.input is tensor
    except (AttributeError, ValueError):  # a layer never called, or called several times
        return False


def _stated_distribution(layer) -> Distribution | None:
    """Uniform over what a Rescaling layer maps to [0, 1] (or [-1, 1] when it offsets below
    zero); normal with a Normalization layer's mean and variance."""
    kind = type(layer).__name__
    if kind == "Rescaling":
        scale, offset = np.asarray(layer.scale, float), np.asarray(layer.offset, float)
        if scale.size != 1 or offset.size != 1 or float(scale) == 0:
            return None
        low, high = (-1.0, 1.0) if float(offset) < 0 else (0.0, 1.0)
        ends = sorted(((low - float(offset)) / float(scale), (high - float(offset)) / float(scale)))
        return Distribution("uniform", ends[0], ends[1], f"Rescaling layer '{layer.name}'")
    if kind == "Normalization" and getattr(layer, "mean", None) is not None:
        mean = np.asarray(layer.mean, float).ravel()
        std = np.sqrt(np.asarray(layer.variance, float).ravel())
        if mean.size > 1 and tuple(layer.axis) != (-1,):
            return None  # per-channel statistics on an axis other than the last
        return Distribution("normal", mean, std, f"Normalization layer '{layer.name}'")
    return None


class SavedModelSource:
    """A SavedModel directory (TF1 Builder or TF2), one MetaGraph and one signature chosen."""

    kind = "savedmodel"

    def __init__(self, path: str | Path, options: dict[str, Any], guard: bool = True):
        self.dir = locate.find_savedmodel_dir(path)
        saved = parse_proto(saved_model_pb2.SavedModel(), self.dir / "saved_model.pb", "SavedModel")
        if not saved.meta_graphs:
            raise ConversionError("saved_model.pb holds no MetaGraph")
        meta_graph = self._choose_meta_graph(saved, options.get("tags"))
        self.tags = list(meta_graph.meta_info_def.tags)
        if guard:
            graphs.check_function_recursion(meta_graph.graph_def, "saved_model.pb's graph")
        signatures = {
            key: (signature_def_endpoints(sig.inputs), signature_def_endpoints(sig.outputs))
            for key, sig in meta_graph.signature_def.items()
            if key != INIT_SIGNATURE
        }
        if not signatures:
            raise ConversionError(
                "the SavedModel has no signatures to convert; export it with a serving signature "
                "(e.g. tf.saved_model.save(model, dir, signatures=...))"
            )
        self.signature_key = self._choose_signature(signatures, options.get("signature_key"))
        signature_inputs, self.outputs = signatures[self.signature_key]
        self.inputs, self.constants = split_constant_inputs(signature_inputs, options)
        # A TF2 SavedModel has an object graph; a TF1 Builder one does not.
        self.is_tf2 = len(meta_graph.object_graph_def.nodes) > 0
        self.options_used = {"signature_key": self.signature_key, "tags": self.tags}
        if self.constants:
            self.options_used["input_constants"] = constants_used(self.constants)
        self.signature = signature_dict(
            self.inputs, self.outputs, signatures, signature_key=self.signature_key, tags=self.tags
        )
        self._runner: SessionRunner | None = None

    @staticmethod
    def _choose_meta_graph(saved, tags: list[str] | None):
        available = [sorted(mg.meta_info_def.tags) for mg in saved.meta_graphs]
        if tags:
            chosen = [mg for mg in saved.meta_graphs if set(mg.meta_info_def.tags) == set(tags)]
        elif len(saved.meta_graphs) == 1:
            chosen = list(saved.meta_graphs)
        else:
            chosen = [mg for mg in saved.meta_graphs if set(mg.meta_info_def.tags) == {"serve"}]
        if not chosen:
            listed = "; ".join(",".join(t) for t in available)
            raise ConversionError(
                f"no MetaGraph with tags {sorted(tags or ['serve'])}; the SavedModel has tag sets: "
                f"{listed}. Pass tags"
            )
        return chosen[0]

    @staticmethod
    def _choose_signature(signatures: dict, key: str | None) -> str:
        if key:
            if key not in signatures:
                raise ConversionError(
                    f"signature_key {key!r} is not in the SavedModel; its signatures: "
                    f"{', '.join(sorted(signatures))}"
                )
            return key
        if "serving_default" in signatures:
            return "serving_default"
        if len(signatures) == 1:
            return next(iter(signatures))
        raise ConversionError(
            "the SavedModel has several signatures and none is serving_default: pass "
            f"signature_key, one of {', '.join(sorted(signatures))}"
        )

    def runner(self) -> SessionRunner:
        if self._runner is None:
            try:
                self._runner = savedmodel_runner(
                    self.dir, self.tags, self.signature_key, self.constants
                )
            except Exception as exc:
                raise explain(exc, "loading the SavedModel") from None
        return self._runner

    def frozen(self) -> FrozenGraph:
        try:
            if self.is_tf2:
                loaded = tf.saved_model.load(str(self.dir), tags=self.tags)
                frozen = freeze_concrete_function(loaded.signatures[self.signature_key])
            else:
                runner = self.runner()
                graph_def = runner.graph.as_graph_def()
                frozen = freeze_session(runner.session, graph_def, self.inputs, self.outputs)
            return with_constants(frozen, self.constants)
        except ConversionError:
            raise
        except Exception as exc:
            raise explain(exc, "freezing the SavedModel") from None

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()


class TFLiteSource:
    """An uploaded .tflite: described from its signatures and tensor details, not converted."""

    kind = "tflite"

    def __init__(self, path: str | Path, options: dict[str, Any], guard: bool = True):
        from ai_edge_litert.interpreter import Interpreter

        self.path = locate.find_model_file(path, (".tflite",), "TFLite model (.tflite)")
        try:
            # No allocate_tensors(): a malformed model can crash there (docs/conversion.md §9).
            interpreter = Interpreter(model_path=str(self.path))
        except Exception as exc:
            raise ConversionError(f"not a valid .tflite file: {first_lines(str(exc), 2)}") from None
        signatures = {}
        for key, names in interpreter.get_signature_list().items():
            runner = interpreter.get_signature_runner(key)
            ins, outs = runner.get_input_details(), runner.get_output_details()
            signatures[key] = (
                [_detail_endpoint(n, ins[n]) for n in names["inputs"]],
                [_detail_endpoint(n, outs[n]) for n in names["outputs"]],
            )
        key = options.get("signature_key") or (
            "serving_default" if "serving_default" in signatures else None
        )
        if key is None and signatures:
            key = sorted(signatures)[0]
        if key:
            if key not in signatures:
                raise ConversionError(f"signature_key {key!r} is not in the .tflite file")
            self.inputs, self.outputs = signatures[key]
        else:
            self.inputs = [_detail_endpoint(d["name"], d) for d in interpreter.get_input_details()]
            self.outputs = [
                _detail_endpoint(d["name"], d) for d in interpreter.get_output_details()
            ]
        self.signature_key = key
        self.options_used = {"signature_key": key} if key else {}
        self.signature = signature_dict(
            self.inputs,
            self.outputs,
            signatures,
            signature_key=key,
            tensors={
                "inputs": [tflite_tensor_facts(d) for d in interpreter.get_input_details()],
                "outputs": [tflite_tensor_facts(d) for d in interpreter.get_output_details()],
            },
        )

    def runner(self) -> TFLiteRunner:
        return TFLiteRunner(self.path, self.signature_key)

    def frozen(self) -> FrozenGraph:
        raise ConversionError("a .tflite upload cannot be converted to other kinds")

    def close(self) -> None:
        pass


def _detail_endpoint(name: str, detail: dict[str, Any]) -> Endpoint:
    facts = tflite_tensor_facts(detail)
    return Endpoint(name, facts["dtype"], facts["shape_signature"], detail["name"])
