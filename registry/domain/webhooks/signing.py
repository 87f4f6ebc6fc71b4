"""Signing deliveries as the Standard Webhooks specification says (symmetric scheme, `v1`).

The secret is `whsec_` + base64 of 24 to 64 random bytes; the key is those bytes. Each attempt
is signed over `webhook-id.webhook-timestamp.body` with HMAC-SHA256, and sent with the headers
`webhook-id`, `webhook-timestamp` (Unix seconds of the attempt) and
`webhook-signature: v1,<base64 of the MAC>`. Receivers verify with any Standard Webhooks
library (`standardwebhooks.Webhook(secret).verify(body, headers)`) or a few lines of their own
(docs/webhooks.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from registry.errors import InvalidRequest

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
NEW_KEY_BYTES = 32


def new_secret() -> str:
    """A fresh secret in the specification's form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(NEW_KEY_BYTES)).decode()


def signing_key(secret: str) -> bytes:
    """The key bytes of a `whsec_` secret; InvalidRequest if it is not one."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidRequest(
            f"secret: must be {SECRET_PREFIX} followed by base64 ({error}); leave it out and "
            "the registry makes one"
        ) from error
    if not secret.startswith(SECRET_PREFIX) or not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise InvalidRequest(
            f"secret: must be {SECRET_PREFIX} followed by the base64 of {MIN_KEY_BYTES} to "
            f"{MAX_KEY_BYTES} random bytes; leave it out and the registry makes one"
        )
    return key


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` value of one attempt."""
    signed = f"{message_id}.{timestamp}.{body}".encode()
    mac = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(mac).decode()}"


def signed_headers(secret: str, message_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The headers of one attempt: the specification's three, and the body's media type."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }
