"""`registry webhook add|list|remove|deliveries` against a live registry, as an admin types them."""

from __future__ import annotations

import json

from tests.cli.invoke import registry_cli

PUBLIC_URL = "https://93.184.215.14/hooks"


def test_webhook_is_added_with_its_secret_printed_once_listed_and_removed(registry):
    added = registry_cli(
        registry, "webhook", "add", PUBLIC_URL, "--event", "version.ready", "--event", "alias.moved"
    )
    webhook_id = added.output.split()[1].rstrip(":")
    secret = added.output.split("secret: ")[1].split()[0]
    listed = json.loads(registry_cli(registry, "webhook", "list", "--json").output)
    deliveries = registry_cli(registry, "webhook", "deliveries", webhook_id)
    removed = registry_cli(registry, "webhook", "remove", webhook_id)
    again = registry_cli(registry, "webhook", "remove", webhook_id)

    assert added.exit_code == 0, added.output
    assert secret.startswith("whsec_") and "shown this once" in added.output
    [mine] = [w for w in listed if str(w["id"]) == webhook_id]
    assert mine["events"] == ["alias.moved", "version.ready"]
    assert secret not in json.dumps(listed)
    assert deliveries.exit_code == 0 and "no deliveries" in deliveries.output
    assert removed.exit_code == 0 and f"removed webhook {webhook_id}" in removed.output
    assert again.exit_code == 2, again.output


def test_webhook_on_a_private_address_is_refused_saying_how_to_allow_it(registry):
    refused = registry_cli(
        registry, "webhook", "add", "http://127.0.0.1:9/", "--event", "version.ready"
    )

    assert refused.exit_code != 0
    assert "REGISTRY_WEBHOOK_ALLOW_PRIVATE" in refused.output
