"""Uploads converted by real Celery workers on PostgreSQL + S3 + Redis; variants run here."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.conftest import start_live_registry
from tests.convert.independent import assert_matches, run_variant
from tests.workers.conftest import (
    WorkerProcess,
    download,
    wait_for_job_status,
    wait_for_version,
)
from tests.workers.uploads import (
    EXPECTED_TARGETS,
    example_inputs_file,
    tar_directory,
    upload_fields,
    upload_file_for,
)


@pytest.mark.parametrize("sample_name", sorted(EXPECTED_TARGETS))
def test_every_variant_downloads_verified_and_computes_what_the_source_computes(
    converting_registry, worker, samples, model_name, tmp_path, sample_name
):
    sample, upload_path = upload_file_for(sample_name, samples, tmp_path)
    targets = EXPECTED_TARGETS[sample_name]
    fields = upload_fields(sample)
    if "tflite_int8" in targets:
        fields["targets"] = "tflite_fp16,tflite_int8"

    response = converting_registry.upload(model_name, upload_path, **fields)
    assert response.status_code == 202, response.text
    version = wait_for_version(converting_registry, model_name, 1)

    assert version["status"] == "ready", (version["status_detail"], worker.log_tail())
    assert version["signature"]["inputs"]
    variants = {a["kind"]: a for a in version["artifacts"] if a["job_id"] is not None}
    assert set(variants) == targets
    for kind, artifact in variants.items():
        path = download(converting_registry, model_name, 1, kind, tmp_path / f"variant.{kind}")
        assert hashlib.sha256(path.read_bytes()).hexdigest() == artifact["sha256"]
        assert artifact["parity_passed"] is True, artifact["parity"]
        assert artifact["derived_from"] == version["source_kind"]
        if kind == "savedmodel":
            with tarfile.open(path) as archive:
                archive.extractall(tmp_path / "savedmodel", filter="data")
            path = tmp_path / "savedmodel"
        produced = run_variant(artifact["facts"], kind, path, sample.inputs)
        assert_matches(sample.expected, produced, kind)


def test_directory_variant_downloads_as_identical_bytes_twice(
    converting_registry, worker, samples, model_name, tmp_path
):
    sample, upload_path = upload_file_for("frozen", samples, tmp_path)
    converting_registry.upload(model_name, upload_path, **upload_fields(sample))
    wait_for_version(converting_registry, model_name, 1)

    first = download(converting_registry, model_name, 1, "savedmodel", tmp_path / "a.tar.gz")
    second = download(converting_registry, model_name, 1, "savedmodel", tmp_path / "b.tar.gz")

    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as archive:
        assert "saved_model.pb" in archive.getnames()


def test_example_inputs_are_used_for_parity(
    converting_registry, worker, samples, model_name, tmp_path
):
    sample, upload_path = upload_file_for("frozen", samples, tmp_path)
    examples = example_inputs_file(sample, tmp_path)

    converting_registry.upload(
        model_name, upload_path, example_inputs=examples, **upload_fields(sample)
    )
    version = wait_for_version(converting_registry, model_name, 1)

    tflite = next(a for a in version["artifacts"] if a["kind"] == "tflite")
    assert tflite["parity"]["inputs"] == "example_inputs"
    assert tflite["parity_passed"] is True


def test_wrong_output_node_fails_the_version_naming_nodes_that_exist(
    converting_registry, worker, samples, model_name, tmp_path
):
    _, upload_path = upload_file_for("checkpoint", samples, tmp_path)

    converting_registry.upload(model_name, upload_path, output_nodes="head/logitz")
    version = wait_for_version(converting_registry, model_name, 1)

    assert version["status"] == "failed"
    assert "head/logitz" in version["status_detail"]
    assert "head/logits" in version["status_detail"]
    assert all(job["attempts"] == 1 for job in version["jobs"])  # bad input is not retried


def test_random_bytes_named_pb_fail_with_a_readable_message(
    converting_registry, worker, model_name, tmp_path
):
    junk = tmp_path / "model.pb"
    junk.write_bytes(b"\x0a" + bytes(range(256)) * 4)

    converting_registry.upload(model_name, junk)
    version = wait_for_version(converting_registry, model_name, 1)

    assert version["status"] == "failed"
    assert "GraphDef" in version["status_detail"]


def test_truncated_checkpoint_shard_fails_naming_the_truncation(
    converting_registry, worker, samples_dir, model_name, tmp_path
):
    from registry.testing import tf_samples

    truncated = tf_samples.build_truncated_checkpoint(samples_dir / "truncated")
    archive = tar_directory(truncated.path, tmp_path / "truncated.tar.gz")

    converting_registry.upload(model_name, archive, **upload_fields(truncated))
    version = wait_for_version(converting_registry, model_name, 1)

    assert version["status"] == "failed"
    assert "truncated" in version["status_detail"]


def test_graph_that_would_crash_tensorflow_is_refused_before_it_is_imported(
    converting_registry, worker, samples_dir, model_name
):
    from registry.testing import tf_samples

    crashing = tf_samples.build_recursive_graphdef(samples_dir / "recursive")

    converting_registry.upload(model_name, crashing.path, output_nodes="y")
    version = wait_for_version(converting_registry, model_name, 1)

    assert version["status"] == "failed"
    assert "recursive" in version["status_detail"]
    assert all(job["attempts"] == 1 for job in version["jobs"])


def converter_pids(worker) -> list[int]:
    """The converter processes (TensorFlow) that a worker started, found by ancestry."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])

    def descends_from_worker(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == worker.process.pid:
                return True
        return False

    found = subprocess.run(
        ["pgrep", "-f", "registry.convert.server"], capture_output=True, text=True
    )
    return [int(pid) for pid in found.stdout.split() if descends_from_worker(int(pid))]


def kill_converters_until_done(registry, worker, model, ref, timeout=180) -> dict:
    """SIGKILL every converter the worker starts until the version is over."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in converter_pids(worker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        version = registry.version(model, ref)
        if version["status"] in ("ready", "failed"):
            return version
        time.sleep(0.1)
    raise AssertionError("version never finished")


def test_converter_crashing_every_time_fails_after_bounded_attempts_and_worker_lives_on(
    converting_registry, worker, samples, model_name, tmp_path
):
    sample, upload_path = upload_file_for("frozen", samples, tmp_path)
    # Parity inputs no earlier test used, so no stored result can be reused and a converter runs.
    fresh_inputs = example_inputs_file(sample, tmp_path, scale=float(time.time() % 97))

    converting_registry.upload(
        model_name, upload_path, example_inputs=fresh_inputs, **upload_fields(sample)
    )
    version = kill_converters_until_done(converting_registry, worker, model_name, 1)

    assert version["status"] == "failed"
    for job in version["jobs"]:
        assert job["status"] == "failed"
        attempts = converting_registry.settings.job_max_attempts
        assert job["attempts"] == attempts
        # Killed while starting or while converting: either way the message names the kill.
        assert job["error"].startswith(f"gave up after {attempts} attempts: the converter")
        assert "-9" in job["error"] or "signal 9" in job["error"], job["error"]
    assert worker.process.poll() is None
    converting_registry.upload(model_name, upload_path, **upload_fields(sample))
    assert wait_for_version(converting_registry, model_name, 2)["status"] == "ready"


def test_same_source_converted_again_reuses_the_stored_variants(
    converting_registry, worker, samples, model_name, tmp_path
):
    sample, upload_path = upload_file_for("frozen", samples, tmp_path)
    for _ in range(2):
        converting_registry.upload(model_name, upload_path, **upload_fields(sample))
    first = wait_for_version(converting_registry, model_name, 1)
    second = wait_for_version(converting_registry, model_name, 2)

    shas = {a["kind"]: a["sha256"] for a in first["artifacts"]}
    assert {a["kind"]: a["sha256"] for a in second["artifacts"]} == shas
    assert all("reused_from_job" in job["outcome"] for job in second["jobs"])


def test_rerun_requeues_conversions_and_keeps_one_artifact_per_kind(
    converting_registry, worker, samples, model_name, tmp_path
):
    sample, upload_path = upload_file_for("frozen", samples, tmp_path)
    converting_registry.upload(model_name, upload_path, **upload_fields(sample))
    wait_for_version(converting_registry, model_name, 1)

    response = converting_registry.http.post(
        converting_registry.api(f"/models/{model_name}/versions/1/conversions"),
        json={"targets": ["tflite", "tflite_fp16"]},
    )
    assert response.status_code == 202, response.text
    version = wait_for_version(converting_registry, model_name, 1)

    kinds = [a["kind"] for a in version["artifacts"]]
    assert sorted(kinds) == sorted(set(kinds))
    assert "tflite_fp16" in kinds
    assert len(version["jobs"]) == 4


def test_tflite_upload_is_described_not_converted(
    converting_registry, worker, samples, model_name, tmp_path
):
    converting_registry.upload(
        model_name, samples["frozen"].path, **upload_fields(samples["frozen"])
    )
    wait_for_version(converting_registry, model_name, 1)
    tflite = download(converting_registry, model_name, 1, "tflite", tmp_path / "m.tflite")

    converting_registry.upload(f"{model_name}-lite", tflite)
    version = wait_for_version(converting_registry, f"{model_name}-lite", 1)

    assert version["status"] == "ready"
    assert [a["kind"] for a in version["artifacts"]] == ["tflite"]
    assert version["signature"]["inputs"][0]["dtype"] == "float32"


def test_worker_killed_mid_job_has_its_job_run_again_to_ready(
    worker_settings, postgres_schema_url, lease_broker, samples, model_name, tmp_path
):
    # A registry of its own (schema and broker), so only the workers started here see its jobs.
    settings = worker_settings.with_changes(
        database_url=postgres_schema_url(), broker_url=lease_broker()
    )
    registry, stop_registry = start_live_registry(settings)
    doomed = WorkerProcess(settings, tmp_path / "doomed.log")
    sample, upload_path = upload_file_for("frozen", samples, tmp_path)
    registry.upload(model_name, upload_path, **upload_fields(sample))
    # The first job of a fresh worker spends seconds starting its converter: kill it then.
    wait_for_job_status(registry, model_name, 1, "running")
    doomed.kill()

    replacement = WorkerProcess(settings, tmp_path / "replacement.log")
    try:
        version = wait_for_version(registry, model_name, 1, timeout=120)
    finally:
        replacement.stop()
        stop_registry()

    assert version["status"] == "ready", version["status_detail"]
    assert max(job["attempts"] for job in version["jobs"]) >= 2
