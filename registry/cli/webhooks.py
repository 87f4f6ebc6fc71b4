"""`registry webhook add|list|remove|deliveries`: endpoints told about versions and aliases."""

from __future__ import annotations

import click

from registry.cli.connection import RegistryGroup, Remote, remote_command
from registry.cli.main import main
from registry.vocabulary import WEBHOOK_EVENTS


@main.group(cls=RegistryGroup)
def webhook() -> None:
    """Endpoints the registry POSTs signed events to (admin token)."""


@remote_command(webhook, "add")
@click.argument("endpoint_url", metavar="URL")
@click.option(
    "--event",
    "events",
    type=click.Choice(WEBHOOK_EVENTS),
    multiple=True,
    required=True,
    help="An event to send (repeatable).",
)
@click.option(
    "--secret",
    help="whsec_ + base64 of 24-64 random bytes; without it the registry makes one.",
)
def add(remote: Remote, endpoint_url: str, events: tuple[str, ...], secret: str | None) -> None:
    """Register URL for the events; prints the signing secret, which is not shown again."""
    added = remote.client.add_webhook(endpoint_url, events, secret)
    remote.emit(
        added,
        lambda: [
            f"webhook {added['id']}: {added['url']} ({', '.join(added['events'])})",
            f"secret: {added['secret']}  (shown this once)",
        ],
    )


@remote_command(webhook, "list")
def list_webhooks(remote: Remote) -> None:
    """The endpoints and their events (never their secrets)."""
    listed = remote.client.webhooks()
    remote.emit(
        listed,
        lambda: (
            [f"{w['id']}  {w['url']}  {','.join(w['events'])}" for w in listed] or "no webhooks"
        ),
    )


@remote_command(webhook, "remove")
@click.argument("webhook_id", metavar="ID", type=int)
def remove(remote: Remote, webhook_id: int) -> None:
    """Stop sending to webhook ID; its waiting deliveries are cancelled."""
    remote.client.remove_webhook(webhook_id)
    remote.emit({"id": webhook_id, "removed": True}, lambda: f"removed webhook {webhook_id}")


@remote_command(webhook, "deliveries")
@click.argument("webhook_id", metavar="ID", type=int)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def deliveries(remote: Remote, webhook_id: int, limit: int) -> None:
    """The latest deliveries to webhook ID: event, status, attempts, last answer or error."""
    found = remote.client.webhook_deliveries(webhook_id, limit)
    remote.emit(found, lambda: [delivery_line(d) for d in found] or "no deliveries")


def delivery_line(delivery: dict) -> str:
    answer = delivery["status_code"] if delivery["status_code"] is not None else "-"
    line = (
        f"{delivery['id']}  {delivery['created_at']}  {delivery['event']}  {delivery['status']}"
        f"  attempts={delivery['attempts']}  answer={answer}"
    )
    return f"{line}  {delivery['last_error']}" if delivery["last_error"] else line
