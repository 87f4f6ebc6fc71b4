"""Access tokens: who may read, write and administer, and what a refused caller is told."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import requests

from registry.db.models import utcnow
from tests.conftest import bearer_session, sibling_registry
from tests.files import fake_tflite


def token_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def assert_problem(response: requests.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    assert words in body["detail"], body["detail"]


@pytest.fixture
def uploaded(registry, model_name, tmp_path) -> str:
    registry.upload(model_name, fake_tflite(tmp_path / "m.tflite")).raise_for_status()
    return model_name


def test_request_without_a_token_is_401_problem_naming_the_header(registry, uploaded):
    read = requests.get(registry.api(f"/models/{uploaded}"))
    write = requests.post(registry.api("/models"), json={"name": "nobody-creates-this"})

    assert_problem(read, 401, "Authorization: Bearer")
    assert_problem(write, 401, "Authorization: Bearer")
    assert read.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_the_registry_never_issued_is_401(registry):
    stranger = bearer_session("tfr_" + "x" * 43)

    assert_problem(stranger.get(registry.api("/models")), 401, "not one this registry issued")


def test_read_token_reads_but_writing_is_403(registry, uploaded, tmp_path):
    name = token_name()
    reader = bearer_session(registry.issue_token(name, "read"))

    assert reader.get(registry.api(f"/models/{uploaded}/versions/1")).status_code == 200
    with fake_tflite(tmp_path / "w.tflite").open("rb") as stream:
        upload = reader.post(
            registry.api(f"/models/{uploaded}/versions"), files={"file": ("w.tflite", stream)}
        )
    assert_problem(upload, 403, f"token '{name}' has scope 'read'; this needs 'write'")
    assert (
        len(registry.http.get(registry.api(f"/models/{uploaded}/versions")).json()["versions"]) == 1
    )


def test_write_token_cannot_move_aliases_or_issue_tokens(registry, uploaded):
    writer = bearer_session(registry.issue_token(token_name(), "write"))

    alias = writer.put(registry.api(f"/models/{uploaded}/aliases/production"), json={"version": 1})
    issue = writer.post(registry.api("/tokens"), json={"name": token_name(), "scope": "admin"})

    assert_problem(alias, 403, "this needs 'admin'")
    assert_problem(issue, 403, "this needs 'admin'")


def test_revoked_token_is_401(registry):
    name = token_name()
    holder = bearer_session(registry.issue_token(name, "write"))
    assert holder.get(registry.api("/models")).status_code == 200

    revoked = registry.http.delete(registry.api(f"/tokens/{name}"))

    assert revoked.status_code == 204
    assert_problem(holder.get(registry.api("/models")), 401, "was revoked")


def test_expired_token_is_401(registry):
    name = token_name()
    expired = bearer_session(registry.issue_token(name, "admin", utcnow() - timedelta(seconds=1)))

    assert_problem(expired.get(registry.api("/models")), 401, f"token '{name}' expired at")


def test_admin_issues_a_token_whose_secret_is_shown_once_and_never_listed(registry):
    name = token_name()

    issued = registry.http.post(
        registry.api("/tokens"), json={"name": name, "scope": "write", "expires": "30d"}
    )
    listed = registry.http.get(registry.api("/tokens")).json()["tokens"]

    assert issued.status_code == 201, issued.text
    secret = issued.json()["token"]
    assert issued.json()["expires_at"] and issued.json()["scope"] == "write"
    assert bearer_session(secret).get(registry.api("/models")).status_code == 200
    mine = next(t for t in listed if t["name"] == name)
    assert mine["status"] == "active" and secret not in str(listed)
    again = registry.http.post(registry.api("/tokens"), json={"name": name, "scope": "read"})
    assert_problem(again, 409, "names are never reused")


def test_anonymous_read_opens_reads_but_not_writes(registry, uploaded):
    with sibling_registry(registry, anonymous_read=True) as open_registry:
        read = requests.get(open_registry.api(f"/models/{uploaded}/versions/1/artifacts/tflite"))
        write = requests.post(open_registry.api("/models"), json={"name": token_name()})

    assert read.status_code == 200
    assert_problem(write, 401, "Authorization: Bearer")


def test_health_answers_without_a_token(registry):
    assert requests.get(f"{registry.url}/healthz").status_code == 200


def test_uploaded_file_name_never_reaches_a_client_as_a_path(registry, model_name, tmp_path):
    model_file = fake_tflite(tmp_path / "m.tflite")
    with model_file.open("rb") as stream:
        response = registry.http.post(
            registry.api(f"/models/{model_name}/versions"),
            files={"file": ('../../.ssh/"evil".tflite', stream)},
        )
    assert response.status_code == 202, response.text

    download = registry.http.get(registry.api(f"/models/{model_name}/versions/1/artifacts/tflite"))

    assert response.json()["source_filename"] == "_evil_.tflite"
    disposition = download.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="{model_name}-v1-_evil_.tflite"'
