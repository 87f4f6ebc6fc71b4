"""Reading models, versions and artifact bytes back: refs, ranges, caching, errors."""

from __future__ import annotations

import hashlib

import pytest
import requests

from tests.files import fake_tflite


@pytest.fixture
def uploaded(registry, model_name, tmp_path):
    """A model with one version whose tflite bytes are known."""
    model_file = fake_tflite(tmp_path / "model.tflite", size=1024**2 + 123)
    registry.upload(model_name, model_file).raise_for_status()
    return model_file.read_bytes()


def artifact_url(registry, model, ref="1", kind="tflite"):
    return registry.api(f"/models/{model}/versions/{ref}/artifacts/{kind}")


def test_range_request_returns_206_with_exactly_those_bytes(registry, model_name, uploaded):
    response = registry.http.get(
        artifact_url(registry, model_name), headers={"Range": "bytes=100-4195"}
    )

    assert response.status_code == 206
    assert response.content == uploaded[100:4196]
    assert response.headers["Content-Range"] == f"bytes 100-4195/{len(uploaded)}"


def test_suffix_range_returns_the_last_bytes(registry, model_name, uploaded):
    response = registry.http.get(artifact_url(registry, model_name), headers={"Range": "bytes=-10"})

    assert response.status_code == 206
    assert response.content == uploaded[-10:]


def test_range_past_the_end_is_416(registry, model_name, uploaded):
    response = registry.http.get(
        artifact_url(registry, model_name), headers={"Range": f"bytes={len(uploaded)}-"}
    )

    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(uploaded)}"


def test_if_none_match_with_the_etag_answers_304_without_a_body(registry, model_name, uploaded):
    etag = f'"{hashlib.sha256(uploaded).hexdigest()}"'

    response = registry.http.get(
        artifact_url(registry, model_name), headers={"If-None-Match": etag}
    )

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == etag


def test_range_past_the_end_is_a_problem_giving_the_size(registry, model_name, uploaded):
    response = registry.http.get(
        artifact_url(registry, model_name),
        headers={"Range": f"bytes={len(uploaded) + 5}-{len(uploaded) + 10}"},
    )

    assert response.status_code == 416
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Content-Range"] == f"bytes */{len(uploaded)}"


@pytest.mark.parametrize(
    "asked",
    ["bytes=-{longer}", "items=0-9", "bytes=0-9,20-29", "bytes=nine-ten"],
    ids=["suffix-longer-than-file", "unknown-unit", "two-ranges", "malformed"],
)
def test_ranges_not_served_as_asked_send_the_whole_file(registry, model_name, uploaded, asked):
    response = registry.http.get(
        artifact_url(registry, model_name),
        headers={"Range": asked.format(longer=len(uploaded) + 1)},
    )

    assert response.status_code == 200
    assert response.content == uploaded


def test_if_none_match_with_the_etag_answers_304_even_with_a_range(registry, model_name, uploaded):
    etag = f'"{hashlib.sha256(uploaded).hexdigest()}"'

    response = registry.http.get(
        artifact_url(registry, model_name), headers={"If-None-Match": etag, "Range": "bytes=0-9"}
    )

    assert response.status_code == 304
    assert response.content == b""


def test_if_none_match_with_another_etag_sends_the_bytes(registry, model_name, uploaded):
    response = registry.http.get(
        artifact_url(registry, model_name), headers={"If-None-Match": '"something-else"'}
    )

    assert response.status_code == 200
    assert response.content == uploaded


def test_corrupted_stored_bytes_are_never_served_whole(registry, model_name, uploaded):
    version = registry.version(model_name, 1)
    artifact = version["artifacts"][0]
    with registry.services.sessions.begin() as session:
        from registry.db.models import Artifact

        row = session.query(Artifact).filter_by(sha256=artifact["sha256"]).first()
        row.sha256 = "0" * 64  # what the database believes no longer matches the bytes

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        registry.http.get(artifact_url(registry, model_name))


@pytest.mark.parametrize(
    "path, status, words",
    [
        ("/models/no-such-model", 404, "no model named"),
        ("/models/no-such-model/versions/1", 404, "no model named"),
    ],
)
def test_unknown_things_are_404_problems(registry, path, status, words):
    response = registry.http.get(registry.api(path))

    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert words in body["detail"]
    assert body["status"] == status and body["type"] and body["title"]


def test_unknown_version_and_kind_name_what_exists(registry, model_name, uploaded):
    missing_version = registry.http.get(registry.api(f"/models/{model_name}/versions/7"))
    missing_kind = registry.http.get(artifact_url(registry, model_name, kind="savedmodel"))

    assert missing_version.status_code == 404
    assert "'latest'" in missing_version.json()["detail"]
    assert missing_kind.status_code == 404
    assert "it has: tflite" in missing_kind.json()["detail"]


def test_alias_moves_and_is_removed(registry, model_name, uploaded, tmp_path):
    registry.upload(model_name, fake_tflite(tmp_path / "v2.tflite")).raise_for_status()
    alias_url = registry.api(f"/models/{model_name}/aliases/production")

    assert registry.http.put(alias_url, json={"version": 1}).json()["version"] == 1
    assert registry.http.put(alias_url, json={"version": 2}).json()["version"] == 2
    assert registry.version(model_name, "production")["version"] == 2
    assert registry.http.get(registry.api(f"/models/{model_name}")).json()["aliases"] == {
        "production": 2
    }
    assert registry.http.delete(alias_url).status_code == 204
    assert (
        registry.http.get(registry.api(f"/models/{model_name}/versions/production")).status_code
        == 404
    )


def test_alias_to_a_missing_version_or_with_a_bad_body_is_refused(registry, model_name, uploaded):
    alias_url = registry.api(f"/models/{model_name}/aliases/production")

    assert registry.http.put(alias_url, json={"version": 9}).status_code == 404
    assert registry.http.put(alias_url, json={"version": "one"}).status_code == 422
    assert registry.http.put(alias_url, data="not json").status_code == 422


def test_models_are_created_listed_and_searched(registry, model_name):
    created = registry.http.post(
        registry.api("/models"),
        json={"name": model_name, "description": "digits", "tags": {"team": "vision"}},
    )
    duplicate = registry.http.post(registry.api("/models"), json={"name": model_name})
    found = registry.http.get(
        registry.api("/models"), params={"q": model_name, "tag": "team:vision"}
    )
    other_tag = registry.http.get(
        registry.api("/models"), params={"q": model_name, "tag": "team:nlp"}
    )

    assert created.status_code == 201
    assert duplicate.status_code == 409
    assert [m["name"] for m in found.json()["models"]] == [model_name]
    assert other_tag.json()["models"] == []


def test_health_and_readiness_answer(registry):
    assert requests.get(f"{registry.url}/healthz").json() == {"status": "ok"}
    ready = requests.get(f"{registry.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["storage"] == "ok"
