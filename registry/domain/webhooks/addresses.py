"""Where a webhook may be sent: http(s) URLs whose host resolves only to public addresses.

A registry user must not be able to make the registry call into its own network (server-side
request forgery): an endpoint on a loopback, private, link-local, shared, multicast or
reserved address is refused unless `REGISTRY_WEBHOOK_ALLOW_PRIVATE` is on. The check runs when
an endpoint is registered and again before every attempt, on the addresses the host resolves
to then; the attempt connects to the address that was checked, so a DNS answer that changes in
between (rebinding) cannot send it elsewhere.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from registry.errors import InvalidRequest, UnsafeAddress

SCHEMES = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048
# getaddrinfo takes no timeout of its own; a lookup that has not answered by then is refused.
RESOLVE_TIMEOUT_SECONDS = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart: what to connect to, and what to call the host."""

    url: str
    scheme: str
    host: str
    port: int

    @property
    def host_header(self) -> str:
        default = SCHEMES[self.scheme] == self.port
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if default else f"{host}:{self.port}"


def parse_url(url: str) -> Target:
    """The URL as a Target, or InvalidRequest saying what is wrong with it."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidRequest(f"url: longer than {MAX_URL_LENGTH} characters")
    try:
        parts: SplitResult = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise InvalidRequest(f"url: {url!r} is not a URL: {error}") from error
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise InvalidRequest(f"url: must be an http:// or https:// URL with a host, got {url!r}")
    if parts.username is not None or parts.password is not None:
        raise InvalidRequest("url: must not hold credentials; the signature authenticates us")
    if parts.fragment:
        raise InvalidRequest("url: must not have a #fragment")
    return Target(url.strip(), parts.scheme, parts.hostname, port or SCHEMES[parts.scheme])


def is_public(address: IPAddress) -> bool:
    """True for an address on the public internet; False for loopback, private, link-local
    (cloud metadata), shared, unspecified, multicast and reserved ones."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int, timeout: float = RESOLVE_TIMEOUT_SECONDS) -> list[IPAddress]:
    """Every address `host` resolves to now, in the resolver's order; UnsafeAddress when it
    resolves to none within `timeout` seconds."""
    found: list[IPAddress] = []
    failure: list[Exception] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, ValueError) as error:  # ValueError: a name IDNA cannot encode
            failure.append(error)
            return
        for *_, sockaddr in infos:
            # A scoped IPv6 address comes as `fe80::1%eth0`: the scope is not part of it.
            address = ipaddress.ip_address(sockaddr[0].partition("%")[0])
            if address not in found:
                found.append(address)

    # A daemon thread: a lookup stuck past the bound is abandoned, not waited for.
    thread = threading.Thread(target=lookup, name="webhook-resolve", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise UnsafeAddress(f"{host!r} did not resolve within {timeout:.0f} s")
    if failure or not found:
        reason = failure[0] if failure else "no addresses"
        raise UnsafeAddress(f"{host!r} does not resolve: {reason}")
    return found


def checked_addresses(target: Target, *, allow_private: bool) -> list[IPAddress]:
    """The addresses to connect to for `target`, in the resolver's order, once every one of
    them is public (or non-public ones are allowed). UnsafeAddress otherwise."""
    addresses = resolve(target.host, target.port)
    if not allow_private:
        refused = [str(address) for address in addresses if not is_public(address)]
        if refused:
            raise UnsafeAddress(
                f"{target.host!r} resolves to {', '.join(refused)}, which is not a public "
                "address: the registry does not call into private networks (an operator can "
                "allow it with REGISTRY_WEBHOOK_ALLOW_PRIVATE=true)"
            )
    return addresses
