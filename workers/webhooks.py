"""Sending webhook deliveries: one attempt per task, each its own claim, send and record.

The attempt is sent outside any transaction, to the addresses its host resolves to at that
moment once they are checked (`webhooks.checked_addresses`): the connection goes to a checked
address (the next one if it refuses), the Host header and TLS server name stay the URL's, so a
DNS answer that changes after the check cannot send it elsewhere. Redirects are not followed.
"""

from __future__ import annotations

import logging
import time

import httpx
from celery.exceptions import SoftTimeLimitExceeded

from registry import __version__
from registry.domain import webhooks
from registry.domain.webhooks.addresses import RESOLVE_TIMEOUT_SECONDS
from registry.errors import UnsafeAddress
from registry.services import Services
from registry.settings import Settings

log = logging.getLogger(__name__)

USER_AGENT = f"tf-model-registry-webhooks/{__version__}"


def attempt_time_limit(settings: Settings) -> float:
    """The bound of a whole attempt (the task's soft time limit): resolving, then connecting,
    sending and reading the answer's head, each within the per-call timeout."""
    return RESOLVE_TIMEOUT_SECONDS + 2 * settings.webhook_timeout_seconds


def lease_seconds(settings: Settings) -> float:
    """Longer than any attempt can take, so no second attempt starts while one runs."""
    return attempt_time_limit(settings) + 60


def send_attempt(attempt: webhooks.Attempt, *, timeout: float, allow_private: bool) -> int:
    """POST the attempt, signed, to the checked addresses of its URL's host; the answer's
    status.

    Raises UnsafeAddress when the host resolves to an address not allowed, httpx.HTTPError when
    no answer came within `timeout` seconds per connect, write and read.
    """
    target = webhooks.parse_url(attempt.url)
    *others, last = webhooks.checked_addresses(target, allow_private=allow_private)
    body = attempt.body
    headers = {
        **webhooks.signed_headers(attempt.secret, attempt.message_id, int(time.time()), body),
        "host": target.host_header,
        "user-agent": USER_AGENT,
    }
    # The certificate is checked against the URL's host name, sent as the TLS server name.
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    # trust_env off: a proxy from the environment would connect wherever it resolves the host.
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for address in [*others, last]:
            pinned = httpx.URL(target.url).copy_with(host=str(address))
            try:
                with client.stream(
                    "POST", pinned, content=body.encode(), headers=headers, extensions=extensions
                ) as response:
                    return response.status_code  # the answer's body is not needed, nor read
            except httpx.ConnectError:
                if address == last:
                    raise


def deliver(svc: Services, delivery_id: int) -> str:
    """Make the delivery's next attempt if it is due; its status afterwards (`not due` when
    another message of it came first, or it is delivered already)."""
    settings = svc.settings
    with svc.sessions.begin() as session:
        attempt = webhooks.claim_attempt(session, delivery_id, lease_seconds(settings))
    if attempt is None:
        return "not due"
    status_code, error = None, ""
    try:
        status_code = send_attempt(
            attempt,
            timeout=settings.webhook_timeout_seconds,
            allow_private=settings.webhook_allow_private,
        )
        if not 200 <= status_code < 300:
            error = f"the endpoint answered {status_code}"
    except UnsafeAddress as refused:
        error = str(refused)
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}".rstrip(": ")
    except SoftTimeLimitExceeded:
        error = f"no answer within {attempt_time_limit(settings):.0f} s"
    with svc.sessions.begin() as session:
        status = webhooks.record_attempt(
            session, attempt, status_code, error, max_attempts=settings.webhook_max_attempts
        )
    log.info(
        "webhook delivery %s attempt %s: %s",
        delivery_id,
        attempt.number,
        status,
        extra={
            "delivery_id": delivery_id,
            "attempt": attempt.number,
            "status_code": status_code,
            "error": error or None,
            "outcome": status,
        },
    )
    return status
