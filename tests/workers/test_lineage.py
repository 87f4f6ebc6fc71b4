"""Lineage, reverse lookup and the audit chain on real workers, PostgreSQL, S3 and Redis.

The uploads repeat the conversion tests' ones byte for byte, so the workers reuse the stored
variants (recording the conversion that made them) and these tests stay quick after those.
"""

from __future__ import annotations

import hashlib
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from tests.cli.invoke import registry_cli
from tests.workers.conftest import WorkerProcess, download, wait_for_version
from tests.workers.uploads import EXPECTED_TARGETS, upload_fields, upload_file_for

# The converter's first step for each source kind.
LOAD_STEP = {
    "checkpoint": "restore",
    "keras": "load-keras",
    "savedmodel": "load-savedmodel",
    "frozen_pb": "load-graph",
}


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def upload_sample(registry, model: str, sample_name: str, samples, tmp_path) -> dict:
    sample, upload_path = upload_file_for(sample_name, samples, tmp_path)
    fields = upload_fields(sample)
    if "tflite_int8" in EXPECTED_TARGETS[sample_name]:
        fields["targets"] = "tflite_fp16,tflite_int8"
    registry.upload(model, upload_path, **fields).raise_for_status()
    return sample


@pytest.mark.parametrize("sample_name", sorted(EXPECTED_TARGETS))
def test_lineage_of_each_upload_kind_matches_the_conversions_that_ran(
    converting_registry, worker, samples, model_name, tmp_path, sample_name
):
    sample = upload_sample(converting_registry, model_name, sample_name, samples, tmp_path)
    version = wait_for_version(converting_registry, model_name, 1)
    lineage_url = converting_registry.api(f"/models/{model_name}/versions/1/lineage")

    graph = converting_registry.http.get(lineage_url).json()
    dot = converting_registry.http.get(lineage_url, params={"format": "dot"}).text

    assert version["status"] == "ready", version["status_detail"]
    source, targets = version["source_kind"], EXPECTED_TARGETS[sample_name]
    jobs = {job["id"]: job for job in version["jobs"]}
    artifacts = {a["kind"]: a for a in version["artifacts"]}
    assert {node["kind"] for node in graph["nodes"]} == {source, *targets}
    assert sorted((e["from"], e["to"]) for e in graph["edges"]) == sorted(
        (source, target) for target in targets
    )
    for edge in graph["edges"]:
        job = jobs[edge["job_id"]]
        assert (job["target"], job["status"]) == (edge["to"], "succeeded")
        assert edge["steps"] == job["outcome"]["steps"]
        assert edge["steps"][0] == LOAD_STEP[source]
        if edge["to"].startswith("tflite"):
            assert "tflite-convert" in edge["steps"]
            assert edge["options"]["quantization"] == artifacts[edge["to"]]["facts"]["quantization"]
        assert edge["options"].items() >= job["outcome"]["options_used"].items()
        for key, value in sample.options.items():
            assert edge["options"][key] == value
        assert {"tensorflow", "registry", "python"} <= set(edge["converter_versions"])
        assert edge["task_id"] and edge["task_id"] == job["outcome"]["task_id"]
        assert edge["worker_host"] == socket.gethostname()
        assert instant(edge["started_at"]) == instant(job["started_at"])
        assert instant(edge["finished_at"]) == instant(job["finished_at"])
        assert edge["parity"] == artifacts[edge["to"]]["parity"]
        assert edge["parity_passed"] is True
        assert edge["actor"] == converting_registry.token_name
        assert f'"{source}" -> "{edge["to"]}"' in dot


