"""A webhook receiver on loopback for tests: records every POST exactly as it came, answers
what the test says, and checks signatures by the Standard Webhooks scheme on its own (not with
the registry's signing code)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    """One request as it arrived: its headers (lower-cased names) and body bytes."""

    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


def standard_signature(secret: str, headers: dict[str, str], body: bytes) -> str:
    """`v1,<base64>` of HMAC-SHA256 over `id.timestamp.body`, keyed with the base64-decoded
    part of the `whsec_` secret: the specification's scheme, written out here on its own."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signature_verifies(secret: str, received: Received) -> bool:
    expected = standard_signature(secret, received.headers, received.body)
    offered = received.headers["webhook-signature"].split(" ")
    return any(hmac.compare_digest(expected, signature) for signature in offered)


class Receiver:
    """Answers 204, or each status in `answers` first (one per request, in order); a redirect
    points at `location`."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[int] = []
        self.location = ""
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    receiver.received.append(Received(headers, body))
                    status = receiver.answers.pop(0) if receiver.answers else 204
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("location", receiver.location)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"

    def of(self, matches: Callable[[dict], bool]) -> list[Received]:
        with self._lock:
            return [request for request in self.received if matches(request.payload)]

    def wait_for(
        self, matches: Callable[[dict], bool], count: int = 1, timeout: float = 60
    ) -> list[Received]:
        """The requests whose payload `matches`, once there are `count` of them."""
        deadline = time.monotonic() + timeout
        while len(found := self.of(matches)) < count:
            assert time.monotonic() < deadline, f"{len(found)} of {count} deliveries came"
            time.sleep(0.1)
        return found


def settled_deliveries(registry, webhook_id: int, timeout: float = 30) -> list[dict]:
    """The endpoint's delivery log once nothing in it is pending: a worker records an attempt
    only after the receiver has answered it."""
    deadline = time.monotonic() + timeout
    while True:
        response = registry.http.get(registry.api(f"/webhooks/{webhook_id}/deliveries"))
        response.raise_for_status()
        logged = response.json()["deliveries"]
        if all(delivery["status"] != "pending" for delivery in logged):
            return logged
        assert time.monotonic() < deadline, logged
        time.sleep(0.1)


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
