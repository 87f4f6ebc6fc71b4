"""`registry delete NAME@REF` and `registry delete NAME --model` against a live registry."""

from __future__ import annotations

import json

from click.testing import CliRunner

from registry.cli import main
from tests.cli.invoke import registry_cli
from tests.files import fake_tflite


def upload_two(registry, model: str, tmp_path) -> None:
    for number in (1, 2):
        path = fake_tflite(tmp_path / f"v{number}.tflite")
        registry.upload(model, path).raise_for_status()


def test_delete_of_a_version_prints_it_and_a_deleted_version_then_exits_2(
    registry, model_name, tmp_path
):
    upload_two(registry, model_name, tmp_path)

    deleted = registry_cli(registry, "delete", f"{model_name}@latest")
    shown = registry_cli(registry, "show", f"{model_name}@2")
    again = registry_cli(registry, "delete", f"{model_name}@2", "--json")

    assert deleted.exit_code == 0, deleted.output
    assert deleted.stdout.strip() == f"deleted {model_name}@2"
    assert shown.exit_code == 2 and "was deleted at" in shown.stderr
    assert again.exit_code == 2
    assert json.loads(again.stderr)["status"] == 410


def test_delete_of_an_aliased_version_exits_3_naming_the_alias(registry, model_name, tmp_path):
    upload_two(registry, model_name, tmp_path)
    registry_cli(registry, "alias", "set", model_name, "production", "1", "--force")

    refused = registry_cli(registry, "delete", f"{model_name}@1")

    assert refused.exit_code == 3
    assert "production -> 1" in refused.stderr
    assert registry.version(model_name, 1)["version"] == 1


def test_delete_of_a_model_needs_model_flag_and_deletes_every_version(
    registry, model_name, tmp_path
):
    upload_two(registry, model_name, tmp_path)

    bare = registry_cli(registry, "delete", model_name)
    both = registry_cli(registry, "delete", f"{model_name}@1", "--model")
    deleted = registry_cli(registry, "delete", model_name, "--model", "--json")
    listed = registry_cli(registry, "versions", model_name)

    assert bare.exit_code == 1 and "NAME --model" in bare.output
    assert both.exit_code == 1
    assert deleted.exit_code == 0, deleted.output
    answer = json.loads(deleted.stdout)
    assert (answer["model_deleted"], answer["versions"]) == (True, [1, 2])
    assert listed.exit_code == 2


def test_delete_with_a_write_token_exits_4(registry, model_name, tmp_path):
    upload_two(registry, model_name, tmp_path)
    writer = registry.issue_token(f"w-{model_name}", "write")

    refused = CliRunner().invoke(
        main, ["delete", f"{model_name}@1", "--url", registry.url, "--token", writer]
    )

    assert refused.exit_code == 4
