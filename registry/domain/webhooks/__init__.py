"""Webhooks: telling registered endpoints about versions settled and aliases moved.

- `endpoints`: admins register, list and remove endpoints (`register_endpoint`,
  `list_endpoints`, `get_endpoint`, `remove_endpoint`; `EVENTS` they can ask for);
- `outbox`: deliveries recorded with the change they tell about (`queue_deliveries`, the audit
  log's observer), sent after commit or by the sweep (`take_deliveries_to_send`,
  `due_deliveries`, `mark_dispatched`), attempted under a lease (`claim_attempt`,
  `record_attempt`) and listed (`list_deliveries`);
- `signing`: the Standard Webhooks signature (`signed_headers`, `new_secret`);
- `addresses`: which URLs may be called (`parse_url`, `checked_addresses`, `is_public`).

Sending itself (HTTP) is the workers' (`workers.webhooks`); this package knows no HTTP.
"""

from registry.domain.webhooks.addresses import Target, checked_addresses, is_public, parse_url
from registry.domain.webhooks.endpoints import (
    EVENTS,
    IssuedEndpoint,
    get_endpoint,
    list_endpoints,
    register_endpoint,
    remove_endpoint,
)
from registry.domain.webhooks.outbox import (
    Attempt,
    claim_attempt,
    due_deliveries,
    list_deliveries,
    mark_dispatched,
    queue_deliveries,
    record_attempt,
    take_deliveries_to_send,
)
from registry.domain.webhooks.signing import new_secret, signed_headers

__all__ = [
    "EVENTS",
    "Attempt",
    "IssuedEndpoint",
    "Target",
    "checked_addresses",
    "claim_attempt",
    "due_deliveries",
    "get_endpoint",
    "is_public",
    "list_deliveries",
    "list_endpoints",
    "mark_dispatched",
    "new_secret",
    "parse_url",
    "queue_deliveries",
    "record_attempt",
    "register_endpoint",
    "remove_endpoint",
    "signed_headers",
    "take_deliveries_to_send",
]
