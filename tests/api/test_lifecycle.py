"""Deleting versions and models: admin only, refused while aliased, kept on record, gone (410)."""

from __future__ import annotations

import hashlib
import uuid

from tests.conftest import bearer_session
from tests.files import fake_tflite


def upload_versions(registry, model: str, tmp_path, count: int) -> list[str]:
    """Upload `count` versions of distinct bytes; their sha256s, oldest first."""
    digests = []
    for number in range(1, count + 1):
        path = fake_tflite(tmp_path / f"{model}-v{number}.tflite")
        registry.upload(model, path).raise_for_status()
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    return digests


def test_deleted_version_leaves_lists_and_latest_and_answers_410_naming_who(
    registry, model_name, tmp_path
):
    upload_versions(registry, model_name, tmp_path, 2)
    http, versions = registry.http, registry.api(f"/models/{model_name}/versions")

    deleted = http.delete(f"{versions}/latest")
    direct = http.get(f"{versions}/2")
    download = http.get(f"{versions}/2/artifacts/tflite")

    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["versions"] == [2]
    assert deleted.json()["deleted_by"] == registry.token_name
    assert deleted.json()["model_deleted"] is False
    assert [v["version"] for v in http.get(versions).json()["versions"]] == [1]
    assert registry.version(model_name, "latest")["version"] == 1
    assert http.get(registry.api(f"/models/{model_name}")).json()["latest_version"] == 1
    for gone in (direct, download):
        assert gone.status_code == 410
        assert gone.headers["Content-Type"] == "application/problem+json"
        assert gone.json()["deleted_by"] == registry.token_name
        assert gone.json()["deleted_at"] == deleted.json()["deleted_at"]
    [event] = registry.audit_events(model=model_name, action="version.deleted")
    assert event["actor"] == registry.token_name
    assert event["subject"] == f"model/{model_name}/version/2"
    assert set(event["details"]["artifacts"]) == {"tflite"}


def test_a_deleted_versions_number_is_never_given_again(registry, model_name, tmp_path):
    upload_versions(registry, model_name, tmp_path, 2)
    registry.http.delete(registry.api(f"/models/{model_name}/versions/2")).raise_for_status()

    again = registry.upload(model_name, fake_tflite(tmp_path / "again.tflite"))

    assert again.json()["version"] == 3
    assert registry.version(model_name, "latest")["version"] == 3


def test_deleting_an_aliased_version_is_refused_naming_the_aliases(registry, model_name, tmp_path):
    upload_versions(registry, model_name, tmp_path, 1)
    aliases = registry.api(f"/models/{model_name}/aliases")
    for alias in ("production", "staging"):
        registry.http.put(f"{aliases}/{alias}", json={"version": 1}).raise_for_status()
    version = registry.api(f"/models/{model_name}/versions/1")

    refused = registry.http.delete(version)
    still = registry.http.get(version)
    for alias in ("production", "staging"):
        registry.http.delete(f"{aliases}/{alias}").raise_for_status()
    then = registry.http.delete(version)

    assert refused.status_code == 409
    assert refused.json()["aliases"] == {"production": 1, "staging": 1}
    assert "production -> 1, staging -> 1" in refused.json()["detail"]
    assert still.status_code == 200
    assert then.status_code == 200


def test_deleted_model_answers_410_everywhere_and_its_name_is_not_reused(
    registry, model_name, tmp_path
):
    upload_versions(registry, model_name, tmp_path, 2)
    http, model = registry.http, registry.api(f"/models/{model_name}")
    http.put(f"{model}/aliases/production", json={"version": 2}).raise_for_status()

    refused = http.delete(model)
    http.delete(f"{model}/aliases/production").raise_for_status()
    deleted = http.delete(model)
    answers = [
        http.get(model),
        http.get(f"{model}/versions"),
        http.get(f"{model}/versions/1"),
        http.get(f"{model}/versions/1/lineage"),
        registry.upload(model_name, fake_tflite(tmp_path / "late.tflite")),
        http.delete(model),
    ]
    recreated = http.post(registry.api("/models"), json={"name": model_name})
    listed = http.get(registry.api("/models"), params={"q": model_name}).json()["models"]

    assert refused.status_code == 409 and refused.json()["aliases"] == {"production": 2}
    assert deleted.status_code == 200
    assert deleted.json()["model_deleted"] is True and deleted.json()["versions"] == [1, 2]
    assert [a.status_code for a in answers] == [410] * len(answers)
    assert {a.json()["title"] for a in answers} == {"Model deleted"}
    assert recreated.status_code == 409 and "not reused" in recreated.json()["detail"]
    assert listed == []
    [event] = registry.audit_events(model=model_name, action="model.deleted")
    assert (event["actor"], event["details"]["versions"]) == (registry.token_name, [1, 2])


def test_deleted_bytes_are_still_traced_to_their_deleted_version(registry, model_name, tmp_path):
    [sha256] = upload_versions(registry, model_name, tmp_path, 1)
    registry.http.delete(registry.api(f"/models/{model_name}/versions/1")).raise_for_status()

    [holder] = registry.http.get(registry.api(f"/artifacts/{sha256}")).json()["holders"]

    assert (holder["model"], holder["version"], holder["status"]) == (model_name, 1, "deleted")


def test_deleting_needs_an_admin_token(registry, model_name, tmp_path):
    upload_versions(registry, model_name, tmp_path, 1)
    writer = bearer_session(registry.issue_token(f"writer-{uuid.uuid4().hex[:8]}", "write"))

    answers = [
        writer.delete(registry.api(f"/models/{model_name}/versions/1")),
        writer.delete(registry.api(f"/models/{model_name}")),
    ]

    assert [a.status_code for a in answers] == [403, 403]
    assert registry.version(model_name, 1)["version"] == 1
