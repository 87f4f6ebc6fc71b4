"""Webhook endpoints over HTTP: admins register them (the secret shown once), list and remove
them; a URL into a private network is refused; deliveries are listed per endpoint."""

from __future__ import annotations

import pytest

from tests.conftest import bearer_session

# A public address, given as a literal so that registering it needs no DNS.
PUBLIC_URL = "https://93.184.215.14/hooks"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def register(registry, **body):
    return registry.http.post(registry.api("/webhooks"), json=body)


def test_endpoint_is_registered_with_its_secret_shown_once_then_listed_and_removed(registry):
    made = register(registry, url=PUBLIC_URL, events=["version.ready", "alias.moved"])
    given = register(registry, url=PUBLIC_URL, events=["version.failed"], secret=SECRET)
    listed = registry.http.get(registry.api("/webhooks")).json()["webhooks"]
    removed = registry.http.delete(registry.api(f"/webhooks/{made.json()['id']}"))
    again = registry.http.delete(registry.api(f"/webhooks/{made.json()['id']}"))
    after = registry.http.get(registry.api("/webhooks")).json()["webhooks"]
    registry.http.delete(registry.api(f"/webhooks/{given.json()['id']}"))

    assert made.status_code == 201, made.text
    assert made.json()["secret"].startswith("whsec_")
    assert made.json()["events"] == ["alias.moved", "version.ready"]
    assert given.json()["secret"] == SECRET
    ids = [endpoint["id"] for endpoint in listed]
    assert made.json()["id"] in ids and given.json()["id"] in ids
    assert all("secret" not in endpoint for endpoint in listed)
    assert SECRET not in str(listed) and made.json()["secret"] not in str(listed)
    assert removed.status_code == 204
    assert again.status_code == 404
    assert made.json()["id"] not in [endpoint["id"] for endpoint in after]
    audited = registry.audit_events(action="webhook.*")
    assert {"webhook.created", "webhook.removed"} <= {event["action"] for event in audited}
    assert SECRET not in str(audited)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://[::1]/hooks",
        "http://10.1.2.3/hooks",
        "http://192.168.0.7/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://0.0.0.0/hooks",
    ],
)
def test_endpoint_on_a_private_address_is_refused(registry, url):
    refused = register(registry, url=url, events=["version.ready"])

    assert refused.status_code == 422, refused.text
    assert refused.json()["title"] == "Webhook address refused"
    assert "not a public address" in refused.json()["detail"]
    assert "REGISTRY_WEBHOOK_ALLOW_PRIVATE" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"url": PUBLIC_URL, "events": ["model.deleted"]}, "events"),
        ({"url": PUBLIC_URL, "events": []}, "events"),
        ({"url": "ftp://93.184.215.14/x", "events": ["version.ready"]}, "url"),
        ({"url": "https://user:pw@93.184.215.14/", "events": ["version.ready"]}, "credentials"),
        ({"url": PUBLIC_URL, "events": ["version.ready"], "secret": "hunter2"}, "whsec_"),
        ({"url": PUBLIC_URL, "events": ["version.ready"], "secret": "whsec_c2hvcnQ="}, "24"),
    ],
)
def test_endpoint_that_cannot_be_used_is_refused_naming_what_to_change(registry, body, says):
    refused = register(registry, **body)

    assert refused.status_code == 422, refused.text
    assert says in refused.json()["detail"]


def test_webhooks_need_an_admin_token(registry):
    writer = bearer_session(registry.issue_token(f"writer-{id(registry)}-wh", "write"))

    posted = writer.post(registry.api("/webhooks"), json={"url": PUBLIC_URL, "events": []})
    listed = writer.get(registry.api("/webhooks"))

    assert posted.status_code == listed.status_code == 403


def test_deliveries_of_an_unknown_endpoint_are_not_found(registry):
    missing = registry.http.get(registry.api("/webhooks/999999/deliveries"))

    assert missing.status_code == 404
    assert missing.json()["title"] == "Webhook not found"
