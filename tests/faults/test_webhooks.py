"""A webhook delivery recorded while the broker is down is not lost: it arrives once the broker
is back, sent by the workers' sweep from the database's outbox row."""

from __future__ import annotations

from tests.faults.services import stopped
from tests.files import fake_tflite
from tests.webhook_receiver import running_receiver, settled_deliveries, signature_verifies


def test_alias_moved_while_the_broker_is_down_is_delivered_when_it_is_back(
    fault_stack, model_name, tmp_path
):
    registry = fault_stack.registry
    uploaded = registry.upload(model_name, fake_tflite(tmp_path / "model.tflite"))
    assert uploaded.status_code == 202, uploaded.text
    with running_receiver() as receiver:
        created = registry.http.post(
            registry.api("/webhooks"), json={"url": receiver.url, "events": ["alias.moved"]}
        )
        assert created.status_code == 201, created.text
        endpoint = created.json()
        deliveries = registry.api(f"/webhooks/{endpoint['id']}/deliveries")
        try:
            with stopped(fault_stack.redis):
                # Forced: the made-up model's conversions may fail; the move is what counts.
                moved = registry.http.put(
                    registry.api(f"/models/{model_name}/aliases/production"),
                    json={"version": 1, "force": True},
                )
                during = registry.http.get(deliveries).json()["deliveries"]
            [request] = receiver.wait_for(
                lambda payload: payload["data"]["model"] == model_name, timeout=60
            )
            after = settled_deliveries(registry, endpoint["id"])
        finally:
            registry.http.delete(registry.api(f"/webhooks/{endpoint['id']}"))

    assert moved.status_code == 200, moved.text
    assert [(d["event"], d["status"], d["attempts"]) for d in during] == [
        ("alias.moved", "pending", 0)
    ]
    assert request.payload["type"] == "alias.moved"
    assert request.payload["data"]["alias"] == "production"
    assert signature_verifies(endpoint["secret"], request)
    assert [(d["status"], d["attempts"]) for d in after] == [("delivered", 1)]
