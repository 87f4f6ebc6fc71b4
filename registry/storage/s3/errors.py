"""S3 and connection failures turned into StorageError / BlobNotFound a person can act on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from ..base import BlobNotFound, StorageError

_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}


def storage_error(exc: BaseException, op: str, key: str) -> StorageError:
    """A StorageError (BlobNotFound for a missing key) with a message a person can act on."""
    what = f"S3 {op}" + (f" of {key!r}" if key else "")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = err.get("Message") or ""
        if code in _NOT_FOUND_CODES or (status == 404 and code not in {"NoSuchBucket"}):
            return BlobNotFound(f"{what}: no such object")
        detail = " ".join(str(p) for p in (status, code, message) if p)
        return StorageError(f"{what} failed: {detail}")
    if isinstance(exc, EndpointConnectionError | BotoConnectionError | ConnectTimeoutError):
        return StorageError(f"{what} failed: cannot reach the S3 endpoint ({exc})")
    if isinstance(exc, ReadTimeoutError):
        return StorageError(f"{what} failed: the S3 endpoint timed out ({exc})")
    return StorageError(f"{what} failed: {exc}")


@contextlib.contextmanager
def storage_errors(op: str, key: str = "") -> Iterator[None]:
    """Raise botocore failures of the block as StorageError (see `storage_error`)."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise storage_error(exc, op, key) from exc


def is_missing(exc: ClientError) -> bool:
    err = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(err.get("Code", "")) in _NOT_FOUND_CODES or status == 404
