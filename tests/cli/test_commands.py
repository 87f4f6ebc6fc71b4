"""The user commands against a live registry: output, files written, exit codes."""

from __future__ import annotations

import hashlib
import json
import tarfile
import time

from click.testing import CliRunner

from registry.cli import main
from tests.cli.invoke import registry_cli
from tests.client.loopback import stalled_server
from tests.client.trees import files_under, savedmodel_tree
from tests.files import fake_tflite


def test_upload_of_a_directory_then_fetch_gives_back_its_files_verified(
    registry, model_name, tmp_path
):
    directory = savedmodel_tree(tmp_path / "export_dir")

    uploaded = registry_cli(registry, "upload", model_name, str(directory), "--json")
    fetched = registry_cli(
        registry, "fetch", f"{model_name}@1", "--kind", "savedmodel", "-o", str(tmp_path / "sm.tgz")
    )

    assert uploaded.exit_code == 0, uploaded.output
    version = json.loads(uploaded.stdout)
    assert (version["version"], version["source_kind"]) == (1, "savedmodel")
    assert uploaded.stderr == ""  # not a terminal: no progress bar
    assert fetched.exit_code == 0, fetched.output
    listed = version["artifacts"][0]["sha256"]
    assert hashlib.sha256((tmp_path / "sm.tgz").read_bytes()).hexdigest() == listed
    assert f"sha256 {listed[:12]} verified" in fetched.stdout
    with tarfile.open(tmp_path / "sm.tgz") as archive:
        assert sorted(m.name for m in archive.getmembers() if m.isfile()) == sorted(
            files_under(directory)
        )


def test_show_json_is_the_version_and_plain_show_reads_for_a_person(registry, model_name, tmp_path):
    registry_cli(registry, "upload", model_name, str(fake_tflite(tmp_path / "m.tflite")))

    as_json = registry_cli(registry, "show", f"{model_name}@latest", "--json")
    plain = registry_cli(registry, "show", model_name)

    assert as_json.exit_code == 0 and plain.exit_code == 0, plain.output
    version = json.loads(as_json.stdout)
    assert (version["model"], version["version"], version["status"]) == (model_name, 1, "pending")
    lines = plain.stdout.splitlines()
    assert lines[0] == f"{model_name}@1  pending"
    assert any(line.split()[:2] == ["source", "tflite"] for line in lines)
    assert "  jobs     describe queued" in lines
    assert "variants" in lines


def test_missing_things_exit_2_with_the_problem_detail_on_stderr(registry, model_name, tmp_path):
    shown = registry_cli(registry, "show", f"{model_name}@3")
    fetched = registry_cli(
        registry, "fetch", f"{model_name}@1", "--kind", "tflite", "-o", str(tmp_path / "x")
    )
    as_json = registry_cli(registry, "versions", model_name, "--json")

    assert shown.exit_code == 2 and fetched.exit_code == 2
    assert f"no model named {model_name!r}" in shown.stderr
    assert shown.stdout == ""
    assert not (tmp_path / "x").exists()
    problem = json.loads(as_json.stderr)
    assert (problem["status"], problem["exit_code"]) == (404, 2)
    assert "no model named" in problem["detail"]


def test_usage_errors_exit_1(registry, model_name, tmp_path):
    no_kind = registry_cli(registry, "fetch", f"{model_name}@1", "-o", str(tmp_path / "x"))
    nothing_named = registry_cli(registry, "export-serving", "-o", str(tmp_path))
    no_such_path = registry_cli(registry, "upload", model_name, str(tmp_path / "missing"))

    assert (no_kind.exit_code, nothing_named.exit_code, no_such_path.exit_code) == (1, 1, 1)
    assert "--kind" in no_kind.stderr
    assert "NAME, --model NAME... or --all" in nothing_named.stderr


def test_unreachable_registry_exits_5():
    result = CliRunner().invoke(main, ["models", "--url", "http://127.0.0.1:9"])

    assert result.exit_code == 5
    assert "cannot reach the registry at http://127.0.0.1:9" in result.stderr


def test_registry_that_never_answers_exits_5_within_the_http_timeout():
    with stalled_server() as url:
        started = time.monotonic()
        result = CliRunner().invoke(
            main, ["models", "--url", url], env={"REGISTRY_HTTP_TIMEOUT": "0.5"}
        )
        elapsed = time.monotonic() - started

    assert result.exit_code == 5
    assert f"no answer from the registry at {url}: nothing arrived for 0.5 s" in result.stderr
    assert elapsed < 3


def test_alias_at_a_version_that_is_not_ready_exits_3_unless_forced(registry, model_name, tmp_path):
    registry_cli(registry, "upload", model_name, str(fake_tflite(tmp_path / "m.tflite")))

    refused = registry_cli(registry, "alias", "set", model_name, "production", "1")
    forced = registry_cli(registry, "alias", "set", model_name, "production", "1", "--force")
    listed = registry_cli(registry, "models", "-q", model_name)
    removed = registry_cli(registry, "alias", "rm", model_name, "production")

    assert refused.exit_code == 3 and "--force" in refused.stderr
    assert forced.exit_code == 0 and forced.stdout.strip() == f"production -> {model_name}@1"
    assert listed.stdout.splitlines()[1].split()[:2] == [model_name, "production=1"]
    assert removed.exit_code == 0


def test_export_serving_writes_the_model_base_path_layout(registry, model_name, tmp_path):
    directory = savedmodel_tree(tmp_path / "sm")
    registry_cli(registry, "upload", model_name, str(directory))
    registry_cli(registry, "upload", model_name, str(fake_tflite(tmp_path / "m.tflite")))

    out = str(tmp_path / "out")
    exported = registry_cli(
        registry, "export-serving", model_name, "--version", "1", "-o", out, "--json"
    )
    refused = registry_cli(
        registry, "export-serving", model_name, "--version", "2", "-o", str(tmp_path / "out2")
    )

    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["models"][0]["versions"] == [1]
    assert files_under(tmp_path / "out" / model_name / "1") == files_under(directory)
    assert refused.exit_code == 3 and "SavedModel" in refused.stderr


def test_commands_find_the_local_registry_through_its_data_dir(registry, model_name, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "url").write_text(registry.url)
    token = getattr(registry, "token", None)
    if token:
        (data_dir / "admin.token").write_text(token)
    env = {"REGISTRY_DATA_DIR": str(data_dir), "REGISTRY_URL": None, "REGISTRY_TOKEN": None}

    uploaded = CliRunner().invoke(
        main, ["upload", model_name, str(fake_tflite(tmp_path / "m.tflite"))], env=env
    )
    listed = CliRunner().invoke(main, ["versions", model_name, "--json"], env=env)

    assert uploaded.exit_code == 0, uploaded.output
    assert uploaded.stdout.startswith(f"uploaded {model_name}@1: tflite m.tflite")
    assert [v["version"] for v in json.loads(listed.stdout)] == [1]
