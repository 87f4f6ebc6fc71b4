"""Webhooks end to end: a receiver on loopback is told, with signed deliveries sent by the real
worker, about versions settling and aliases moving, and gets a delivery again after a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.webhook_receiver import (
    Receiver,
    running_receiver,
    settled_deliveries,
    signature_verifies,
)
from tests.workers.conftest import wait_for_version
from tests.workers.uploads import upload_fields, upload_file_for


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


def register(registry, receiver: Receiver, *events: str) -> dict:
    """An endpoint for the receiver, removed again when the test ends."""
    response = registry.http.post(
        registry.api("/webhooks"), json={"url": receiver.url, "events": list(events)}
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def endpoints(converting_registry) -> Iterator[list[dict]]:
    registered: list[dict] = []
    yield registered
    for endpoint in registered:
        converting_registry.http.delete(converting_registry.api(f"/webhooks/{endpoint['id']}"))


def upload_ready_version(registry, model: str, samples, tmp_path) -> int:
    sample, path = upload_file_for("frozen", samples, tmp_path)
    response = registry.upload(model, path, **upload_fields(sample))
    assert response.status_code == 202, response.text
    number = response.json()["version"]
    assert wait_for_version(registry, model, number)["status"] == "ready"
    return number


def about(model: str, event: str):
    return lambda payload: payload["type"] == event and payload["data"]["model"] == model


def test_conversion_and_alias_moves_reach_the_receiver_signed(
    converting_registry, worker, receiver, endpoints, samples, model_name, tmp_path
):
    registry = converting_registry
    endpoint = register(registry, receiver, "version.ready", "alias.moved")
    endpoints.append(endpoint)

    first = upload_ready_version(registry, model_name, samples, tmp_path)
    second = upload_ready_version(registry, model_name, samples, tmp_path)
    for number in (first, second):
        moved = registry.http.put(
            registry.api(f"/models/{model_name}/aliases/production"), json={"version": number}
        )
        assert moved.status_code == 200, moved.text
    ready = receiver.wait_for(about(model_name, "version.ready"), count=2)
    moves = receiver.wait_for(about(model_name, "alias.moved"), count=2)

    for request in ready + moves:
        assert signature_verifies(endpoint["secret"], request), request
        assert request.headers["webhook-id"] == request.payload["id"]
        assert request.headers["content-type"] == "application/json"
    assert sorted(r.payload["data"]["version"] for r in ready) == [first, second]
    kinds = {artifact["kind"] for artifact in ready[0].payload["data"]["artifacts"]}
    assert {"frozen_pb", "savedmodel"} <= kinds
    moved_to = [
        (
            r.payload["data"]["alias"],
            r.payload["data"]["previous_version"],
            r.payload["data"]["version"],
        )
        for r in sorted(moves, key=lambda r: r.payload["timestamp"])
    ]
    assert moved_to == [("production", None, first), ("production", first, second)]
    logged = [
        d
        for d in settled_deliveries(registry, endpoint["id"])
        if d["payload"]["data"]["model"] == model_name
    ]
    assert {(d["status"], d["attempts"], d["status_code"]) for d in logged} == {
        ("delivered", 1, 204)
    }
    assert len(logged) == 4
    assert "secret" not in registry.http.get(registry.api("/webhooks")).json()["webhooks"][0]


def test_delivery_answered_500_is_sent_again_with_the_same_id_and_body(
    converting_registry, worker, receiver, endpoints, samples, model_name, tmp_path
):
    registry = converting_registry
    number = upload_ready_version(registry, model_name, samples, tmp_path)
    endpoint = register(registry, receiver, "alias.moved")
    endpoints.append(endpoint)
    receiver.answers.append(500)

    registry.http.put(
        registry.api(f"/models/{model_name}/aliases/staging"), json={"version": number}
    ).raise_for_status()
    failed, retried = receiver.wait_for(about(model_name, "alias.moved"), count=2)

    assert failed.headers["webhook-id"] == retried.headers["webhook-id"]
    assert failed.body == retried.body
    assert signature_verifies(endpoint["secret"], failed)
    assert signature_verifies(endpoint["secret"], retried)
    [logged] = settled_deliveries(registry, endpoint["id"])
    assert (logged["status"], logged["attempts"], logged["status_code"]) == ("delivered", 2, 204)
    assert logged["last_error"] == ""
