"""Format detection and the cheap checks of each kind (registry.domain.formats).

Real TensorFlow files (TF1 checkpoints with 1 and 2 shards, a TF2 object checkpoint, a
SavedModel, .keras, .h5, .tflite, a frozen .pb) are written once per session by a TF
subprocess; this process never imports TensorFlow.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from registry.archives.limits import ArchiveLimits
from registry.domain.inspection.detection import (
    DetectedUpload,
    detect_upload,
    parse_bundle_num_shards,
    parse_checkpoint_state,
    sniff_packaging,
)
from registry.errors import (
    IncompleteCheckpoint,
    ObjectCheckpointRejected,
    UnsupportedFormat,
    UploadRejected,
)
from registry.vocabulary import SOURCE_KINDS

LIMITS = ArchiveLimits(max_entries=1000, max_unpacked_bytes=1 << 30, max_compression_ratio=200)

MAKE_FIXTURES = textwrap.dedent(
    """
    import os, sys
    out = sys.argv[1]
    import tensorflow as tf
    import keras

    for d in ("tf1_one", "tf1_sharded"):
        os.makedirs(os.path.join(out, d))
    g = tf.Graph()
    with g.as_default():
        with tf.device("/cpu:0"):
            w = tf.compat.v1.get_variable("w", [3], initializer=tf.compat.v1.ones_initializer())
        with tf.device("/cpu:1"):
            b = tf.compat.v1.get_variable("b", [3], initializer=tf.compat.v1.zeros_initializer())
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        y = tf.identity(x * w + b, name="y")
        config = tf.compat.v1.ConfigProto(device_count={"CPU": 2})
        with tf.compat.v1.Session(graph=g, config=config) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver().save(sess, out + "/tf1_one/model.ckpt", global_step=5)
            tf.compat.v1.train.Saver(sharded=True).save(
                sess, out + "/tf1_sharded/model.ckpt", global_step=1000)
            frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
                sess, g.as_graph_def(), ["y"])
    with open(out + "/frozen.pb", "wb") as f:
        f.write(frozen.SerializeToString())

    tf.train.Checkpoint(v=tf.Variable([1.0, 2.0])).save(out + "/tf2/ckpt")

    class Scale(tf.Module):
        def __init__(self):
            self.v = tf.Variable([1.0, 2.0, 3.0])

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        def __call__(self, x):
            return x * self.v

    tf.saved_model.save(Scale(), out + "/savedmodel")
    converter = tf.lite.TFLiteConverter.from_saved_model(out + "/savedmodel")
    with open(out + "/model.tflite", "wb") as f:
        f.write(converter.convert())

    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2, name="d")(inputs))
    model.save(out + "/model.keras")
    model.save(out + "/model.h5")
    """
)


@pytest.fixture(scope="session")
def tf_files(tmp_path_factory) -> Path:
    """Real files written by TensorFlow (in a subprocess: the tests never import it)."""
    out = tmp_path_factory.mktemp("tf")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run(
        [sys.executable, "-c", MAKE_FIXTURES, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return out


def opener(path: Path):
    return lambda: open(path, "rb")


def make_tgz(path: Path, src: Path, arcname: str = "") -> Path:
    """A tar.gz of the directory src: its contents at the top, or under `arcname/`."""
    with tarfile.open(path, "w:gz") as tar:
        for child in sorted(src.rglob("*")):
            rel = child.relative_to(src).as_posix()
            tar.add(child, f"{arcname}/{rel}" if arcname else rel, recursive=False)
    return path


def make_zip(path: Path, src: Path, arcname: str = "") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for child in sorted(src.rglob("*")):
            rel = child.relative_to(src).as_posix()
            zf.write(child, f"{arcname}/{rel}" if arcname else rel)
    return path


def pack(tmp_path: Path, src: Path, packaging: str, arcname: str = "") -> Path:
    if packaging == "tar.gz":
        return make_tgz(tmp_path / "upload.tar.gz", src, arcname)
    return make_zip(tmp_path / "upload.zip", src, arcname)


def detect(path: Path, declared: str = "auto", limits: ArchiveLimits = LIMITS) -> DetectedUpload:
    return detect_upload(opener(path), path.name, declared, limits)


def copy_dir(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


PACKAGINGS = ["tar.gz", "zip"]


def test_refusals_carry_status_and_title():
    from registry.errors import RegistryError

    e = IncompleteCheckpoint("checkpoint x is missing x.meta")
    assert isinstance(e, UploadRejected) and isinstance(e, RegistryError)
    assert (e.status, e.title, str(e)) == (422, "Incomplete checkpoint", e.detail)
    assert (UnsupportedFormat.status, ObjectCheckpointRejected.status) == (415, 422)


# --- sniffing and single files -----------------------------------------------------------


def test_sniff_packaging_uses_magic_bytes_not_the_name():
    assert sniff_packaging(b"\x1f\x8b\x08\x00rest", "model.zip") == "tar.gz"
    assert sniff_packaging(b"PK\x03\x04rest", "model.tar.gz") == "zip"
    assert sniff_packaging(b"PK\x05\x06" + bytes(18), "empty.zip") == "zip"
    assert sniff_packaging(b"\x89HDF\r\n\x1a\n", "model.h5") == "file"
    assert sniff_packaging(b"", "x") == "file"


def test_file_kinds_constant():
    assert SOURCE_KINDS == ("checkpoint", "keras", "savedmodel", "frozen_pb", "tflite")


def test_detects_keras_h5_file(tf_files):
    assert detect(tf_files / "model.h5") == DetectedUpload("keras", "file", "", None, ())


def test_detects_keras_zip_file_as_a_file(tf_files):
    found = detect(tf_files / "model.keras")
    assert found == DetectedUpload("keras", "file", "", None, ())
    assert detect(tf_files / "model.keras", "keras").kind == "keras"


def test_detects_tflite_file(tf_files):
    assert detect(tf_files / "model.tflite") == DetectedUpload("tflite", "file", "", None, ())


def test_detects_frozen_pb_by_name(tf_files):
    assert detect(tf_files / "frozen.pb") == DetectedUpload("frozen_pb", "file", "", None, ())


def test_declared_frozen_pb_without_pb_name(tf_files, tmp_path):
    path = tmp_path / "graph.bin"
    shutil.copy(tf_files / "frozen.pb", path)
    assert detect(path, "frozen_pb").kind == "frozen_pb"
    with pytest.raises(UnsupportedFormat, match="'graph.bin' is not a recognised model file"):
        detect(path)


def test_saved_model_pb_alone_is_refused_with_upload_directory_hint(tf_files, tmp_path):
    path = tmp_path / "saved_model.pb"
    shutil.copy(tf_files / "savedmodel" / "saved_model.pb", path)
    with pytest.raises(UnsupportedFormat, match="looks like a SavedModel's saved_model.pb") as e:
        detect(path)
    assert "upload the whole SavedModel directory" in str(e.value)
    renamed = tmp_path / "graph.pb"  # the bytes give it away too
    shutil.copy(path, renamed)
    with pytest.raises(UnsupportedFormat, match="looks like a SavedModel's saved_model.pb"):
        detect(renamed)


def test_empty_pb_is_refused(tmp_path):
    path = tmp_path / "empty.pb"
    path.write_bytes(b"")
    with pytest.raises(UploadRejected, match="'empty.pb' is empty"):
        detect(path)


def test_pb_that_is_not_a_graphdef_is_refused(tmp_path):
    path = tmp_path / "notes.pb"
    path.write_bytes(b"hello, this is text")
    with pytest.raises(UnsupportedFormat, match=r"does not look like a serialized GraphDef"):
        detect(path)


def test_unknown_single_file_is_refused_naming_supported_formats(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(100))
    with pytest.raises(UnsupportedFormat) as e:
        detect(path)
    assert e.value.status == 415
    assert "'weights.bin' is not a recognised model file" in str(e.value)
    for accepted in (".tar.gz", ".zip", ".keras", ".h5", ".pb", ".tflite", "SavedModel"):
        assert accepted in str(e.value)


def test_uncompressed_tar_is_refused(tmp_path, tf_files):
    path = tmp_path / "model.tar"
    with tarfile.open(path, "w") as tar:
        tar.add(tf_files / "frozen.pb", "frozen.pb")
    with pytest.raises(UnsupportedFormat, match="uncompressed tar archive; compress it"):
        detect(path)


def test_declared_kind_contradicting_single_file_is_refused(tf_files):
    with pytest.raises(UnsupportedFormat, match="format 'tflite' was declared, but 'model.h5' is"):
        detect(tf_files / "model.h5", "tflite")
    with pytest.raises(UnsupportedFormat, match="'model.tflite' is a TFLite flatbuffer"):
        detect(tf_files / "model.tflite", "keras")
    with pytest.raises(UnsupportedFormat, match="'model.h5' is an HDF5"):
        detect(tf_files / "model.h5", "frozen_pb")


def test_declared_directory_kind_for_single_file_is_refused(tf_files):
    with pytest.raises(UnsupportedFormat, match="a checkpoint is a directory of files"):
        detect(tf_files / "model.h5", "checkpoint")
    with pytest.raises(UnsupportedFormat, match="upload the directory as a .tar.gz or .zip"):
        detect(tf_files / "frozen.pb", "savedmodel")


def test_unknown_declared_format_is_refused(tf_files):
    with pytest.raises(UploadRejected, match="unknown format 'onnx'; use auto or one of"):
        detect(tf_files / "model.h5", "onnx")


def test_single_file_reads_only_its_head(tmp_path):
    path = tmp_path / "big.h5"
    with open(path, "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n" + bytes(8 << 20))
    reads = []

    class Counting(io.FileIO):
        def read(self, n=-1):
            data = super().read(n)
            reads.append(len(data))
            return data

    assert detect_upload(lambda: Counting(path), "big.h5", "auto", LIMITS).kind == "keras"
    assert sum(reads) <= 4096


# --- archives: SavedModel ----------------------------------------------------------------


@pytest.mark.parametrize("packaging", PACKAGINGS)
def test_detects_savedmodel_archive_at_top_level(tf_files, tmp_path, packaging):
    found = detect(pack(tmp_path, tf_files / "savedmodel", packaging))
    assert (found.kind, found.packaging, found.root) == ("savedmodel", packaging, "")
    assert found.checkpoint_prefix is None
    assert "saved_model.pb" in found.members
    assert "variables/variables.index" in found.members


@pytest.mark.parametrize("packaging", PACKAGINGS)
def test_detects_savedmodel_in_nested_root_dir(tf_files, tmp_path, packaging):
    found = detect(pack(tmp_path, tf_files / "savedmodel", packaging, "export/1"))
    assert (found.kind, found.root) == ("savedmodel", "export/1")
    assert "export/1/saved_model.pb" in found.members


def test_savedmodel_without_variables_is_accepted(tf_files, tmp_path):
    src = tmp_path / "sm"
    src.mkdir()
    shutil.copy(tf_files / "savedmodel" / "saved_model.pb", src)
    assert detect(pack(tmp_path, src, "zip")).kind == "savedmodel"


def test_savedmodel_variables_without_saved_model_pb_is_refused(tf_files, tmp_path):
    src = copy_dir(tf_files / "savedmodel", tmp_path / "sm")
    (src / "saved_model.pb").unlink()
    with pytest.raises(UnsupportedFormat, match="variables/ but no saved_model.pb"):
        detect(pack(tmp_path, src, "tar.gz"))
    with pytest.raises(
        UnsupportedFormat, match="'savedmodel' was declared, but the archive has no"
    ):
        detect(pack(tmp_path, src, "tar.gz"), "savedmodel")


def test_several_savedmodels_are_refused_listing_them(tf_files, tmp_path):
    src = tmp_path / "two"
    shutil.copytree(tf_files / "savedmodel", src / "a")
    shutil.copytree(tf_files / "savedmodel", src / "b")
    with pytest.raises(UploadRejected, match=r"several SavedModels \('a', 'b'\)"):
        detect(pack(tmp_path, src, "zip"))


def test_archive_without_a_model_is_refused(tmp_path):
    src = tmp_path / "stuff"
    src.mkdir()
    (src / "README.txt").write_text("hello")
    with pytest.raises(UnsupportedFormat, match="neither a SavedModel .* nor a TF1 checkpoint"):
        detect(pack(tmp_path, src, "tar.gz"))


def test_archive_of_a_single_model_file_says_upload_the_file(tf_files, tmp_path):
    src = tmp_path / "wrapped"
    src.mkdir()
    shutil.copy(tf_files / "model.tflite", src)
    with pytest.raises(UnsupportedFormat, match="holds only 'model.tflite'; upload that file"):
        detect(pack(tmp_path, src, "zip"))


def test_macos_junk_is_ignored(tf_files, tmp_path):
    path = tmp_path / "mac.zip"
    make_zip(path, tf_files / "savedmodel", "sm")
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("__MACOSX/sm/._saved_model.pb", b"junk")
        zf.writestr("sm/.DS_Store", b"junk")
    assert (detect(path).kind, detect(path).root) == ("savedmodel", "sm")


# --- archives: keras zip -----------------------------------------------------------------


def test_keras_zip_layout_is_a_keras_file(tmp_path):
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", "{}")
        zf.writestr("config.json", "{}")
        zf.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    assert detect(path) == DetectedUpload("keras", "file", "", None, ())
    with pytest.raises(UnsupportedFormat, match="is a Keras .keras file"):
        detect(path, "savedmodel")


def test_declared_keras_for_a_plain_zip_is_refused(tf_files, tmp_path):
    with pytest.raises(UnsupportedFormat, match="'keras' was declared, but 'upload.zip' is a zip"):
        detect(pack(tmp_path, tf_files / "savedmodel", "zip"), "keras")


@pytest.mark.parametrize("declared", ["keras", "tflite", "frozen_pb"])
def test_declared_single_file_kind_for_tar_archive_is_refused(tf_files, tmp_path, declared):
    with pytest.raises(UnsupportedFormat, match=f"format '{declared}' is a single file"):
        detect(pack(tmp_path, tf_files / "savedmodel", "tar.gz"), declared)


# --- archives: TF1 checkpoints -----------------------------------------------------------


@pytest.mark.parametrize("packaging", PACKAGINGS)
def test_detects_tf1_checkpoint(tf_files, tmp_path, packaging):
    found = detect(pack(tmp_path, tf_files / "tf1_one", packaging))
    assert found == DetectedUpload(
        "checkpoint",
        packaging,
        "",
        "model.ckpt-5",
        (
            "checkpoint",
            "model.ckpt-5.data-00000-of-00001",
            "model.ckpt-5.index",
            "model.ckpt-5.meta",
        ),
    )
    assert detect(pack(tmp_path, tf_files / "tf1_one", packaging), "checkpoint").kind == (
        "checkpoint"
    )


@pytest.mark.parametrize("packaging", PACKAGINGS)
def test_detects_tf1_checkpoint_in_nested_root_dir(tf_files, tmp_path, packaging):
    found = detect(pack(tmp_path, tf_files / "tf1_one", packaging, "run7"))
    assert (found.kind, found.root, found.checkpoint_prefix) == (
        "checkpoint",
        "run7",
        "model.ckpt-5",
    )


@pytest.mark.parametrize("packaging", PACKAGINGS)
def test_detects_sharded_tf1_checkpoint(tf_files, tmp_path, packaging):
    found = detect(pack(tmp_path, tf_files / "tf1_sharded", packaging))
    assert (found.kind, found.checkpoint_prefix) == ("checkpoint", "model.ckpt-1000")
    assert "model.ckpt-1000.data-00001-of-00002" in found.members


def test_checkpoint_without_state_file_is_fine(tf_files, tmp_path):
    src = copy_dir(tf_files / "tf1_one", tmp_path / "ck")
    (src / "checkpoint").unlink()
    assert detect(pack(tmp_path, src, "zip")).checkpoint_prefix == "model.ckpt-5"


@pytest.mark.parametrize("packaging", PACKAGINGS)
def test_missing_shard_is_named(tf_files, tmp_path, packaging):
    src = copy_dir(tf_files / "tf1_sharded", tmp_path / "ck")
    (src / "model.ckpt-1000.data-00001-of-00002").unlink()
    with pytest.raises(IncompleteCheckpoint) as e:
        detect(pack(tmp_path, src, packaging))
    assert str(e.value) == (
        "checkpoint model.ckpt-1000 is missing model.ckpt-1000.data-00001-of-00002 "
        "(the index names 2 shards)"
    )
    assert e.value.status == 422


def test_missing_shard_in_nested_dir_names_its_path(tf_files, tmp_path):
    src = copy_dir(tf_files / "tf1_one", tmp_path / "ck")
    (src / "model.ckpt-5.data-00000-of-00001").unlink()
    with pytest.raises(IncompleteCheckpoint, match="is missing run/model.ckpt-5.data-00000-of-0"):
        detect(pack(tmp_path, src, "tar.gz", "run"))


@pytest.mark.parametrize("packaging", PACKAGINGS)
def test_missing_meta_is_named(tf_files, tmp_path, packaging):
    src = copy_dir(tf_files / "tf1_one", tmp_path / "ck")
    (src / "model.ckpt-5.meta").unlink()
    with pytest.raises(IncompleteCheckpoint) as e:
        detect(pack(tmp_path, src, packaging))
    assert str(e.value).startswith("checkpoint model.ckpt-5 is missing model.ckpt-5.meta")


def test_missing_index_is_named(tf_files, tmp_path):
    src = copy_dir(tf_files / "tf1_one", tmp_path / "ck")
    (src / "model.ckpt-5.index").unlink()
    with pytest.raises(IncompleteCheckpoint, match="model.ckpt-5 is missing model.ckpt-5.index"):
        detect(pack(tmp_path, src, "zip"))


def _two_prefixes(tf_files: Path, tmp_path: Path) -> Path:
    src = copy_dir(tf_files / "tf1_one", tmp_path / "ck")
    for f in list(src.glob("model.ckpt-5.*")):
        shutil.copy(f, src / f.name.replace("ckpt-5", "ckpt-9"))
    return src


@pytest.mark.parametrize("packaging", PACKAGINGS)
def test_state_file_chooses_among_prefixes(tf_files, tmp_path, packaging):
    src = _two_prefixes(tf_files, tmp_path)
    # Absolute paths from the machine that trained: only the base name counts.
    (src / "checkpoint").write_text(
        'model_checkpoint_path: "/home/someone/run/model.ckpt-5"\n'
        'all_model_checkpoint_paths: "/home/someone/run/model.ckpt-5"\n'
        'all_model_checkpoint_paths: "/home/someone/run/model.ckpt-9"\n'
    )
    assert detect(pack(tmp_path, src, packaging)).checkpoint_prefix == "model.ckpt-5"
    (src / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-9"\n')
    found = detect(pack(tmp_path, src, packaging, "nested"))
    assert (found.root, found.checkpoint_prefix) == ("nested", "model.ckpt-9")


@pytest.mark.parametrize("packaging", PACKAGINGS)
def test_several_prefixes_without_state_file_are_refused_listing_them(
    tf_files, tmp_path, packaging
):
    src = _two_prefixes(tf_files, tmp_path)
    (src / "checkpoint").unlink()
    with pytest.raises(IncompleteCheckpoint) as e:
        detect(pack(tmp_path, src, packaging))
    assert "several checkpoints (model.ckpt-5, model.ckpt-9)" in str(e.value)
    assert "no 'checkpoint' state file" in str(e.value)


def test_state_file_naming_an_absent_prefix_is_refused(tf_files, tmp_path):
    src = _two_prefixes(tf_files, tmp_path)
    (src / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-7"\n')
    with pytest.raises(IncompleteCheckpoint, match="state file names model.ckpt-7, which is not"):
        detect(pack(tmp_path, src, "zip"))


def test_stray_data_shards_do_not_compete(tf_files, tmp_path):
    src = copy_dir(tf_files / "tf1_one", tmp_path / "ck")
    (src / "checkpoint").unlink()
    (src / "model.ckpt-1.data-00000-of-00001").write_bytes(b"old")
    assert detect(pack(tmp_path, src, "tar.gz")).checkpoint_prefix == "model.ckpt-5"


# --- archives: TF2 object checkpoints ----------------------------------------------------


UPLOAD_INSTEAD = "Upload the model as a .keras or .h5 file or as a SavedModel instead."


@pytest.mark.parametrize("packaging", PACKAGINGS)
def test_tf2_object_checkpoint_is_refused_with_upload_instead_message(
    tf_files, tmp_path, packaging
):
    # Written by tf.train.Checkpoint.save: ckpt-1.index, ckpt-1.data-*, a state file.
    with pytest.raises(ObjectCheckpointRejected) as e:
        detect(pack(tmp_path, tf_files / "tf2", packaging))
    message = str(e.value)
    assert message.startswith("'ckpt-1' is a TF2 object-based checkpoint")
    assert "holds variable values but no graph" in message
    assert "cannot be converted without the model's code" in message
    assert message.endswith(UPLOAD_INSTEAD)
    assert e.value.status == 422


def test_tf2_checkpoints_without_state_file_are_refused_as_tf2(tf_files, tmp_path):
    src = copy_dir(tf_files / "tf2", tmp_path / "ck")
    (src / "checkpoint").unlink()
    for f in list(src.glob("ckpt-1.*")):
        shutil.copy(f, src / f.name.replace("ckpt-1", "ckpt-2"))
    with pytest.raises(ObjectCheckpointRejected, match="TF2 object-based checkpoint"):
        detect(pack(tmp_path, src, "zip"), "checkpoint")


def test_tf1_index_has_no_object_graph_marker(tf_files):
    assert b"_CHECKPOINTABLE_OBJECT_GRAPH" in (tf_files / "tf2" / "ckpt-1.index").read_bytes()
    assert (
        b"_CHECKPOINTABLE_OBJECT_GRAPH"
        not in (tf_files / "tf1_one" / "model.ckpt-5.index").read_bytes()
    )


# --- the .index header parser -------------------------------------------------------------


def test_num_shards_parsed_from_real_indexes(tf_files):
    one = (tf_files / "tf1_one" / "model.ckpt-5.index").read_bytes()
    two = (tf_files / "tf1_sharded" / "model.ckpt-1000.index").read_bytes()
    assert parse_bundle_num_shards(one) == 1
    assert parse_bundle_num_shards(two) == 2
    assert parse_bundle_num_shards(one[:64]) == 1  # only the head is needed
    assert parse_bundle_num_shards((tf_files / "tf2" / "ckpt-1.index").read_bytes()) == 1


def _with_num_shards(index: bytes, n: int) -> bytes:
    """A real index whose BundleHeaderProto says n shards (same varint length as 1)."""
    assert index[:5] == b"\x00\x00\x06\x08\x01", index[:8]  # shared, unshared, len 6, field 1
    return index[:4] + bytes([n]) + index[5:]


def test_num_shards_parsed_from_crafted_header(tf_files):
    one = (tf_files / "tf1_one" / "model.ckpt-5.index").read_bytes()
    assert parse_bundle_num_shards(_with_num_shards(one, 3)) == 3
    assert parse_bundle_num_shards(_with_num_shards(one, 0x7F)) == 127


def test_crafted_three_shard_index_reports_missing_shards(tf_files, tmp_path):
    src = copy_dir(tf_files / "tf1_one", tmp_path / "ck")
    index = src / "model.ckpt-5.index"
    index.write_bytes(_with_num_shards(index.read_bytes(), 3))
    (src / "model.ckpt-5.data-00000-of-00001").rename(src / "model.ckpt-5.data-00000-of-00003")
    with pytest.raises(IncompleteCheckpoint) as e:
        detect(pack(tmp_path, src, "zip"))
    assert str(e.value) == (
        "checkpoint model.ckpt-5 is missing model.ckpt-5.data-00001-of-00003, "
        "model.ckpt-5.data-00002-of-00003 (the index names 3 shards)"
    )


def test_huge_shard_count_in_index_is_reported_without_walking_it(tf_files, tmp_path):
    src = copy_dir(tf_files / "tf1_one", tmp_path / "ck")
    index = src / "model.ckpt-5.index"
    raw = index.read_bytes()
    # num_shards = 2**31 - 1: a 5-byte varint, so the header value grows from 6 to 10 bytes.
    index.write_bytes(b"\x00\x00\x0a\x08\xff\xff\xff\xff\x07" + raw[5:])
    with pytest.raises(IncompleteCheckpoint) as e:
        detect(pack(tmp_path, src, "zip"))
    assert str(e.value) == (
        "checkpoint model.ckpt-5 is missing model.ckpt-5.data-00000-of-2147483647, "
        "model.ckpt-5.data-00001-of-2147483647, model.ckpt-5.data-00002-of-2147483647 "
        "and 2147483644 more (the index names 2147483647 shards)"
    )


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"\x01\x00\x06\x08\x01",
        b"\x00\x03abc",
        b"\x00\x00\x09\x08\x01",
        b"\x00\x00\x02\x10\x01",
    ],
)
def test_unexpected_index_header_gives_none(head):
    assert parse_bundle_num_shards(head) is None


def test_unparsable_index_falls_back_to_shard_names(tf_files, tmp_path):
    src = copy_dir(tf_files / "tf1_sharded", tmp_path / "ck")
    (src / "model.ckpt-1000.index").write_bytes(b"\xff" * 64)
    (src / "model.ckpt-1000.data-00000-of-00002").unlink()
    with pytest.raises(IncompleteCheckpoint) as e:
        detect(pack(tmp_path, src, "tar.gz"))
    assert str(e.value) == (
        "checkpoint model.ckpt-1000 is missing model.ckpt-1000.data-00000-of-00002 "
        "(the shard names say 2 shards)"
    )


def test_parse_checkpoint_state():
    text = b'model_checkpoint_path: "a/model.ckpt-3"\nall_model_checkpoint_paths: "x"\n'
    assert parse_checkpoint_state(text) == "a/model.ckpt-3"
    assert parse_checkpoint_state(b'all_model_checkpoint_paths: "x"\n') is None
    assert parse_checkpoint_state(b'model_checkpoint_path: "C:\\\\runs\\\\m.ckpt"') == (
        "C:\\runs\\m.ckpt"
    )


def test_zip_checkpoint_detection_reads_little(tf_files, tmp_path):
    src = copy_dir(tf_files / "tf1_one", tmp_path / "ck")
    big = src / "model.ckpt-5.data-00000-of-00001"
    big.write_bytes(os.urandom(24 << 20))
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted(src.iterdir()):  # the data shard first: the index sits after it
            zf.write(f, f.name)
    read = 0

    class Counting(io.FileIO):
        def read(self, n=-1):
            nonlocal read
            data = super().read(n)
            read += len(data)
            return data

    found = detect_upload(lambda: Counting(path), "big.zip", "auto", LIMITS)
    assert found.checkpoint_prefix == "model.ckpt-5"
    assert read < 4 << 20
