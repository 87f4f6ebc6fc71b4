"""Alias promotion gated by parity: a failing version is refused unless forced, both audited."""

from __future__ import annotations

from registry.domain import jobs
from tests.factories import FAILED_PARITY, add_variant_failing_parity, stored_version
from tests.files import fake_tflite


def test_alias_move_to_a_version_that_failed_parity_is_refused_then_forced_and_both_audited(
    registry, model_name, tmp_path
):
    for number in (1, 2):
        registry.upload(model_name, fake_tflite(tmp_path / f"v{number}.tflite")).raise_for_status()
    add_variant_failing_parity(registry, model_name, 2)
    alias_url = registry.api(f"/models/{model_name}/aliases/production")
    assert registry.http.put(alias_url, json={"version": 1}).status_code == 200

    refused = registry.http.put(alias_url, json={"version": 2})
    still = registry.version(model_name, "production")["version"]
    forced = registry.http.put(alias_url, json={"version": 2, "force": True})

    assert refused.status_code == 409
    assert refused.headers["Content-Type"] == "application/problem+json"
    problem = refused.json()
    assert "tflite_int8 failed parity: outside tolerance: probs" in problem["detail"]
    assert '"force": true' in problem["detail"]
    [failure] = problem["failures"]
    assert failure["kind"] == "tflite_int8"
    assert failure["parity"]["outputs"]["probs"]["max_abs_diff"] == 0.31
    assert still == 1
    assert forced.status_code == 200, forced.text
    assert registry.version(model_name, "production")["version"] == 2
    logged = registry.audit_events(model=model_name, action="alias.*")
    assert [e["action"] for e in logged] == ["alias.set", "alias.refused", "alias.moved"]
    assert logged[1]["details"]["failures"] == problem["failures"]
    assert logged[2]["details"]["forced"] is True
    assert logged[2]["details"]["previous_version"] == 1
    assert (
        logged[2]["details"]["failures"][0]["parity"]["outputs"]["probs"]
        == (FAILED_PARITY["outputs"]["probs"])
    )
    assert all(e["actor"] == registry.token_name for e in logged)


def test_alias_to_a_version_whose_conversion_failed_is_refused_naming_the_error(
    registry, model_name, tmp_path
):
    registry.upload(model_name, fake_tflite(tmp_path / "m.tflite")).raise_for_status()
    with registry.services.sessions.begin() as session:
        [job] = stored_version(session, model_name, 1).jobs
        jobs.fail(session, job, "the converter was killed", retry=False, max_attempts=1)

    refused = registry.http.put(
        registry.api(f"/models/{model_name}/aliases/staging"), json={"version": 1}
    )

    assert refused.status_code == 409
    [failure] = refused.json()["failures"]
    assert failure["problem"] == "conversion failed"
    assert failure["error"] == "the converter was killed"
    assert registry.http.get(registry.api(f"/models/{model_name}")).json()["aliases"] == {}
