"""The baseline of the ResNet50 row of bench/conversion.py: a warm, bare TensorFlow process
making what the registry makes of a Keras upload (a SavedModel with a serving signature, a
frozen graph, a TFLite model), with no checks and nothing around it.

    python bench/hand_convert_keras.py build OUT.keras [--tiny]
    python bench/hand_convert_keras.py convert MODEL.keras WARMUP.keras OUT_DIR

`build` saves ResNet50 built with `weights=None` (nothing downloaded; ~100 MB), or a tiny
model. `convert` converts WARMUP first (TensorFlow's first-use costs), then MODEL, and prints
one JSON line: MODEL's wall and CPU seconds per step and in all, and the peak RSS.
"""

import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2,
)


def build(out: Path, tiny: bool) -> None:
    if tiny:
        inputs = keras.Input((32, 32, 3), name="images")
        hidden = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
        outputs = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(hidden))
        model = keras.Model(inputs, outputs)
    else:
        model = keras.applications.ResNet50(weights=None)
    model.save(out)


def convert(source: Path, out: Path) -> dict:
    steps, cpu = {}, {}
    out.mkdir(parents=True, exist_ok=True)

    def step(name, action):
        wall, used = time.perf_counter(), time.process_time()
        result = action()
        steps[name] = round(time.perf_counter() - wall, 3)
        cpu[name] = round(time.process_time() - used, 3)
        return result

    model = step("load", lambda: keras.models.load_model(source, compile=False))
    specs = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in model.inputs]
    serve = tf.function(lambda *args: {"output": model(args[0], training=False)}, specs)

    def savedmodel() -> None:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", serve)
        archive.write_out(str(out / "savedmodel"), verbose=False)

    def frozen() -> None:
        graph = convert_variables_to_constants_v2(serve.get_concrete_function()).graph
        (out / "model.pb").write_bytes(graph.as_graph_def().SerializeToString())

    def tflite() -> None:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(out / "savedmodel"))
        (out / "model.tflite").write_bytes(converter.convert())

    step("savedmodel", savedmodel)
    step("frozen_pb", frozen)
    step("tflite", tflite)
    return {
        "wall": round(sum(steps.values()), 3),
        "cpu": round(sum(cpu.values()), 3),
        "steps": steps,
        "cpu_steps": cpu,
    }


if __name__ == "__main__":
    if sys.argv[1] == "build":
        build(Path(sys.argv[2]), "--tiny" in sys.argv)
    else:
        model_path, warmup_path, out_dir = map(Path, sys.argv[2:5])
        convert(warmup_path, out_dir / "warmup")
        measured = convert(model_path, out_dir / "model")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        print(json.dumps({**measured, "peak_rss_mib": round(peak / 1024)}))
