"""A version settling is audited (`version.ready` / `version.failed`, what webhooks tell) once
per settling: not again when its status is merely recomputed, again after a re-run settles it."""

from __future__ import annotations

from registry.domain import jobs
from tests.factories import stored_version
from tests.files import fake_tflite


def settled_events(registry, model: str) -> list[str]:
    return [
        event["action"]
        for event in registry.audit_events(model=model)
        if event["action"] in ("version.ready", "version.failed")
    ]


def run_jobs(registry, model: str, *, succeed: bool) -> None:
    """Each queued job of version 1 claimed and ended as a worker would end it."""
    with registry.services.sessions.begin() as session:
        version = stored_version(session, model, 1)
        for job in [job for job in version.jobs if job.status == "queued"]:
            assert jobs.claim(session, job.id, "tests", lease_seconds=60)
            if succeed:
                jobs.finish(session, job, {"steps": []})
            else:
                jobs.fail(session, job, "made-up bytes", retry=False, max_attempts=1)


def test_a_version_is_audited_as_settled_once_per_settling(registry, model_name, tmp_path):
    registry.upload(model_name, fake_tflite(tmp_path / "m.tflite")).raise_for_status()

    run_jobs(registry, model_name, succeed=False)
    with registry.services.sessions.begin() as session:
        jobs.refresh_version_status(session, stored_version(session, model_name, 1))
    after_failing = settled_events(registry, model_name)
    rerun = registry.http.post(registry.api(f"/models/{model_name}/versions/1/conversions"))
    rerun.raise_for_status()
    run_jobs(registry, model_name, succeed=True)

    assert after_failing == ["version.failed"]
    assert settled_events(registry, model_name) == ["version.failed", "version.ready"]
    [ready] = [e for e in registry.audit_events(model=model_name) if e["action"] == "version.ready"]
    assert ready["details"]["version"] == 1
    assert ready["actor"] == registry.token_name
