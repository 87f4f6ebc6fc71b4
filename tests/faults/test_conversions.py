"""Conversions while storage, the database or the broker goes away, or the worker's own
process dies: each job completes exactly once when the service is back, or fails saying why."""

from __future__ import annotations

import random
import time

from tests.faults.services import stopped
from tests.workers.conftest import wait_for_version
from tests.workers.uploads import example_inputs_file, upload_fields, upload_file_for


def upload_fresh(registry, model: str, samples, tmp_path) -> dict:
    """The frozen graph with parity inputs no other upload used: its conversions really run
    (nothing stored earlier can be reused)."""
    sample, path = upload_file_for("frozen", samples, tmp_path)
    inputs = example_inputs_file(sample, tmp_path, scale=random.uniform(1, 100))
    response = registry.upload(model, path, example_inputs=inputs, **upload_fields(sample))
    assert response.status_code == 202, response.text
    return response.json()


def wait_for_job(registry, model: str, ref, matches, timeout: float = 60) -> dict:
    """Poll the version until one of its jobs satisfies `matches(job)`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for job in registry.version(model, ref)["jobs"]:
            if matches(job):
                return job
        time.sleep(0.1)
    raise AssertionError(f"no job of {model}@{ref} came to that: {registry.version(model, ref)}")


def actions(registry, model: str) -> list[str]:
    return [event["action"] for event in registry.audit_events(model=model)]


def test_jobs_that_cannot_reach_storage_wait_for_it_and_then_complete(
    fault_stack, samples, model_name, tmp_path
):
    registry = fault_stack.registry
    upload_fresh(registry, model_name, samples, tmp_path)
    wait_for_job(registry, model_name, 1, lambda job: job["status"] == "running")

    with stopped(fault_stack.s3):
        deferred = wait_for_job(
            registry, model_name, 1, lambda job: "storage unavailable" in job["error"]
        )
        # Long enough for more than one retry to meet the outage.
        time.sleep(3)
    version = wait_for_version(registry, model_name, 1, timeout=90)

    assert deferred["error"].startswith("will retry at"), deferred
    assert version["status"] == "ready", (version, fault_stack.worker.log_tail())
    # Attempts that could not reach storage are not spent: each job converted once.
    assert [job["attempts"] for job in version["jobs"]] == [1, 1]
    assert actions(registry, model_name).count("job.deferred") >= 2
    kinds = [artifact["kind"] for artifact in version["artifacts"]]
    assert sorted(kinds) == sorted(set(kinds))
