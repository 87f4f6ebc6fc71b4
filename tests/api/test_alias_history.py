"""An alias's history from the audit log, rolling it back, and what it named at a time."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.factories import IMAGE_ONLY, TWO_INPUTS, endpoint, signature, upload_described


def three_versions_moved_twice(registry, model: str, tmp_path) -> str:
    """production set to 1, moved to 2, then to 3; returns the alias's URL."""
    upload_described(registry, model, tmp_path, IMAGE_ONLY, IMAGE_ONLY, IMAGE_ONLY)
    alias_url = registry.api(f"/models/{model}/aliases/production")
    for number in (1, 2, 3):
        registry.http.put(alias_url, json={"version": number}).raise_for_status()
    return alias_url


def test_rollback_after_two_moves_lands_on_the_version_before_and_history_shows_each_move(
    registry, model_name, tmp_path
):
    alias_url = three_versions_moved_twice(registry, model_name, tmp_path)

    rolled = registry.http.post(f"{alias_url}/rollback")
    history = registry.http.get(f"{alias_url}/history")

    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["version"] == 2
    assert registry.version(model_name, "production")["version"] == 2
    assert history.status_code == 200
    changes = history.json()["changes"]
    assert [(c["action"], c["from_version"], c["to_version"]) for c in changes] == [
        ("alias.set", None, 1),
        ("alias.moved", 1, 2),
        ("alias.moved", 2, 3),
        ("alias.moved", 3, 2),
    ]
    assert [c["rollback"] for c in changes] == [False, False, False, True]
    assert all(c["actor"] == registry.token_name for c in changes)
    assert changes[1]["signature"] == {"verdict": "compatible", "breaking": 0, "changes": 0}
    assert history.json()["next_cursor"] is None


def test_history_pages_with_a_cursor_and_shows_refusals_and_removal(registry, model_name, tmp_path):
    retyped = signature([endpoint("image", "int8")], [endpoint("score")])
    upload_described(registry, model_name, tmp_path, IMAGE_ONLY, retyped)
    alias_url = registry.api(f"/models/{model_name}/aliases/staging")
    registry.http.put(alias_url, json={"version": 1}).raise_for_status()
    assert registry.http.put(alias_url, json={"version": 2}).status_code == 409
    registry.http.delete(alias_url).raise_for_status()

    pages, cursor = [], None
    while True:
        page = registry.http.get(
            f"{alias_url}/history", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
        ).json()
        pages.append([(c["action"], c["from_version"], c["to_version"]) for c in page["changes"]])
        cursor = page["next_cursor"]
        if not cursor:
            break

    assert pages == [
        [("alias.set", None, 1), ("alias.refused", 1, 2)],
        [("alias.removed", 1, None)],
    ]
    refused = registry.http.get(f"{alias_url}/history").json()["changes"][1]
    assert refused["breaking"][0]["reason"] == "input 'image': dtype changed from float32 to int8"


def test_rollback_goes_through_the_gates_and_force_passes_them(registry, model_name, tmp_path):
    upload_described(registry, model_name, tmp_path, IMAGE_ONLY, TWO_INPUTS)
    alias_url = registry.api(f"/models/{model_name}/aliases/production")
    registry.http.put(alias_url, json={"version": 2}).raise_for_status()
    # Clients of version 2 send `mask`, which version 1 does not take.
    registry.http.put(alias_url, json={"version": 1, "force": True}).raise_for_status()

    refused = registry.http.post(f"{alias_url}/rollback")
    forced = registry.http.post(f"{alias_url}/rollback", json={"force": True})

    assert refused.status_code == 409
    assert "input 'mask' added" in refused.json()["detail"]
    assert forced.status_code == 200 and forced.json()["version"] == 2
    [*_, last] = registry.audit_events(model=model_name, action="alias.moved")
    assert last["details"]["rollback"] is True and last["details"]["forced"] is True


def test_rollback_of_an_alias_set_once_is_refused_and_of_no_alias_not_found(
    registry, model_name, tmp_path
):
    upload_described(registry, model_name, tmp_path, IMAGE_ONLY)
    alias_url = registry.api(f"/models/{model_name}/aliases/production")
    registry.http.put(alias_url, json={"version": 1}).raise_for_status()

    nothing_before = registry.http.post(f"{alias_url}/rollback")
    no_alias = registry.http.post(registry.api(f"/models/{model_name}/aliases/canary/rollback"))
    no_history = registry.http.get(registry.api(f"/models/{model_name}/aliases/canary/history"))

    assert nothing_before.status_code == 409
    assert "no earlier version" in nothing_before.json()["detail"]
    assert no_alias.status_code == 404
    assert no_history.status_code == 404


def test_as_of_lookup_answers_the_version_the_alias_named_then(registry, model_name, tmp_path):
    alias_url = three_versions_moved_twice(registry, model_name, tmp_path)
    registry.http.delete(alias_url).raise_for_status()
    changes = registry.http.get(f"{alias_url}/history").json()["changes"]
    times = [c["time"] for c in changes]
    before_all = (datetime.fromisoformat(times[0]) - timedelta(seconds=1)).isoformat()
    version_url = registry.api(f"/models/{model_name}/versions/production")

    def named_at(at: str):
        return registry.http.get(version_url, params={"at": at})

    assert [named_at(at).json()["version"] for at in times[:3]] == [1, 2, 3]
    assert named_at(before_all).status_code == 404
    after_removal = named_at(times[3])
    assert after_removal.status_code == 404
    assert "named no version" in after_removal.json()["detail"]
    malformed = named_at("last tuesday")
    assert malformed.status_code == 400
    assert malformed.headers["Content-Type"] == "application/problem+json"
    assert "ISO 8601" in malformed.json()["detail"]
    by_number = registry.http.get(
        registry.api(f"/models/{model_name}/versions/2"), params={"at": times[0]}
    )
    assert by_number.status_code == 422