def test_reverse_lookup_from_a_downloaded_tflite_finds_its_checkpoint(
    converting_registry, worker, samples, model_name, tmp_path
):
    upload_sample(converting_registry, model_name, "checkpoint", samples, tmp_path)
    uploaded = hashlib.sha256((tmp_path / "checkpoint.tar.gz").read_bytes()).hexdigest()
    wait_for_version(converting_registry, model_name, 1)
    tflite = download(converting_registry, model_name, 1, "tflite", tmp_path / "model.tflite")

    whence = registry_cli(converting_registry, "whence", str(tflite), "--json")
    printed = registry_cli(converting_registry, "whence", str(tflite))

    assert whence.exit_code == 0, whence.output
    holders = {(h["model"], h["version"]): h for h in json.loads(whence.output)["holders"]}
    mine = holders[(model_name, 1)]
    assert mine["kind"] == "tflite"
    variant, upload = mine["ancestry"]
    assert variant["artifact"]["sha256"] == hashlib.sha256(tflite.read_bytes()).hexdigest()
    assert variant["derived_by"]["from"] == "checkpoint"
    assert variant["derived_by"]["steps"][0] == "restore"
    assert (upload["artifact"]["kind"], upload["artifact"]["sha256"]) == ("checkpoint", uploaded)
    assert upload["derived_by"] is None
    assert mine["uploaded_by"] == converting_registry.token_name
    assert f"{model_name}@1  tflite  ready" in printed.output
    assert "derived from checkpoint: job" in printed.output


def test_lineage_command_prints_the_tree_from_the_upload(
    converting_registry, worker, samples, model_name, tmp_path
):
    upload_sample(converting_registry, model_name, "frozen", samples, tmp_path)
    wait_for_version(converting_registry, model_name, 1)

    printed = registry_cli(converting_registry, "lineage", f"{model_name}@1")

    assert printed.exit_code == 0, printed.output
    lines = printed.output.splitlines()
    assert lines[0].startswith(
        f"{model_name}@1  ready  uploaded by {converting_registry.token_name}"
    )
    assert lines[1].startswith("frozen_pb  ")
    assert [line.split()[1] for line in lines if line.startswith(("├─", "└─"))] == [
        "savedmodel",
        "tflite",
    ]
    assert "parity passed" in printed.output and "load-graph" in printed.output


def test_audit_chain_stays_one_valid_chain_under_concurrent_uploads_and_conversions(
    converting_registry, worker, worker_settings, samples, model_name, tmp_path
):
    registry = converting_registry
    sample, upload_path = upload_file_for("frozen", samples, tmp_path)
    registry.upload(model_name, upload_path, **upload_fields(sample)).raise_for_status()
    second_worker = WorkerProcess(worker_settings, tmp_path / "second-worker.log")
    alias_url = registry.api(f"/models/{model_name}/aliases/candidate")

    def upload() -> int:
        response = registry.upload(model_name, upload_path, **upload_fields(sample))
        assert response.status_code == 202, response.text
        return response.json()["version"]

    def move_alias() -> int:
        return registry.http.put(alias_url, json={"version": 1}).status_code

    try:
        second_worker.wait_ready()
        # Uploads, alias moves and two workers' job transactions all append at once.
        with ThreadPoolExecutor(max_workers=16) as pool:
            uploads = [pool.submit(upload) for _ in range(10)]
            alias_moves = [pool.submit(move_alias) for _ in range(6)]
            numbers = [future.result() for future in uploads]
            moves = [future.result() for future in alias_moves]
        versions = [wait_for_version(registry, model_name, n) for n in [1, *numbers]]
    finally:
        second_worker.stop()

    verdict = registry.http.get(registry.api("/audit/verify")).json()
    printed = registry_cli(registry, "audit", "verify")
    logged = registry.audit_events(model=model_name)

    assert all(v["status"] == "ready" for v in versions)
    assert moves == [200] * 6
    assert verdict["ok"] is True, verdict
    assert printed.exit_code == 0 and "audit chain ok" in printed.output
    all_seqs = [e["seq"] for e in registry.audit_events()]
    assert all_seqs == list(range(1, len(all_seqs) + 1))
    for version in versions:
        for job in version["jobs"]:
            subject = f"model/{model_name}/version/{version['version']}/job/{job['id']}"
            actions = [e["action"] for e in logged if e["subject"] == subject]
            assert actions == ["job.queued", "job.started", "artifact.recorded", "job.succeeded"]
    assert {e["actor"] for e in logged} == {registry.token_name}
    aliases = [e["action"] for e in logged if e["action"].startswith("alias.")]
    assert aliases == ["alias.set"] + ["alias.moved"] * 5
    assert len({job["outcome"]["worker"] for v in versions for job in v["jobs"]}) == 2
