"""Comparing two versions: signature endpoints marked added, removed, renamed, changed or
same, each classified breaking or compatible for a serving client, with its reason."""

from __future__ import annotations

from registry.db.models import Artifact, ModelVersion
from registry.domain.catalog.comparison import (
    compare_signatures,
    compare_variants,
    compare_versions,
)


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


def classified(before: dict | None, after: dict | None) -> dict:
    """Each change between two signatures as (verdict, reason), keyed by (key, side, name)."""
    comparison = compare_versions(ModelVersion(signature=before), ModelVersion(signature=after))
    return {(c.signature, c.side, c.name): (c.verdict, c.reason) for c in comparison.changes}


def one_input(shape: list[int] | None, dtype: str = "float32") -> dict:
    return {"inputs": [endpoint("x", dtype, shape)], "outputs": [endpoint("y", "float32", [-1])]}


def one_output(shape: list[int] | None) -> dict:
    return {
        "inputs": [endpoint("x", "float32", [-1])],
        "outputs": [endpoint("y", "float32", shape)],
    }


def test_an_input_dimension_widened_to_any_size_is_compatible():
    assert classified(one_input([-1, 8]), one_input([-1, -1])) == {
        ("main", "inputs", "x"): ("compatible", "input 'x': dimension 1 widened from 8 to any size")
    }


def test_an_input_dimension_narrowed_or_resized_or_its_rank_changed_is_breaking():
    narrowed = classified(one_input([-1, -1]), one_input([-1, 8]))
    resized = classified(one_input([-1, 8]), one_input([-1, 16]))
    reranked = classified(one_input([-1, 8]), one_input([-1, 8, 1]))
    rank_fixed = classified(one_input(None), one_input([-1, 8]))

    assert narrowed == {
        ("main", "inputs", "x"): ("breaking", "input 'x': dimension 1 narrowed from any size to 8")
    }
    assert resized == {
        ("main", "inputs", "x"): ("breaking", "input 'x': dimension 1 changed from 8 to 16")
    }
    assert reranked == {
        ("main", "inputs", "x"): ("breaking", "input 'x': rank changed from 2 to 3")
    }
    assert rank_fixed == {
        ("main", "inputs", "x"): ("breaking", "input 'x': rank fixed at 2 (was any)")
    }


def test_output_dimensions_are_judged_the_other_way_round_for_the_client_reading_them():
    widened = classified(one_output([-1, 8]), one_output([-1, -1]))
    narrowed = classified(one_output([-1, -1]), one_output([-1, 8]))

    assert widened == {
        ("main", "outputs", "y"): ("breaking", "output 'y': dimension 1 widened from 8 to any size")
    }
    assert narrowed == {
        ("main", "outputs", "y"): (
            "compatible",
            "output 'y': dimension 1 narrowed from any size to 8",
        )
    }


def test_a_retyped_input_and_an_added_input_break_clients_an_added_output_does_not():
    before = one_input([-1, 8])
    after = {
        "inputs": [endpoint("x", "int8", [-1, 8]), endpoint("mask", "bool", [-1, 8])],
        "outputs": [endpoint("y", "float32", [-1]), endpoint("label", "int64", [-1])],
    }

    changes = classified(before, after)

    assert changes == {
        ("main", "inputs", "x"): ("breaking", "input 'x': dtype changed from float32 to int8"),
        ("main", "inputs", "mask"): (
            "breaking",
            "input 'mask' added: every input is required, and clients do not send it yet",
        ),
        ("main", "outputs", "label"): ("compatible", "output 'label' added"),
    }


def test_one_input_gone_and_one_alike_come_is_a_rename_and_breaking():
    before = {"inputs": [endpoint("mask", "bool", [-1, 8])], "outputs": []}
    after = {"inputs": [endpoint("attention_mask", "bool", [-1, 8])], "outputs": []}

    [change] = compare_signatures(ModelVersion(signature=before), ModelVersion(signature=after))

    assert (change.change, change.name, change.before["name"]) == (
        "renamed",
        "attention_mask",
        "mask",
    )
    assert (change.verdict, change.reason) == (
        "breaking",
        "input 'mask' renamed to 'attention_mask'",
    )


def test_unlike_or_several_endpoints_gone_and_come_are_not_read_as_renames():
    unlike = classified(
        {"inputs": [endpoint("mask", "bool", [-1, 8])], "outputs": []},
        {"inputs": [endpoint("ids", "int32", [-1, 8])], "outputs": []},
    )
    several = classified(
        {"inputs": [endpoint("a", "float32", [1]), endpoint("b", "float32", [1])], "outputs": []},
        {"inputs": [endpoint("c", "float32", [1]), endpoint("d", "float32", [1])], "outputs": []},
    )

    assert [reason.split(":")[0] for _, reason in unlike.values()] == [
        "input 'ids' added",
        "input 'mask' removed",
    ]
    assert sorted(reason.split(":")[0] for _, reason in several.values()) == [
        "input 'a' removed",
        "input 'b' removed",
        "input 'c' added",
        "input 'd' added",
    ]


def test_a_new_signature_key_is_compatible_and_a_removed_one_breaking():
    scores = {"inputs": [endpoint("x", "float32", [-1, 6])], "outputs": []}
    base = one_input([-1, 6])

    added = classified(base, {**base, "signatures": {"scores": scores}})
    removed = classified({**base, "signatures": {"scores": scores}}, base)

    assert added == {
        ("scores", "inputs", "x"): (
            "compatible",
            "input 'x' of signature 'scores' added with its signature",
        )
    }
    assert removed == {
        ("scores", "inputs", "x"): ("breaking", "input 'x' of signature 'scores' removed")
    }


def test_the_verdict_is_unknown_until_both_signatures_are_known():
    known = compare_versions(
        ModelVersion(signature=one_input([1])), ModelVersion(signature=one_input([1]))
    )
    unknown = compare_versions(ModelVersion(signature=one_input([1])), ModelVersion(signature=None))

    assert (known.verdict, known.changes) == ("compatible", [])
    assert unknown.verdict == "unknown"
