"""One delivery attempt as a worker sends it, to a real receiver on loopback: the address is
checked when it is sent, not only when the endpoint was registered."""

from __future__ import annotations

import socket

import httpx
import pytest

from registry.domain import webhooks
from registry.errors import UnsafeAddress
from tests.webhook_receiver import running_receiver, signature_verifies
from workers.webhooks import send_attempt

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def attempt_to(url: str) -> webhooks.Attempt:
    body = '{"id":"msg_1","type":"alias.moved","timestamp":"2026-11-30T08:00:00.000000Z","data":{}}'
    return webhooks.Attempt(
        delivery_id=1, number=1, url=url, secret=SECRET, message_id="msg_1", body=body
    )


def test_a_host_name_resolving_to_loopback_is_refused_at_delivery_time():
    with running_receiver() as receiver:
        url = receiver.url.replace("127.0.0.1", "localhost")
        with pytest.raises(UnsafeAddress, match="localhost.*not a public address"):
            send_attempt(attempt_to(url), timeout=5, allow_private=False)

        assert receiver.received == []


def test_an_allowed_attempt_reaches_the_checked_address_with_its_own_host_header():
    with running_receiver() as receiver:
        url = receiver.url.replace("127.0.0.1", "localhost")
        status = send_attempt(attempt_to(url), timeout=5, allow_private=True)
        [received] = receiver.received

    assert status == 204
    assert received.headers["host"] == url.split("/")[2]
    assert received.body == attempt_to(url).body.encode()
    assert signature_verifies(SECRET, received)


def test_a_redirect_is_not_followed():
    with running_receiver() as receiver, running_receiver() as elsewhere:
        receiver.answers.append(307)
        receiver.location = elsewhere.url
        status = send_attempt(attempt_to(receiver.url), timeout=5, allow_private=True)

        assert status == 307
        assert len(receiver.received) == 1 and elsewhere.received == []


def test_a_receiver_that_never_answers_fails_the_attempt_within_its_timeout():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hooks"
        with pytest.raises(httpx.TimeoutException):
            send_attempt(attempt_to(url), timeout=0.5, allow_private=True)
