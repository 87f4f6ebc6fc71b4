"""Webhook signing and address rules, without a server: the Standard Webhooks test vector,
and which addresses count as public."""

from __future__ import annotations

import ipaddress

import pytest

from registry.domain.webhooks import addresses, signing
from registry.errors import InvalidRequest, UnsafeAddress


def test_signature_matches_the_standard_webhooks_reference_vector():
    # From the specification's reference library (libraries/python/tests, test_sign_function).
    signed = signing.signature(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        '{"test": 2432232314}',
    )

    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_new_secrets_are_in_the_specifications_form_and_differ():
    first, second = signing.new_secret(), signing.new_secret()

    assert first.startswith("whsec_") and first != second
    assert len(signing.signing_key(first)) == signing.NEW_KEY_BYTES


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("ff0e::1", False),
    ],
)
def test_only_addresses_on_the_public_internet_are_public(address, public):
    assert addresses.is_public(ipaddress.ip_address(address)) is public


def test_a_host_name_resolving_to_loopback_is_refused_unless_private_addresses_are_allowed():
    target = addresses.parse_url("http://localhost:8080/hooks")

    with pytest.raises(UnsafeAddress, match="not a public address"):
        addresses.checked_addresses(target, allow_private=False)
    assert all(a.is_loopback for a in addresses.checked_addresses(target, allow_private=True))


@pytest.mark.parametrize(
    ("url", "host_header"),
    [
        ("https://hooks.example.com/a?b=1", "hooks.example.com"),
        ("http://hooks.example.com:8080/a", "hooks.example.com:8080"),
        ("http://[2606:4700::1111]:81/", "[2606:4700::1111]:81"),
    ],
)
def test_parsed_urls_keep_the_host_header_they_were_given(url, host_header):
    assert addresses.parse_url(url).host_header == host_header


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "http:///nohost", "https://a:b@example.com/", "http://x:99999/"]
)
def test_urls_that_are_no_web_endpoint_are_refused(url):
    with pytest.raises(InvalidRequest):
        addresses.parse_url(url)
