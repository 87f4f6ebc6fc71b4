"""Conversions while storage, the database or the broker goes away, or the worker's own
process dies: each job completes exactly once when the service is back, or fails saying why."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

from tests.faults.services import full_disk, stopped
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


def paused_mid_job(registry, worker, model: str, samples, tmp_path) -> dict:
    """Upload a fresh version and pause the worker (SIGSTOP to its process group) while one of
    the version's jobs is running: a job converts in well under a second, so without the
    pause it could end before a fault begins. The caller resumes it (`resume`)."""
    upload_fresh(registry, model, samples, tmp_path)
    while True:
        job = wait_for_job(registry, model, 1, lambda job: job["status"] == "running")
        os.killpg(worker.process.pid, signal.SIGSTOP)
        jobs = {each["id"]: each["status"] for each in registry.version(model, 1)["jobs"]}
        if jobs[job["id"]] == "running":
            return job
        resume(worker)  # it ended between the look and the pause: catch the next one


def resume(worker) -> None:
    os.killpg(worker.process.pid, signal.SIGCONT)


def assert_one_artifact_per_kind(version: dict) -> None:
    kinds = [artifact["kind"] for artifact in version["artifacts"]]
    assert sorted(kinds) == sorted(set(kinds)), kinds


def audit_events(registry, model: str, action: str) -> list[dict]:
    """The model's events of `action`, those of its profile jobs left out."""
    return [
        event
        for event in registry.audit_events(model=model)
        if event["action"] == action and event["details"].get("target") != "profile"
    ]


def test_jobs_that_cannot_reach_storage_wait_for_it_and_then_complete(
    fault_stack, samples, model_name, tmp_path
):
    registry = fault_stack.registry
    paused_mid_job(registry, fault_stack.worker, model_name, samples, tmp_path)

    with stopped(fault_stack.s3):
        resume(fault_stack.worker)
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
    assert len(audit_events(registry, model_name, "job.deferred")) >= 2
    assert_one_artifact_per_kind(version)


def test_jobs_that_cannot_reach_storage_for_the_whole_window_fail_saying_so(
    fault_stack, samples, model_name, tmp_path
):
    registry = fault_stack.registry
    window = fault_stack.settings.job_retry_window_seconds
    paused_mid_job(registry, fault_stack.worker, model_name, samples, tmp_path)

    with stopped(fault_stack.s3):
        resume(fault_stack.worker)
        version = wait_for_version(registry, model_name, 1, timeout=window * 3)

    assert version["status"] == "failed"
    # The paused job may have stored its variant before storage went: it succeeds. Every job
    # that needed storage during the outage gave up saying so.
    failed = [job for job in version["jobs"] if job["status"] != "succeeded"]
    assert failed
    for job in failed:
        assert job["error"].startswith("gave up after retrying for"), job
        assert f"REGISTRY_JOB_RETRY_WINDOW_SECONDS={window}" in job["error"]
        assert "storage unavailable" in job["error"]


def test_job_whose_database_stops_mid_conversion_completes_as_soon_as_it_is_back(
    fault_stack, samples, model_name, tmp_path
):
    registry = fault_stack.registry
    paused_mid_job(registry, fault_stack.worker, model_name, samples, tmp_path)

    with stopped(fault_stack.postgres):
        # A request meanwhile is answered, and says why; the conversion ends meanwhile too.
        resume(fault_stack.worker)
        during = registry.http.get(registry.api(f"/models/{model_name}/versions/1"))
        time.sleep(6)
    back = time.monotonic()
    # The same API process answers again (wait_for_version reads through it), no restart.
    version = wait_for_version(registry, model_name, 1, timeout=60)

    assert during.status_code == 503, during.text
    assert during.json()["title"] == "Database unavailable"
    assert during.headers["Retry-After"]
    assert version["status"] == "ready", (version, fault_stack.worker.log_tail())
    # Ended when the database came back, not when the lease ran out. Where the attempt stood
    # when it went decides how: a step that needed it is deferred (and says why), a finish
    # waits for it and records the job.
    assert time.monotonic() - back < fault_stack.settings.job_lease_seconds / 2
    deferred = audit_events(registry, model_name, "job.deferred")
    assert all("database unavailable" in event["details"]["error"] for event in deferred)
    assert_one_artifact_per_kind(version)


def pool_processes(worker) -> list[int]:
    """The worker's prefork pool processes: the children of its main process."""
    pid = worker.process.pid
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_job_of_a_killed_pool_process_runs_again_well_before_its_lease_ends(
    fault_stack, samples, model_name, tmp_path
):
    registry, worker = fault_stack.registry, fault_stack.worker
    running = paused_mid_job(registry, worker, model_name, samples, tmp_path)

    for pid in pool_processes(worker):
        os.kill(pid, signal.SIGKILL)
    resume(worker)
    killed = time.monotonic()
    version = wait_for_version(registry, model_name, 1, timeout=60)

    assert version["status"] == "ready", (version, worker.log_tail())
    assert time.monotonic() - killed < fault_stack.settings.job_lease_seconds / 2
    rerun = next(job for job in version["jobs"] if job["id"] == running["id"])
    assert rerun["attempts"] == 2
    died = audit_events(registry, model_name, "job.failed")
    assert "the worker process running it died" in died[0]["details"]["error"]
    assert worker.process.poll() is None


def test_upload_while_the_broker_is_down_is_accepted_and_converted_once_when_it_is_back(
    fault_stack, samples, model_name, tmp_path
):
    registry = fault_stack.registry
    with stopped(fault_stack.redis):
        started = time.monotonic()
        accepted = upload_fresh(registry, model_name, samples, tmp_path)
        answered_in = time.monotonic() - started
    version = wait_for_version(registry, model_name, 1, timeout=60)

    assert answered_in < 10
    assert {job["status"] for job in accepted["jobs"]} == {"queued"}
    assert version["status"] == "ready", (version, fault_stack.worker.log_tail())
    assert [job["attempts"] for job in version["jobs"]] == [1, 1]
    assert len(audit_events(registry, model_name, "job.started")) == len(version["jobs"])
    assert_one_artifact_per_kind(version)


def test_full_scratch_disk_fails_the_job_naming_it_and_leaves_nothing_half_written(
    fault_stack, samples, model_name, tmp_path
):
    registry = fault_stack.registry
    work_dir = fault_stack.settings.work_dir
    with full_disk(work_dir):
        upload_fresh(registry, model_name, samples, tmp_path)
        version = wait_for_version(registry, model_name, 1, timeout=60)
        left_in_scratch = sorted(path.name for path in work_dir.iterdir())

    assert version["status"] == "failed"
    attempts = fault_stack.settings.job_max_attempts
    for job in version["jobs"]:
        assert job["attempts"] == attempts
        assert f"the worker's scratch space {work_dir} is full" in job["error"], job
    assert left_in_scratch == [".filler"]
    assert {artifact["job_id"] for artifact in version["artifacts"]} == {None}
