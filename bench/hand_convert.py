"""What a person does by hand today: a script that freezes a TF1 checkpoint, builds a
SavedModel and converts it to TFLite. The baseline bench/conversion.py times as a whole.

    python bench/hand_convert.py CHECKPOINT_PREFIX OUT_DIR images head/logits,head/probs
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

prefix, out_dir, input_name, outputs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
output_nodes = outputs.split(",")
v1 = tf.compat.v1
os.makedirs(out_dir, exist_ok=True)

graph = tf.Graph()
with graph.as_default(), v1.Session(graph=graph) as session:
    saver = v1.train.import_meta_graph(prefix + ".meta", clear_devices=True)
    saver.restore(session, prefix)
    frozen = v1.graph_util.convert_variables_to_constants(
        session, graph.as_graph_def(), output_nodes
    )
with open(os.path.join(out_dir, "model.pb"), "wb") as out:
    out.write(frozen.SerializeToString())

saved_model_dir = os.path.join(out_dir, "savedmodel")
serving = tf.Graph()
with serving.as_default(), v1.Session(graph=serving) as session:
    tf.graph_util.import_graph_def(frozen, name="")
    builder = v1.saved_model.Builder(saved_model_dir)
    signature = v1.saved_model.predict_signature_def(
        inputs={input_name: serving.get_tensor_by_name(f"{input_name}:0")},
        outputs={name: serving.get_tensor_by_name(f"{name}:0") for name in output_nodes},
    )
    builder.add_meta_graph_and_variables(
        session,
        [v1.saved_model.tag_constants.SERVING],
        signature_def_map={"serving_default": signature},
    )
    builder.save()

tflite = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir).convert()
with open(os.path.join(out_dir, "model.tflite"), "wb") as out:
    out.write(tflite)
