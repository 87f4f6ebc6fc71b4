"""Signature compatibility between versions: the compare answer, what each version records
at upload, and the gate on alias moves (refused when breaking, until forced; both audited)."""

from __future__ import annotations

from tests.factories import (
    IMAGE_ONLY,
    TWO_INPUTS,
    WITH_EXTRA_OUTPUT,
    describe_version,
    endpoint,
    upload_described,
)
from tests.files import fake_tflite


def test_version_dropping_an_input_is_refused_as_alias_target_naming_it_until_forced(
    registry, model_name, tmp_path
):
    upload_described(registry, model_name, tmp_path, TWO_INPUTS, IMAGE_ONLY)
    alias_url = registry.api(f"/models/{model_name}/aliases/production")
    registry.http.put(alias_url, json={"version": 1}).raise_for_status()

    refused = registry.http.put(alias_url, json={"version": 2})
    still = registry.version(model_name, "production")["version"]
    forced = registry.http.put(alias_url, json={"version": 2, "force": True})

    assert refused.status_code == 409
    assert refused.headers["Content-Type"] == "application/problem+json"
    problem = refused.json()
    assert problem["title"] == "Version breaks the alias's clients"
    assert "input 'mask' removed" in problem["detail"]
    assert '"force": true' in problem["detail"]
    assert [(c["change"], c["name"], c["verdict"]) for c in problem["breaking"]] == [
        ("removed", "mask", "breaking")
    ]
    assert problem["failures"] == []
    assert still == 1
    assert forced.status_code == 200, forced.text
    assert registry.version(model_name, "production")["version"] == 2
    logged = registry.audit_events(model=model_name, action="alias.*")
    assert [e["action"] for e in logged] == ["alias.set", "alias.refused", "alias.moved"]
    assert logged[1]["details"]["breaking"] == problem["breaking"]
    assert logged[2]["details"]["forced"] is True
    assert logged[2]["details"]["breaking"][0]["reason"] == "input 'mask' removed"
    assert logged[2]["details"]["signature"] == {"verdict": "breaking", "breaking": 1, "changes": 1}


def test_version_adding_an_output_is_compatible_and_the_alias_moves(registry, model_name, tmp_path):
    upload_described(registry, model_name, tmp_path, TWO_INPUTS, WITH_EXTRA_OUTPUT)
    alias_url = registry.api(f"/models/{model_name}/aliases/production")
    registry.http.put(alias_url, json={"version": 1}).raise_for_status()

    moved = registry.http.put(alias_url, json={"version": 2})
    compared = registry.http.get(
        registry.api(f"/models/{model_name}/versions/1/compare"), params={"with": "production"}
    )

    assert moved.status_code == 200, moved.text
    assert compared.status_code == 200
    assert compared.json()["verdict"] == "compatible"
    [added] = compared.json()["changes"]
    assert (added["side"], added["name"], added["change"]) == ("outputs", "label", "added")
    assert added["reason"] == "output 'label' added"
    [event] = registry.audit_events(model=model_name, action="alias.moved")
    assert "forced" not in event["details"]
    assert event["details"]["signature"]["verdict"] == "compatible"


def test_compare_answers_the_verdict_and_each_change_with_its_reason(
    registry, model_name, tmp_path
):
    upload_described(registry, model_name, tmp_path, TWO_INPUTS, IMAGE_ONLY)

    answer = registry.http.get(
        registry.api(f"/models/{model_name}/versions/1/compare"), params={"with": "latest"}
    )
    backwards = registry.http.get(
        registry.api(f"/models/{model_name}/versions/2/compare"), params={"with": "1"}
    )

    assert answer.status_code == 200
    comparison = answer.json()
    assert (comparison["model"], comparison["version"], comparison["with_version"]) == (
        model_name,
        1,
        2,
    )
    assert (comparison["verdict"], comparison["breaking"]) == ("breaking", 1)
    [removed] = comparison["changes"]
    assert removed["before"] == endpoint("mask") and removed["after"] is None
    # The other way round, the clients of version 2 do not send `mask`, which 1 requires.
    assert backwards.json()["changes"][0]["reason"].startswith("input 'mask' added")
    assert backwards.json()["verdict"] == "breaking"


def test_compare_before_a_signature_is_known_is_a_conflict_and_without_with_invalid(
    registry, model_name, tmp_path
):
    upload_described(registry, model_name, tmp_path, TWO_INPUTS)
    registry.upload(model_name, fake_tflite(tmp_path / "v2.tflite")).raise_for_status()
    compare = registry.api(f"/models/{model_name}/versions/1/compare")

    unknown = registry.http.get(compare, params={"with": "2"})
    missing = registry.http.get(compare)

    assert unknown.status_code == 409
    assert (
        "version 2" in unknown.json()["detail"] and "no signature yet" in unknown.json()["detail"]
    )
    assert missing.status_code == 422
    assert "with" in missing.json()["detail"]


def test_each_version_records_its_comparison_with_the_previous_and_the_aliased_versions(
    registry, model_name, tmp_path
):
    upload_described(registry, model_name, tmp_path, TWO_INPUTS, WITH_EXTRA_OUTPUT)
    alias_url = registry.api(f"/models/{model_name}/aliases/production")
    registry.http.put(alias_url, json={"version": 1}).raise_for_status()
    registry.upload(model_name, fake_tflite(tmp_path / "v3.tflite")).raise_for_status()

    pending = registry.version(model_name, 3)["compatibility"]
    describe_version(registry, model_name, 3, IMAGE_ONLY)
    settled = registry.version(model_name, 3)["compatibility"]

    assert registry.version(model_name, 1)["compatibility"] == []
    assert registry.version(model_name, 2)["compatibility"] == [
        {
            "version": 1,
            "previous": True,
            "aliases": [],
            "verdict": "compatible",
            "breaking": 0,
            "changes": 1,
        }
    ]
    assert [(e["version"], e["verdict"]) for e in pending] == [(2, "pending"), (1, "pending")]
    assert settled == [
        {
            "version": 2,
            "previous": True,
            "aliases": [],
            "verdict": "breaking",
            "breaking": 2,
            "changes": 2,
        },
        {
            "version": 1,
            "previous": False,
            "aliases": ["production"],
            "verdict": "breaking",
            "breaking": 1,
            "changes": 1,
        },
    ]


def test_a_verdict_waiting_on_an_earlier_version_is_filled_in_when_that_one_is_described(
    registry, model_name, tmp_path
):
    for number in (1, 2):
        registry.upload(model_name, fake_tflite(tmp_path / f"v{number}.tflite")).raise_for_status()
    describe_version(registry, model_name, 2, IMAGE_ONLY)
    waiting = registry.version(model_name, 2)["compatibility"][0]["verdict"]

    describe_version(registry, model_name, 1, TWO_INPUTS)

    assert waiting == "pending"
    [settled] = registry.version(model_name, 2)["compatibility"]
    assert (settled["version"], settled["verdict"], settled["breaking"]) == (1, "breaking", 1)
