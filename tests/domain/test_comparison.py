"""Comparing two versions: signature endpoints marked added, removed, changed or same."""

from __future__ import annotations

from registry.db.models import Artifact, ModelVersion
from registry.domain.catalog.comparison import compare_signatures, compare_variants


def endpoint(name: str, dtype: str, shape: list[int]) -> dict:
    return {"name": name, "dtype": dtype, "shape": shape}


def test_signature_changes_are_marked_per_signature_key_and_side():
    before = ModelVersion(
        signature={
            "inputs": [endpoint("img", "float32", [-1, 8]), endpoint("vec", "float32", [-1, 4])],
            "outputs": [endpoint("score", "float32", [-1, 1])],
            "signatures": {"serving_default": {"inputs": [endpoint("img", "float32", [-1, 8])]}},
        }
    )
    after = ModelVersion(
        signature={
            "inputs": [endpoint("img", "float32", [-1, 16]), endpoint("vec", "float32", [-1, 4])],
            "outputs": [endpoint("score", "float32", [-1, 1]), endpoint("cls", "int64", [-1])],
        }
    )

    changes = {(c.signature, c.side, c.name): c.change for c in compare_signatures(before, after)}

    assert changes == {
        ("main", "inputs", "img"): "changed",
        ("main", "inputs", "vec"): "same",
        ("main", "outputs", "score"): "same",
        ("main", "outputs", "cls"): "added",
        ("serving_default", "inputs", "img"): "removed",
    }


def test_variants_pair_by_kind_with_the_uploaded_source_first():
    source = Artifact(id=1, kind="keras", parent_id=None)
    before = ModelVersion(artifacts=[source, Artifact(kind="tflite", parent_id=1)])
    after = ModelVersion(
        artifacts=[Artifact(kind="keras"), Artifact(kind="savedmodel", parent_id=1)]
    )

    pairs = [
        (p.kind, p.before is not None, p.after is not None) for p in compare_variants(before, after)
    ]

    assert pairs == [("keras", True, True), ("savedmodel", False, True), ("tflite", True, False)]
