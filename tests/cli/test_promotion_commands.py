"""`registry diff`, `registry alias set` refused by the compatibility gate, and `registry alias
history` / `rollback`, against a live registry."""

from __future__ import annotations

import json

from tests.cli.invoke import registry_cli
from tests.factories import (
    IMAGE_ONLY,
    TWO_INPUTS,
    WITH_EXTRA_OUTPUT,
    upload_described,
)
from tests.files import fake_tflite


def test_diff_exits_1_listing_the_removed_input_and_0_when_compatible(
    registry, model_name, tmp_path
):
    upload_described(registry, model_name, tmp_path, TWO_INPUTS, IMAGE_ONLY, WITH_EXTRA_OUTPUT)

    breaking = registry_cli(registry, "diff", f"{model_name}@1", f"{model_name}@2")
    compatible = registry_cli(registry, "diff", f"{model_name}@1", f"{model_name}@3")

    assert breaking.exit_code == 1, breaking.output
    lines = breaking.stdout.splitlines()
    assert lines[0] == f"{model_name}@1 -> {model_name}@2: breaking (1 breaking of 1 changes)"
    assert lines[1].split(None, 1) == ["breaking", "input 'mask' removed"]
    assert compatible.exit_code == 0, compatible.output
    assert compatible.stdout.splitlines()[1].split(None, 1) == [
        "compatible",
        "output 'label' added",
    ]


def test_diff_json_parses_and_keeps_the_exit_code(registry, model_name, tmp_path):
    upload_described(registry, model_name, tmp_path, TWO_INPUTS, IMAGE_ONLY)

    result = registry_cli(registry, "diff", f"{model_name}@1", f"{model_name}@latest", "--json")

    assert result.exit_code == 1
    comparison = json.loads(result.stdout)
    assert comparison["verdict"] == "breaking"
    assert [(c["change"], c["name"]) for c in comparison["changes"]] == [("removed", "mask")]


def test_diff_of_two_models_is_a_usage_error_and_of_an_undescribed_version_a_conflict(
    registry, model_name, tmp_path
):
    upload_described(registry, model_name, tmp_path, TWO_INPUTS)
    registry.upload(model_name, fake_tflite(tmp_path / "v2.tflite")).raise_for_status()

    two_models = registry_cli(registry, "diff", f"{model_name}@1", "other@1")
    undescribed = registry_cli(registry, "diff", f"{model_name}@1", f"{model_name}@2")

    assert two_models.exit_code == 1 and "one model" in two_models.output
    assert undescribed.exit_code == 3
    assert "no signature yet" in undescribed.stderr


def test_alias_set_to_a_breaking_version_exits_3_naming_the_change_until_forced(
    registry, model_name, tmp_path
):
    upload_described(registry, model_name, tmp_path, TWO_INPUTS, IMAGE_ONLY)
    registry_cli(registry, "alias", "set", model_name, "production", "1")

    refused = registry_cli(registry, "alias", "set", model_name, "production", "2")
    forced = registry_cli(registry, "alias", "set", model_name, "production", "2", "--force")

    assert refused.exit_code == 3
    assert "input 'mask' removed" in refused.stderr
    assert forced.exit_code == 0, forced.output
    assert forced.stdout.strip() == f"production -> {model_name}@2"


def test_alias_rollback_restores_the_previous_version_and_history_shows_both_moves(
    registry, model_name, tmp_path
):
    upload_described(registry, model_name, tmp_path, IMAGE_ONLY, IMAGE_ONLY, IMAGE_ONLY)
    for number in ("1", "2", "3"):
        registry_cli(registry, "alias", "set", model_name, "production", number)

    rolled = registry_cli(registry, "alias", "rollback", model_name, "production")
    history = registry_cli(registry, "alias", "history", model_name, "production")
    as_json = registry_cli(registry, "alias", "history", model_name, "production", "--json")

    assert rolled.exit_code == 0, rolled.output
    assert rolled.stdout.strip() == f"production -> {model_name}@2 (rolled back)"
    assert registry.version(model_name, "production")["version"] == 2
    assert history.exit_code == 0, history.output
    rows = [line.split() for line in history.stdout.splitlines()[1:]]
    assert [row[3:6] for row in rows] == [
        ["set", "-", "1"],
        ["moved", "1", "2"],
        ["moved", "2", "3"],
        ["moved", "3", "2"],
    ]
    assert rows[-1][-1] == "rollback"
    assert [c["to_version"] for c in json.loads(as_json.stdout)] == [1, 2, 3, 2]
