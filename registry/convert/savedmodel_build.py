"""Writing SavedModels that TF Serving can serve: one `serving_default` signature over named
inputs and outputs, tag `serve`.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from registry.convert.freezing import FrozenGraph, with_safe_input_names

SERVING_KEY = "serving_default"
SERVING_TAGS = ["serve"]


def savedmodel_from_frozen(frozen: FrozenGraph, export_dir: str | Path) -> FrozenGraph:
    """A native TF2 SavedModel around a frozen graph; returns the graph as saved.

    wrap_function + prune is the path docs/conversion.md §3 found exact and warning-free.
    Signature input keys are the placeholder names, so Python-keyword inputs are renamed
    first (the returned graph's `renamed_inputs` says how); output keys are the source's
    output names, slashes and all.
    """
    safe = with_safe_input_names(frozen)
    graph_def = safe.graph_def
    wrapped = tf.compat.v1.wrap_function(
        lambda: tf.compat.v1.import_graph_def(graph_def, name=""), []
    )
    function = wrapped.prune(
        feeds=[e.tensor for e in safe.inputs],
        fetches={e.name: e.tensor for e in safe.outputs},
    )
    tf.saved_model.save(tf.Module(), str(export_dir), signatures={SERVING_KEY: function})
    return safe


def savedmodel_from_keras(source, export_dir: str | Path, input_shapes=None) -> dict[str, str]:
    """Export a Keras model with a serving signature keyed by its own input/output names.

    Not `model.export()`: that names outputs output_0, output_1 (docs/conversion.md §4). Not
    `tf.saved_model.save(model)`: that names inputs `inputs`, `inputs_1`. Returns the
    renamed inputs (Python keywords).
    """
    import keras

    function, _specs, renamed = source.serving_function(input_shapes)
    archive = keras.export.ExportArchive()
    archive.track(source.model)
    archive.add_endpoint(SERVING_KEY, function)
    archive.write_out(str(export_dir), verbose=False)
    return renamed
