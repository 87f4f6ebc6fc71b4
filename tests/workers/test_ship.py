"""The profile job and the ship table, through a real worker: upload, convert, profile, show."""

from __future__ import annotations

import time

from tests.cli.invoke import registry_cli
from tests.workers.conftest import wait_for_version
from tests.workers.uploads import example_inputs_file, upload_fields, upload_file_for


def wait_for_profile(registry, model: str, ref, timeout: float = 180) -> dict:
    """The version once its profile job has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version = registry.version(model, ref)
        job = version["profile_job"]
        if job and job["status"] in ("succeeded", "failed"):
            return version
        time.sleep(0.25)
    raise AssertionError(f"{model}@{ref} was not profiled: {version['jobs']}")


def test_every_variant_is_profiled_after_the_version_is_ready_and_shows_in_the_ship_table(
    converting_registry, worker, samples, model_name, tmp_path
):
    # A frozen graph whose input `in` is renamed in the SavedModel (docs/conversion.md §3).
    sample, upload_path = upload_file_for("frozen", samples, tmp_path)

    def upload() -> None:
        response = converting_registry.upload(
            model_name,
            upload_path,
            example_inputs=example_inputs_file(sample, tmp_path),
            targets="tflite_int8_full",
            **upload_fields(sample),
        )
        assert response.status_code == 202, response.text

    upload()

    ready = wait_for_version(converting_registry, model_name, 1)
    version = wait_for_profile(converting_registry, model_name, 1)

    assert ready["status"] == "ready", (ready["status_detail"], worker.log_tail())
    profile_job = version["profile_job"]
    # Queued once the conversions were over, and the version did not wait for it.
    assert {j["target"] for j in version["jobs"]} == {"savedmodel", "tflite", "tflite_int8_full"}
    assert profile_job["target"] == "profile"
    assert profile_job["id"] > max(j["id"] for j in version["jobs"])
    assert profile_job["status"] == "succeeded", profile_job["error"]
    assert version["status"] == "ready"
    kinds = ["frozen_pb", "savedmodel", "tflite", "tflite_int8_full"]
    deployable = {a["kind"]: a for a in version["artifacts"] if a["kind"] in kinds}
    assert set(deployable) == set(kinds)
    for kind, artifact in deployable.items():
        profile = artifact["facts"]["profile"]
        assert profile["measured"] is True, (kind, profile)
        assert profile["latency_ms"]["p50"] > 0 and profile["load_ms"] > 0
        assert profile["cpu"] and profile["threads"] == 1
        assert profile["inputs"] == "example_inputs" and profile["batch"] == 3
        assert profile["versions"]["tensorflow"] and profile["versions"]["ai_edge_litert"]
    full = deployable["tflite_int8_full"]
    assert full["parity"]["checked"] is True and full["parity_passed"] is True
    assert full["facts"]["report"]["flex_ops"] == []

    ship = {row["kind"]: row for row in version["ship"]}
    assert list(ship) == kinds
    assert ship["frozen_pb"]["parity"] == "source"  # the upload itself
    for kind, row in ship.items():
        artifact = deployable[kind]
        assert row["size"] == artifact["size"]
        assert row["parity"] == ("source" if kind == "frozen_pb" else "passed")
        assert row["latency_p50_ms"] == artifact["facts"]["profile"]["latency_ms"]["p50"]
        assert row["flex_ops"] == [] and row["flags"] == []
    assert ship["tflite_int8_full"]["max_abs_diff"] > 0
    assert (
        ship["tflite"]["gpu_fallback_ops"] == 0 and ship["savedmodel"]["gpu_fallback_ops"] is None
    )

    # The same bytes again, on the same inputs: their profiles are taken over, not measured.
    upload()
    second = wait_for_version(converting_registry, model_name, 2)
    assert second["status"] == "ready"
    assert second["profile_job"] is None
    for artifact in second["artifacts"]:
        if artifact["kind"] in kinds:
            assert artifact["facts"]["profile"] == deployable[artifact["kind"]]["facts"]["profile"]

    shown = registry_cli(converting_registry, "show", f"{model_name}@1")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    header = lines.index("ship") + 1
    assert lines[header].split()[:4] == ["kind", "size", "parity", "max"]
    rows = [line.split() for line in lines[header + 1 : header + 1 + len(kinds)]]
    assert [row[0] for row in rows] == list(ship)
    assert all(("passed" in row or "source" in row) and "ms" in row for row in rows)
    assert any(line.startswith("  latency: ") and "1 thread" in line for line in lines)


def test_full_integer_target_without_example_inputs_is_refused(
    converting_registry, samples, model_name, tmp_path
):
    sample, upload_path = upload_file_for("frozen", samples, tmp_path)

    response = converting_registry.upload(
        model_name, upload_path, targets="tflite_int8_full", **upload_fields(sample)
    )

    assert response.status_code == 422, response.text
    assert "send `example_inputs`" in response.json()["detail"]
