"""Response bodies to disk: artifacts checked against their sha256, exports unpacked safely."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

from registry.archives.directories import extract_archive
from registry.archives.limits import ArchiveLimits
from registry.archives.streams import ChunkReader
from registry.client.errors import TransferFailed, transport_failure
from registry.client.uploads import CHUNK, Progress


def announced_sha256(response: httpx.Response) -> dict[str, str]:
    """The sha256 hex digests the response announces: its ETag and its Repr-Digest."""
    found = {}
    etag = response.headers.get("ETag", "").removeprefix("W/").strip('"')
    if len(etag) == 64:
        found["ETag"] = etag.lower()
    for item in response.headers.get("Repr-Digest", "").split(","):
        algorithm, _, value = item.strip().partition("=")
        if algorithm.lower() == "sha-256" and value.startswith(":") and value.endswith(":"):
            with contextlib.suppress(binascii.Error, ValueError):
                found["Repr-Digest"] = base64.b64decode(value[1:-1], validate=True).hex()
    return found


def save_verified(
    response: httpx.Response,
    dest: Path,
    sha256: str,
    size: int,
    progress: Progress | None = None,
) -> None:
    """Stream the body into a temporary file next to `dest`; rename it there only if it is
    exactly `size` bytes with this sha256. Otherwise nothing is left behind, and TransferFailed.
    """
    for header, digest in announced_sha256(response).items():
        if digest != sha256:
            raise TransferFailed(
                f"the registry lists sha256 {sha256} for {dest.name} but its {header} says "
                f"{digest}; nothing was written"
            )
    fd, temp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    temp = Path(temp_name)
    try:
        digest, done = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            try:
                for chunk in response.iter_bytes(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, size)
            except httpx.RequestError as error:
                raise TransferFailed(
                    f"the download of {dest.name} broke off after {done} of {size} bytes "
                    f"({transport_failure(error)}); the registry stops sending when stored bytes "
                    "fail their sha256 check. Nothing was written"
                ) from error
        if done != size or digest.hexdigest() != sha256:
            raise TransferFailed(
                f"the download of {dest.name} is {done} bytes with sha256 {digest.hexdigest()}, "
                f"but the registry lists {size} bytes with sha256 {sha256}; nothing was written"
            )
        os.replace(temp, dest)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _received(response: httpx.Response, progress: Progress | None) -> Iterator[bytes]:
    done = 0
    try:
        for chunk in response.iter_bytes(CHUNK):
            done += len(chunk)
            if progress is not None:
                progress(done, None)
            yield chunk
    except httpx.RequestError as error:
        raise TransferFailed(
            f"the export broke off after {done} bytes ({transport_failure(error)}); what was "
            "unpacked so far has been removed"
        ) from error


def extract_response(
    response: httpx.Response,
    dest: Path,
    limits: ArchiveLimits,
    progress: Progress | None = None,
) -> None:
    """Unpack a tar.gz body into `dest` as it arrives, with every archive check; on any
    failure (including a body that breaks off) what was unpacked is removed again."""
    extract_archive(lambda: ChunkReader(_received(response, progress)), "tar.gz", dest, limits)
