"""What the worker tests upload: each sample as a user would send it, and its form fields."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np


def tar_directory(directory: Path, out: Path) -> Path:
    # A fixed gzip timestamp: the same directory packs to the same bytes, so uploading it again
    # reuses the stored conversions instead of running them (the lineage tests rely on it).
    with (
        out.open("wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w") as archive,
    ):
        archive.add(directory, arcname=directory.name)
    return out


def zip_directory(directory: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, f"{directory.name}/{path.relative_to(directory)}")
    return out


def upload_file_for(sample_name: str, samples, tmp_path: Path) -> tuple[object, Path]:
    """What a user uploads for each sample: archives for directories, files as they are."""
    if sample_name == "keras_h5":
        sample = samples["keras"]
        return sample, Path(sample.extra["h5_path"])
    sample = samples[sample_name]
    if sample_name == "checkpoint":
        return sample, tar_directory(sample.path, tmp_path / "checkpoint.tar.gz")
    if sample.path.is_dir():
        return sample, zip_directory(sample.path, tmp_path / "savedmodel.zip")
    return sample, sample.path


def upload_fields(sample) -> dict[str, str]:
    """The sample's conversion options as upload form fields."""
    names = {"tags": "saved_model_tags"}
    return {
        names.get(key, key): value if isinstance(value, str) else ",".join(value)
        for key, value in sample.options.items()
    }


def example_inputs_file(sample, tmp_path: Path, scale: float = 1.0) -> Path:
    """The sample's inputs (times `scale`) as an example_inputs .npz."""
    path = tmp_path / "examples.npz"
    buffer = io.BytesIO()
    np.savez(buffer, **{name: value * scale for name, value in sample.inputs.items()})
    path.write_bytes(buffer.getvalue())
    return path


EXPECTED_TARGETS = {
    "checkpoint": {"frozen_pb", "savedmodel", "tflite", "tflite_fp16", "tflite_int8"},
    "keras": {"savedmodel", "frozen_pb", "tflite", "tflite_fp16", "tflite_int8"},
    "keras_h5": {"savedmodel", "frozen_pb", "tflite"},
    "tf1_savedmodel": {"frozen_pb", "tflite"},
    "frozen": {"savedmodel", "tflite"},
}
