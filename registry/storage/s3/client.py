"""The boto3 S3 client and the one policy bounding how long any S3 call may wait."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

# botocore's 'standard' retry mode sleeps rand(0, 1) * min(scale * 2**(i-1), 20) s after
# attempt i (scale 1 s for throttling, 50 ms otherwise), raised by up to 5 s more when the
# server sends x-amz-retry-after. These are the ceilings of that sleep.
_BACKOFF_CAP_SECONDS = 20
_RETRY_AFTER_EXTRA_SECONDS = 5


@dataclass(frozen=True)
class CallPolicy:
    """How long one S3 call may wait and how many times botocore tries it.

    botocore is the only thing that retries a call ('standard' mode: connection errors,
    timeouts, 5xx and throttling), `max_attempts` times in all, the first included. Each
    attempt waits at most `connect_timeout` to connect (per address the endpoint resolves
    to) and `read_timeout` for any socket read, and for sending the whole request body (one
    `sendall`): a 16 MiB part therefore needs at least 0.8 MiB/s with the 20 s default.

    `worst_case_seconds` is the longest one call can take when the endpoint stops answering:
    with the defaults 3 x (3 + 20) s of attempts + (1 + 5) + (2 + 5) s of backoff = 82 s.
    A response body that keeps moving is bounded by its size instead: `read_timeout` is the
    longest stall.
    """

    connect_timeout: float = 3.0
    read_timeout: float = 20.0
    max_attempts: int = 3

    @property
    def worst_case_seconds(self) -> float:
        backoff = sum(
            min(2**i, _BACKOFF_CAP_SECONDS) + _RETRY_AFTER_EXTRA_SECONDS
            for i in range(self.max_attempts - 1)
        )
        return self.max_attempts * (self.connect_timeout + self.read_timeout) + backoff

    def botocore_options(self) -> dict[str, Any]:
        return {
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "retries": {"total_max_attempts": self.max_attempts, "mode": "standard"},
        }


DEFAULT_CALL_POLICY = CallPolicy()


def make_client(
    endpoint_url: str = "",
    access_key: str = "",
    secret_key: str = "",
    region: str = "us-east-1",
    *,
    max_pool_connections: int = 16,
    connect_timeout: float = DEFAULT_CALL_POLICY.connect_timeout,
    read_timeout: float = DEFAULT_CALL_POLICY.read_timeout,
    max_attempts: int = DEFAULT_CALL_POLICY.max_attempts,
    sign_payload: bool | None = None,
):
    """A thread-safe boto3 S3 client tuned for this storage, its calls bounded by CallPolicy.

    `max_attempts` counts every try of a call, the first included (1: no retry).
    Path-style addressing for custom endpoints (SeaweedFS, MinIO); request checksums only
    where S3 requires them (third-party servers differ on the newer CRC trailers, and our
    own sha256 covers the content). `sign_payload` is whether SigV4 covers a sha256 of each
    request body: an extra hashing pass over every byte sent, worth it only where nothing
    else protects the bytes in transit. By default (None) it is on for plain http and off
    for https, where TLS does that job (UNSIGNED-PAYLOAD).
    """
    policy = CallPolicy(connect_timeout, read_timeout, max_attempts)
    if sign_payload is None:
        sign_payload = not (endpoint_url or "https://").lower().startswith("https://")
    s3_options: dict[str, Any] = {}
    if endpoint_url:
        s3_options["addressing_style"] = "path"
    s3_options["payload_signing_enabled"] = sign_payload
    config = Config(
        region_name=region or "us-east-1",
        signature_version="s3v4",
        s3=s3_options,
        max_pool_connections=max_pool_connections,
        tcp_keepalive=True,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        **policy.botocore_options(),
    )
    # A private session: the default one is shared module state and not thread-safe.
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint_url or None,
        aws_access_key_id=access_key or None,
        aws_secret_access_key=secret_key or None,
        config=config,
    )


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix")."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
    return parts.netloc, parts.path.strip("/")
